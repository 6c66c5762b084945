"""The base backend's normalization of every EmailMessage and Anymail attribute
(docs 1.3.1-1.3.3), send defaults, refused recipients and fail_silently.

Messages go through Anymail's test backend, whose ``anymail_send_params`` is the
normalized data every ESP payload receives; ``MessageData.from_message`` is used
directly where a test needs the parsed address objects."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.header import decode_header, make_header
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.utils import timezone
from django.utils.translation import gettext_lazy

from anymail.backends.base import MessageData
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
)
from anymail.message import AnymailMessage
from anymail.testing import get_connection

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def send(message):
    assert message.send() == 1
    return message.anymail_send_params


def sent_with(part):
    """The params of a message sent with the MIME ``part`` attached."""
    message = new_message()
    message.attach(part)
    return send(message)


def new_message(**kwargs):
    kwargs.setdefault("from_email", "from@example.com")
    kwargs.setdefault("to", ["to@example.com"])
    return AnymailMessage(subject="Subject", body="Body", **kwargs)


# --- addresses ------------------------------------------------------------------


def test_addresses_keep_display_names():
    params = send(
        new_message(
            from_email="From Name <from@example.com>",
            to=["To Name <to@example.com>", "plain@example.com"],
            cc=["Cc Name <cc@example.com>"],
            bcc=["bcc@example.com"],
        )
    )
    assert params["from_email"] == "From Name <from@example.com>"
    assert params["to"] == ["To Name <to@example.com>", "plain@example.com"]
    assert params["cc"] == ["Cc Name <cc@example.com>"]
    assert params["bcc"] == ["bcc@example.com"]


def test_quoted_display_name_with_comma():
    message = new_message(
        from_email='"Widgets, Inc." <widgets@example.com>', to=['"Last, First" <to@example.com>']
    )
    data = MessageData.from_message(message)
    assert data.from_email[0].display_name == "Widgets, Inc."
    assert data.from_email[0].addr_spec == "widgets@example.com"
    assert data.to[0].display_name == "Last, First"
    params = send(message)
    assert params["from_email"] == '"Widgets, Inc." <widgets@example.com>'
    assert params["to"] == ['"Last, First" <to@example.com>']
    assert set(message.anymail_status.recipients) == {"to@example.com"}


def test_one_list_item_may_hold_several_comma_separated_addresses():
    message = new_message(to=["one@example.com, Two <two@example.com>"])
    params = send(message)
    assert params["to"] == ["one@example.com", "Two <two@example.com>"]
    assert set(message.anymail_status.recipients) == {"one@example.com", "two@example.com"}


def test_unquoted_display_name_with_comma_is_an_invalid_address():
    message = new_message(from_email="Widgets, Inc. <widgets@example.com>")
    with pytest.raises(AnymailInvalidAddress) as excinfo:
        message.send()
    text = str(excinfo.value)
    assert "from_email" in text
    assert "Widgets, Inc. <widgets@example.com>" in text
    assert "double quotes" in text
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", ["not an address"]),
        ("cc", ["@example.com"]),
        ("bcc", ["two@at@example.com"]),
        ("reply_to", [""]),
        ("to", ["<>"]),
        ("from_email", "no-at-sign"),
    ],
)
def test_invalid_addresses_are_refused_naming_the_field(field, value):
    message = new_message()
    setattr(message, field, value)
    with pytest.raises(AnymailInvalidAddress, match=f"in `{field}`"):
        message.send()
    assert mail.outbox == []


def test_non_ascii_display_names_and_idn_domains():
    message = new_message(
        from_email="Frédéric <from@exämple.com>",
        to=["Zoë <zoe@例え.jp>"],
        reply_to=["=?utf-8?q?Andr=C3=A9?= <andre@example.com>"],
    )
    data = MessageData.from_message(message)
    [sender] = data.from_email
    [recipient] = data.to
    assert (sender.display_name, sender.addr_spec) == ("Frédéric", "from@exämple.com")
    assert recipient.domain == "例え.jp"
    assert recipient.idna_domain == "xn--r8jz45g.jp"
    assert recipient.idna_addr_spec == "zoe@xn--r8jz45g.jp"
    # As a MIME header value: RFC 2047 name, IDNA domain.
    assert recipient.formataddr() == "=?utf-8?q?Zo=C3=AB?= <zoe@xn--r8jz45g.jp>"
    header_value = sender.formataddr()
    assert header_value.isascii()
    assert str(make_header(decode_header(header_value))) == "Frédéric <from@xn--exmple-cua.com>"
    # An already-encoded display name is decoded to its readable form.
    assert data.reply_to[0].display_name == "André"

    params = send(message)
    assert params["from_email"] == "Frédéric <from@exämple.com>"
    assert params["to"] == ["Zoë <zoe@例え.jp>"]
    assert set(message.anymail_status.recipients) == {"zoe@例え.jp"}


def test_non_ascii_local_part_is_kept():
    data = MessageData.from_message(new_message(to=["Zoë <zoë@例え.jp>"]))
    [recipient] = data.to
    assert recipient.address == "Zoë <zoë@例え.jp>"
    assert recipient.formataddr() == "=?utf-8?q?Zo=C3=AB?= <zoë@xn--r8jz45g.jp>"


def test_reply_to():
    params = send(new_message(reply_to=["Help <help@example.com>", "support@example.com"]))
    assert params["reply_to"] == ["Help <help@example.com>", "support@example.com"]


# --- headers ----------------------------------------------------------------------


def test_extra_headers_are_passed_on():
    message = new_message(headers={"List-Unsubscribe": "<mailto:u@example.com>"})
    message.extra_headers["X-Example-Header"] = "myapp"
    params = send(message)
    assert params["extra_headers"] == {
        "List-Unsubscribe": "<mailto:u@example.com>",
        "X-Example-Header": "myapp",
    }


def test_header_names_are_case_insensitive():
    message = new_message(headers={"X-Example": "first", "x-example": "second"})
    data = MessageData.from_message(message)
    assert len(data.headers) == 1
    assert data.headers["X-EXAMPLE"] == "second"


def test_reply_to_header_overrides_reply_to_attribute():
    message = new_message(
        reply_to=["attr@example.com"], headers={"reply-to": "Header <header@example.com>"}
    )
    params = send(message)
    assert params["reply_to"] == ["Header <header@example.com>"]
    assert "extra_headers" not in params


def test_from_header_overrides_from_email_which_becomes_the_envelope_sender():
    message = new_message(
        from_email="Bounces <bounces@example.com>",
        headers={"From": "Shown Name <shown@example.com>"},
    )
    params = send(message)
    assert params["from_email"] == "Shown Name <shown@example.com>"
    assert params["envelope_sender"] == "bounces@example.com"
    assert "extra_headers" not in params


def test_from_header_keeps_an_explicit_envelope_sender():
    message = new_message(
        from_email="from@example.com",
        headers={"FROM": "shown@example.com"},
        envelope_sender="explicit@example.com",
    )
    assert send(message)["envelope_sender"] == "explicit@example.com"


def test_to_header_shows_a_different_to_than_the_recipients():
    message = new_message(to=["actual@example.com"], headers={"To": "Everyone <list@example.com>"})
    params = send(message)
    assert params["to"] == ["actual@example.com"]
    assert params["spoofed_to"] == ["Everyone <list@example.com>"]
    assert set(message.anymail_status.recipients) == {"actual@example.com"}


# --- bodies and alternatives ---------------------------------------------------------


def test_text_and_html_alternative():
    message = EmailMultiAlternatives("Subject", "text body", "from@example.com", ["to@example.com"])
    message.attach_alternative("<p>html body</p>", "text/html")
    params = send(message)
    assert params["subject"] == "Subject"
    assert params["text_body"] == "text body"
    assert params["html_body"] == "<p>html body</p>"
    assert "alternatives" not in params


def test_html_only_body_from_content_subtype():
    message = EmailMessage("Subject", "<p>html</p>", "from@example.com", ["to@example.com"])
    message.content_subtype = "html"
    params = send(message)
    assert params["html_body"] == "<p>html</p>"
    assert "text_body" not in params


def test_send_mail_html_message():
    mail.send_mail(
        "Subject", "text", "from@example.com", ["to@example.com"], html_message="<b>html</b>"
    )
    params = mail.outbox[0].anymail_send_params
    assert (params["text_body"], params["html_body"]) == ("text", "<b>html</b>")


def test_other_alternatives_are_kept_in_order():
    message = new_message()
    message.attach_alternative("<p>html</p>", "text/html")
    message.attach_alternative("# markdown", "text/markdown")
    message.attach_alternative("<p>second html</p>", "text/html")
    params = send(message)
    assert params["html_body"] == "<p>html</p>"
    assert params["alternatives"] == [
        ("# markdown", "text/markdown"),
        ("<p>second html</p>", "text/html"),
    ]


def test_subject_none_is_left_for_the_template():
    message = new_message(template_id="welcome")
    message.subject = None
    assert "subject" not in send(message)


# --- attachments ------------------------------------------------------------------


def test_attachments(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("a,b\n1,2\n")
    message = new_message()
    message.attach("notes.txt", "Non-ASCII text: ½", "text/plain")
    message.attach("data.bin", b"\x00\x01\x02", "application/octet-stream")
    message.attach("guess.pdf", b"%PDF-1.4", None)
    message.attach_file(str(path))
    attachments = send(message)["attachments"]
    assert [(att.name, att.mimetype) for att in attachments] == [
        ("notes.txt", "text/plain"),
        ("data.bin", "application/octet-stream"),
        ("guess.pdf", "application/pdf"),
        ("report.csv", "text/csv"),
    ]
    assert attachments[0].content == "Non-ASCII text: ½".encode()
    assert attachments[1].b64content == "AAEC"
    assert attachments[3].content == b"a,b\n1,2\n"
    assert not any(att.inline for att in attachments)


def test_mime_attachment_with_attachment_disposition_is_not_inline():
    part = MIMEBase("application", "pdf")
    part.set_payload(b"%PDF-1.4")
    part.add_header("Content-Disposition", "attachment", filename="doc.pdf")
    part.add_header("Content-ID", "<doc@example.com>")
    params = sent_with(part)
    [attachment] = params["attachments"]
    assert (attachment.name, attachment.mimetype, attachment.inline) == (
        "doc.pdf",
        "application/pdf",
        False,
    )
    assert "inline_attachments" not in params


def test_inline_disposition_makes_an_inline_image():
    image = MIMEImage(PNG, "png")
    image.add_header("Content-Disposition", "inline", filename="logo.png")
    image.add_header("Content-ID", "<logo@inline>")
    params = sent_with(image)
    [inline] = params["inline_attachments"]
    assert (inline.name, inline.mimetype, inline.content_id, inline.content) == (
        "logo.png",
        "image/png",
        "logo@inline",
        PNG,
    )
    assert "attachments" not in params


def test_content_id_without_disposition_is_treated_as_inline():
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<nodisposition@inline>")
    params = sent_with(image)
    [inline] = params["inline_attachments"]
    assert inline.inline
    assert inline.content_id == "nodisposition@inline"
    assert "attachments" not in params


def test_unparseable_attachment_is_a_serialization_error():
    message = new_message()
    message.attachments.append(("only-two", "items"))
    with pytest.raises(AnymailSerializationError) as excinfo:
        message.send()
    assert excinfo.value.field == "attachments"


# --- Anymail attributes --------------------------------------------------------------


def test_every_anymail_attribute():
    message = new_message(
        envelope_sender="Bounces <bounces@example.com>",
        metadata={"customer": 123, "order": "acme-zxyw"},
        merge_metadata={"to@example.com": {"customer": 123}},
        tags=["Order Confirmation", "Test Variant A"],
        track_clicks=False,
        track_opens=True,
        send_at=datetime(2024, 1, 15, 10, 0, tzinfo=UTC),
        template_id="after_sale_followup_offer",
        merge_data={"to@example.com": {"NAME": "Wile E."}},
        merge_global_data={"PARTNER": "Acme, Inc."},
        esp_extra={"o:dkim": "no"},
    )
    params = send(message)
    assert params["envelope_sender"] == "bounces@example.com"
    assert params["metadata"] == {"customer": 123, "order": "acme-zxyw"}
    assert params["merge_metadata"] == {"to@example.com": {"customer": 123}}
    assert params["tags"] == ["Order Confirmation", "Test Variant A"]
    assert params["track_clicks"] is False
    assert params["track_opens"] is True
    assert params["send_at"] == datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
    assert params["template_id"] == "after_sale_followup_offer"
    assert params["merge_data"] == {"to@example.com": {"NAME": "Wile E."}}
    assert params["merge_global_data"] == {"PARTNER": "Acme, Inc."}
    assert params["esp_extra"] == {"o:dkim": "no"}


def test_empty_merge_data_still_means_batch_send():
    data = MessageData.from_message(new_message(merge_data={}))
    assert data.is_batch
    assert not MessageData.from_message(new_message()).is_batch


def test_envelope_sender_must_be_one_address():
    message = new_message(envelope_sender="a@example.com, b@example.com")
    with pytest.raises(AnymailInvalidAddress, match="envelope_sender"):
        message.send()


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("tags", "not-a-list"),
        ("tags", ["ok", 3]),
        ("track_opens", "yes"),
        ("metadata", ["not", "a", "dict"]),
    ],
)
def test_wrong_types_are_serialization_errors_naming_the_attribute(attribute, value):
    message = new_message(**{attribute: value})
    with pytest.raises(AnymailSerializationError, match=f"`{attribute}`") as excinfo:
        message.send()
    assert excinfo.value.field == attribute
    assert mail.outbox == []


# --- send_at --------------------------------------------------------------------------


@pytest.fixture
def paris():
    # Not settings.TIME_ZONE (America/Los_Angeles): proves the *current* timezone is used.
    with timezone.override("Europe/Paris"):
        yield ZoneInfo("Europe/Paris")


def test_send_at_aware_datetime_is_kept(paris):
    when = datetime(2024, 1, 15, 10, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert send(new_message(send_at=when))["send_at"] == when


def test_send_at_naive_datetime_is_in_the_current_timezone(paris):
    send_at = send(new_message(send_at=datetime(2024, 1, 15, 10, 30)))["send_at"]
    assert send_at == datetime(2024, 1, 15, 10, 30, tzinfo=paris)
    assert send_at.utcoffset() == timedelta(hours=1)


def test_send_at_date_is_midnight_in_the_current_timezone(paris):
    send_at = send(new_message(send_at=date(2024, 7, 4)))["send_at"]
    assert send_at == datetime(2024, 7, 4, 0, 0, tzinfo=paris)
    assert send_at.astimezone(UTC) == datetime(2024, 7, 3, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("stamp", [1700000000, 1700000000.5])
def test_send_at_timestamp(paris, stamp):
    send_at = send(new_message(send_at=stamp))["send_at"]
    assert send_at.timestamp() == stamp
    assert send_at.tzinfo is not None


def test_send_at_of_another_type_is_a_serialization_error():
    with pytest.raises(AnymailSerializationError, match="send_at") as excinfo:
        new_message(send_at="tomorrow").send()
    assert excinfo.value.field == "send_at"


# --- lazy translation strings -----------------------------------------------------


def test_lazy_translation_strings_anywhere():
    lazy = gettext_lazy
    message = AnymailMessage(
        subject=lazy("Subject"),
        body=lazy("Body"),
        from_email=lazy("From Name <from@example.com>"),
        to=[lazy("To Name <to@example.com>")],
        cc=[lazy("cc@example.com")],
        reply_to=[lazy("reply@example.com")],
        headers={lazy("X-Lazy"): lazy("header value")},
        tags=[lazy("tag")],
        metadata={lazy("key"): lazy("value"), "nested": [lazy("item")]},
        merge_global_data={"GREETING": lazy("Hello")},
        merge_data={"to@example.com": {"NAME": lazy("Name")}},
        template_id=lazy("template"),
        envelope_sender=lazy("bounces@example.com"),
    )
    message.attach_alternative(lazy("<p>html</p>"), "text/html")
    message.attach(lazy("file.txt"), lazy("attached text"), "text/plain")
    params = send(message)

    def assert_plain(value):
        if isinstance(value, dict):
            for key, item in value.items():
                assert type(key) is str
                assert_plain(item)
        elif isinstance(value, list | tuple):
            for item in value:
                assert_plain(item)
        elif not isinstance(value, bool | int | datetime) and value is not None:
            assert type(value) is str, f"{value!r} is {type(value)}"

    assert_plain({key: value for key, value in params.items() if "attachments" not in key})
    assert params["subject"] == "Subject"
    assert params["to"] == ["To Name <to@example.com>"]
    assert params["extra_headers"] == {"X-Lazy": "header value"}
    assert params["metadata"] == {"key": "value", "nested": ["item"]}
    assert params["merge_global_data"] == {"GREETING": "Hello"}
    [attachment] = params["attachments"]
    assert type(attachment.name) is str
    assert attachment.content == b"attached text"


# --- serialization errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value", "field"),
    [
        ("metadata", {"total": Decimal("19.99")}, "metadata['total']"),
        ("merge_global_data", {"SHIP_DATE": date(2015, 11, 18)}, "merge_global_data['SHIP_DATE']"),
        (
            "merge_data",
            {"to@example.com": {"ITEMS": ["ok", Decimal("1")]}},
            "merge_data['to@example.com']['ITEMS'][1]",
        ),
        (
            "merge_metadata",
            {"to@example.com": {"when": datetime(2024, 1, 1)}},
            "merge_metadata['to@example.com']['when']",
        ),
    ],
)
def test_serialization_error_names_the_field(attribute, value, field):
    message = new_message(**{attribute: value})
    with pytest.raises(AnymailSerializationError) as excinfo:
        message.send()
    assert excinfo.value.field == field
    assert field in str(excinfo.value)
    assert "not JSON serializable" in str(excinfo.value)
    assert mail.outbox == []


# --- refused recipients --------------------------------------------------------------


@pytest.mark.parametrize("status", ["rejected", "invalid", "failed"])
def test_all_recipients_refused_raises(settings, status):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": status}
    message = new_message(to=["a@example.com"], cc=["b@example.com"])
    with pytest.raises(AnymailRecipientsRefused) as excinfo:
        message.send()
    assert excinfo.value.email_message is message
    # anymail_status says why.
    assert message.anymail_status.status == {status}
    assert message.anymail_status.recipients["b@example.com"].status == status


@pytest.mark.parametrize("status", ["sent", "queued", "unknown"])
def test_accepted_recipients_do_not_raise(settings, status):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": status}
    message = new_message()
    assert message.send() == 1
    assert message.anymail_status.status == {status}


def test_one_accepted_recipient_is_enough(settings):
    settings.ANYMAIL = {
        "TEST_RECIPIENT_STATUS": {"bad@example.com": "rejected", "ok@example.com": "queued"}
    }
    message = new_message(to=["bad@example.com", "ok@example.com"])
    assert message.send() == 1
    assert message.anymail_status.status == {"rejected", "queued"}


def test_ignore_recipient_status(settings):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "rejected", "IGNORE_RECIPIENT_STATUS": True}
    message = new_message()
    assert message.send() == 1
    assert message.anymail_status.status == {"rejected"}


def test_refused_recipients_with_fail_silently(settings):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "rejected"}
    assert get_connection(fail_silently=True).send_messages([new_message()]) == 0


# --- send defaults --------------------------------------------------------------------


DOCS_SEND_DEFAULTS = {
    "metadata": {"district": "North", "source": "unknown"},
    "tags": ["myapp", "version3"],
    "track_clicks": True,
    "track_opens": True,
}


def test_send_defaults_merge_exactly_as_the_docs_example(settings):
    settings.ANYMAIL = {"SEND_DEFAULTS": DOCS_SEND_DEFAULTS}
    message = AnymailMessage(subject="s", body="b", to=["to@example.com"])
    message.tags = ["welcome"]
    message.metadata = {"source": "Ads", "user_id": 12345}
    message.track_clicks = False
    message.send()
    params = mail.outbox[0].anymail_send_params
    assert params["tags"] == ["myapp", "version3", "welcome"]  # merged with defaults
    assert params["metadata"] == {"district": "North", "source": "Ads", "user_id": 12345}  # merged
    assert params["track_clicks"] is False  # message overrides defaults
    assert params["track_opens"] is True  # from the defaults
    # The message itself is not changed.
    assert message.tags == ["welcome"]
    assert settings.ANYMAIL["SEND_DEFAULTS"]["tags"] == ["myapp", "version3"]


def test_send_defaults_from_prefixed_setting(settings):
    settings.ANYMAIL_SEND_DEFAULTS = {"tags": ["myapp"]}
    assert send(new_message(tags=["welcome"]))["tags"] == ["myapp", "welcome"]


def test_none_on_the_message_drops_the_default(settings):
    settings.ANYMAIL = {"SEND_DEFAULTS": DOCS_SEND_DEFAULTS}
    params = send(new_message(tags=None, metadata=None, track_opens=None))
    assert "tags" not in params
    assert "metadata" not in params
    assert "track_opens" not in params
    assert params["track_clicks"] is True


def test_esp_specific_send_defaults_override_general_ones(settings):
    settings.ANYMAIL = {
        "SEND_DEFAULTS": {"tags": ["myapp", "version3"], "metadata": {"general": 1}},
        # The test backend's ESP id is "test", so its defaults are TEST_SEND_DEFAULTS.
        "TEST_SEND_DEFAULTS": {"tags": ["version3"], "esp_extra": {"o:dkim": "no"}},
        "OTHER_SEND_DEFAULTS": {"tags": ["other-esp-only"]},
    }
    params = send(new_message(tags=["welcome"]))
    assert params["tags"] == ["version3", "welcome"]  # overrides SEND_DEFAULTS['tags'] (not merged)
    assert params["metadata"] == {"general": 1}
    assert params["esp_extra"] == {"o:dkim": "no"}


def test_send_defaults_work_for_django_attributes(settings):
    settings.ANYMAIL = {
        "SEND_DEFAULTS": {
            "bcc": ["always-copy@example.com"],
            "headers": {"X-Sent-By": "myapp"},
            "merge_global_data": {"SITE": "example.com"},
        }
    }
    message = new_message(
        bcc=["own-bcc@example.com"], headers={"X-Own": "1"}, merge_global_data={"NAME": "x"}
    )
    params = send(message)
    assert params["bcc"] == ["always-copy@example.com", "own-bcc@example.com"]
    assert params["extra_headers"] == {"X-Sent-By": "myapp", "X-Own": "1"}
    assert params["merge_global_data"] == {"SITE": "example.com", "NAME": "x"}
    assert set(message.anymail_status.recipients) == {
        "to@example.com",
        "always-copy@example.com",
        "own-bcc@example.com",
    }


def test_send_defaults_attachment_is_added_to_every_message(settings):
    settings.ANYMAIL = {
        "SEND_DEFAULTS": {"attachments": [("terms.txt", "The terms", "text/plain")]}
    }
    message = new_message()
    message.attach("own.txt", "own", "text/plain")
    assert [att.name for att in send(message)["attachments"]] == ["terms.txt", "own.txt"]


def test_unknown_send_default_is_a_configuration_error(settings):
    settings.ANYMAIL = {"SEND_DEFAULTS": {"tag": ["misspelled"]}}
    with pytest.raises(
        AnymailConfigurationError, match=r"SEND_DEFAULTS has unknown key\(s\) \['tag'\]"
    ):
        new_message().send()


def test_send_defaults_must_be_a_dict(settings):
    settings.ANYMAIL = {"TEST_SEND_DEFAULTS": ["tags"]}
    with pytest.raises(AnymailConfigurationError, match="TEST_SEND_DEFAULTS must be a dict"):
        new_message().send()


# --- sending ---------------------------------------------------------------------------


def test_message_without_recipients_is_not_sent():
    message = EmailMessage("s", "b", "from@example.com", to=[])
    assert message.send() == 0
    assert mail.outbox == []


def test_send_mass_mail_and_send_messages_count_what_was_sent():
    sent = mail.send_mass_mail(
        [
            ("one", "b", "from@example.com", ["a@example.com"]),
            ("two", "b", "from@example.com", ["b@example.com"]),
        ]
    )
    assert sent == 2
    assert [message.subject for message in mail.outbox] == ["one", "two"]
    assert get_connection().send_messages([]) == 0


def test_mail_admins(settings):
    settings.ADMINS = [("Admin", "admin@example.com")]
    mail.mail_admins("Alert", "Something happened")
    assert mail.outbox[0].anymail_send_params["to"] == ["admin@example.com"]


@pytest.mark.parametrize(
    ("attribute", "value", "field"),
    [
        ("merge_data", {"to@example.com": "Alice"}, "merge_data['to@example.com']"),
        ("merge_data", {"to@example.com": None}, "merge_data['to@example.com']"),
        ("merge_metadata", {"to@example.com": "x"}, "merge_metadata['to@example.com']"),
        ("subject", "Hello\r\nBcc: victim@example.com", "subject"),
        ("subject", b"caf\xe9", "subject"),
        ("body", b"\xff\xfe body", "body"),
    ],
)
def test_bad_input_is_a_documented_error_and_nothing_is_sent(attribute, value, field):
    message = new_message()
    setattr(message, attribute, value)
    with pytest.raises(AnymailSerializationError) as excinfo:
        send(message)
    assert excinfo.value.field == field
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Custom": "ok\nInjected: yes"}, "headers['X-Custom']"),
        ({"X-Bad\r\nName": "v"}, "headers (a header name)"),
        ({"X-Bytes": b"\xff"}, "headers['X-Bytes']"),
    ],
)
def test_bad_headers_are_refused(headers, field):
    message = new_message()
    message.extra_headers.update(headers)
    with pytest.raises(AnymailSerializationError) as excinfo:
        send(message)
    assert excinfo.value.field == field
    assert mail.outbox == []


def test_an_attachment_with_no_content_is_refused():
    message = new_message()
    message.attachments.append(("empty.txt", None, "text/plain"))
    with pytest.raises(AnymailSerializationError, match="no content"):
        send(message)
    assert mail.outbox == []
