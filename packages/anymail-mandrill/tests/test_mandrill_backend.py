"""Mandrill's backend against a real HTTP server on 127.0.0.1 (conformance's
FakeESPServer): what is particular to Mandrill. The shared conformance suite proves
the rest (every declared feature, errors, signals, connection reuse)."""

import warnings
from base64 import b64encode
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.core.mail import EmailMessage

from anymail.conformance.mandrill.profile import API_KEY, PROFILE
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailDeprecationWarning,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import get_connection
from anymail_conformance import package_checks as checks
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import PNG
from anymail_conformance.package_checks import send_message as send
from anymail_conformance.package_checks import sent_json as sent_body


class MandrillAPI:
    """What the fake Mandrill answers: by default each recipient "sent"; tests can
    set per-address statuses or a whole response."""

    def __init__(self):
        self.statuses = {}
        self.response = None

    def __call__(self, request):
        if self.response is not None:
            return self.response
        body = request.json()
        return FakeResponse.json(
            [
                {
                    "email": recipient["email"].upper()
                    if recipient["email"].startswith("shout")
                    else recipient["email"],
                    "status": self.statuses.get(recipient["email"], "sent"),
                    "reject_reason": None,
                    "_id": f"id-{index}",
                }
                for index, recipient in enumerate(body["message"].get("to", []))
            ]
        )


@pytest.fixture
def api():
    return MandrillAPI()


@pytest.fixture
def mandrill(settings, api):
    with FakeESPServer(api) as server:
        yield checks.use_fake_api(settings, PROFILE, server)


# --- the request ---


def test_send_posts_json_with_the_key_in_the_body(mandrill):
    message = send(
        to=["To Person <to@example.com>", "to2@example.com"],
        cc=["cc@example.com"],
        bcc=["Hidden <bcc@example.com>"],
        reply_to=["Reply <r1@example.com>", "r2@example.com"],
        headers={"X-Custom": "value"},
    )
    [request] = mandrill.requests
    assert request.path == "/api/1.0/messages/send.json"
    assert request.content_type == "application/json"
    body = request.json()
    assert body["key"] == API_KEY
    msg = body["message"]
    assert msg["from_email"] == "from@example.com"
    assert msg["from_name"] == "Sender"
    assert msg["to"] == [
        {"email": "to@example.com", "type": "to", "name": "To Person"},
        {"email": "to2@example.com", "type": "to"},
        {"email": "cc@example.com", "type": "cc"},
        {"email": "bcc@example.com", "type": "bcc", "name": "Hidden"},
    ]
    assert msg["headers"] == {
        "Reply-To": "Reply <r1@example.com>, r2@example.com",
        "X-Custom": "value",
    }
    assert msg["subject"] == "Subject"
    assert msg["text"] == "Body"
    assert "preserve_recipients" not in msg  # not a batch send: Mandrill's account default
    assert message.anymail_status.status == {"sent"}
    assert message.anymail_status.message_id == {"id-0", "id-1", "id-2", "id-3"}
    assert message.anymail_status.recipients["bcc@example.com"].message_id == "id-3"


@pytest.mark.parametrize(
    ("mandrill_status", "anymail_status"),
    [
        ("sent", "sent"),
        ("queued", "queued"),
        ("scheduled", "queued"),
        ("rejected", "rejected"),
        ("invalid", "invalid"),
        ("something-new", "unknown"),
    ],
)
def test_each_recipient_status(mandrill, api, mandrill_status, anymail_status):
    api.statuses = {"b@example.com": mandrill_status}
    message = send(to=["a@example.com", "b@example.com"])
    assert message.anymail_status.recipients["a@example.com"].status == "sent"
    assert message.anymail_status.recipients["b@example.com"].status == anymail_status
    assert message.anymail_status.recipients["b@example.com"].message_id == "id-1"


def test_all_recipients_invalid_refused(mandrill, api):
    api.statuses = {"a@example.com": "invalid", "b@example.com": "rejected"}
    with pytest.raises(AnymailRecipientsRefused):
        send(to=["a@example.com", "b@example.com"])


def test_status_keys_are_the_addresses_as_given(mandrill):
    # The fake answers "SHOUT@EXAMPLE.COM" for shout@example.com, as Mandrill may normalize case.
    message = send(to=["shout@example.com"])
    assert set(message.anymail_status.recipients) == {"shout@example.com"}
    assert message.anymail_status.recipients["shout@example.com"].status == "sent"


def test_template_uses_send_template(mandrill):
    message = AnymailMessage(
        from_email=None, to=["to@example.com"], template_id="welcome-slug", body=""
    )
    message.from_email = None  # Django fills in DEFAULT_FROM_EMAIL when constructed
    message.subject = None
    message.send()
    request = mandrill.requests[0]
    assert request.path == "/api/1.0/messages/send-template.json"
    body = request.json()
    assert body["template_name"] == "welcome-slug"
    assert body["template_content"] == []  # required by send-template
    # The stored template's subject and from address are used.
    for key in ("subject", "from_email", "from_name", "text", "html"):
        assert key not in body["message"]


def test_esp_extra_top_level_and_message(mandrill):
    send(
        tags=["anymail"],
        esp_extra={
            "ip_pool": "Bulk Pool",
            "async": True,
            "message": {"subaccount": "Marketing Dept.", "tags": ["replaced"]},
        },
    )
    body = sent_body(mandrill)
    assert body["ip_pool"] == "Bulk Pool"
    assert body["async"] is True
    assert body["message"]["subaccount"] == "Marketing Dept."
    assert body["message"]["tags"] == ["replaced"]  # esp_extra wins
    assert "subaccount" not in body


@pytest.mark.parametrize(
    "recipient_metadata",
    [
        {"a@example.com": {"order": "1"}, "b@example.com": {"order": "2"}},
        [
            {"rcpt": "a@example.com", "values": {"order": "1"}},
            {"rcpt": "b@example.com", "values": {"order": "2"}},
        ],
    ],
    ids=["pythonic-dict", "mandrill-list"],
)
def test_esp_extra_recipient_metadata_either_form(mandrill, recipient_metadata):
    send(esp_extra={"message": {"recipient_metadata": recipient_metadata}})
    assert sent_body(mandrill)["message"]["recipient_metadata"] == [
        {"rcpt": "a@example.com", "values": {"order": "1"}},
        {"rcpt": "b@example.com", "values": {"order": "2"}},
    ]


@pytest.mark.parametrize(
    "template_content",
    [
        {"header": "<h1>Hi</h1>", "footer": "Bye"},
        [{"name": "header", "content": "<h1>Hi</h1>"}, {"name": "footer", "content": "Bye"}],
    ],
    ids=["pythonic-dict", "mandrill-list"],
)
def test_esp_extra_template_content_either_form(mandrill, template_content):
    send(template_id="t", esp_extra={"template_content": template_content})
    assert sent_body(mandrill)["template_content"] == [
        {"name": "header", "content": "<h1>Hi</h1>"},
        {"name": "footer", "content": "Bye"},
    ]


def test_esp_extra_message_must_be_a_dict(mandrill):
    with pytest.raises(AnymailSerializationError, match=r"esp_extra\['message'\]"):
        send(esp_extra={"message": "subaccount"})
    assert mandrill.requests == []


def test_send_defaults_esp_extra_message_merges_with_the_messages(mandrill, settings):
    # The docs' Djrill migration: a global subaccount in MANDRILL_SEND_DEFAULTS.
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MANDRILL_SEND_DEFAULTS": {
            "esp_extra": {"ip_pool": "Main", "message": {"subaccount": "sub-1"}}
        },
    }
    send(esp_extra={"message": {"important": True}})
    body = sent_body(mandrill)
    assert body["message"]["subaccount"] == "sub-1"
    assert body["message"]["important"] is True
    assert body["ip_pool"] == "Main"
    send()
    assert sent_body(mandrill)["message"]["subaccount"] == "sub-1"


def test_envelope_sender_gives_only_the_return_path_domain(mandrill):
    send(envelope_sender="bounces@mail.example.com")
    assert sent_body(mandrill)["message"]["return_path_domain"] == "mail.example.com"


def test_internationalized_domains_are_sent_in_idna_form(mandrill):
    # Issue #23: Mandrill's API takes ASCII addresses; an IDNA (punycode) domain is the
    # same mailbox. Display names and local parts stay as given.
    message = send(
        from_email="Frédéric <from@exämple.com>",
        to=["Zoë <zoe@bücher.example>", "plain@example.com"],
        cc=["cc@bücher.example"],
        bcc=["bcc@bücher.example"],
        reply_to=["Zoë <reply@bücher.example>", "r2@example.com"],
        envelope_sender="bounces@mail.bücher.example",
        merge_data={"zoe@bücher.example": {"name": "Zoë"}},
        merge_metadata={"zoe@bücher.example": {"order": "1"}},
    )
    msg = sent_body(mandrill)["message"]
    assert msg["from_email"] == "from@xn--exmple-cua.com"
    assert msg["from_name"] == "Frédéric"
    assert msg["to"] == [
        {"email": "zoe@xn--bcher-kva.example", "type": "to", "name": "Zoë"},
        {"email": "plain@example.com", "type": "to"},
        {"email": "cc@xn--bcher-kva.example", "type": "cc"},
        {"email": "bcc@xn--bcher-kva.example", "type": "bcc"},
    ]
    assert msg["headers"]["Reply-To"] == "Zoë <reply@xn--bcher-kva.example>, r2@example.com"
    assert msg["return_path_domain"] == "mail.xn--bcher-kva.example"
    # merge data and metadata must name the recipient as it was sent
    assert [item["rcpt"] for item in msg["merge_vars"]] == ["zoe@xn--bcher-kva.example"]
    assert [item["rcpt"] for item in msg["recipient_metadata"]] == ["zoe@xn--bcher-kva.example"]
    # anymail_status is keyed by the addresses as the message gave them
    assert set(message.anymail_status.recipients) == {
        "zoe@bücher.example",
        "plain@example.com",
        "cc@bücher.example",
        "bcc@bücher.example",
    }
    assert message.anymail_status.recipients["zoe@bücher.example"].message_id == "id-0"
    assert message.anymail_status.recipients["zoe@bücher.example"].status == "sent"


def test_idna_in_esp_extra_recipient_metadata_dict(mandrill):
    send(
        to=["zoe@bücher.example"],
        esp_extra={"message": {"recipient_metadata": {"zoe@bücher.example": {"k": "v"}}}},
    )
    assert sent_body(mandrill)["message"]["recipient_metadata"] == [
        {"rcpt": "zoe@xn--bcher-kva.example", "values": {"k": "v"}}
    ]


def test_merge_data_is_a_batch_send(mandrill):
    send(
        to=["alice@example.com", "Bob <bob@example.com>"],
        subject="Your order *|order_no|* has shipped",
        merge_data={
            "alice@example.com": {"name": "Alice", "order_no": "12345"},
            "bob@example.com": {"name": "Bob", "order_no": "54321"},
        },
        merge_global_data={"ship_date": "May 15"},
        esp_extra={"message": {"merge_language": "handlebars"}},
    )
    msg = sent_body(mandrill)["message"]
    assert msg["preserve_recipients"] is False
    assert msg["merge_vars"] == [
        {
            "rcpt": "alice@example.com",
            "vars": [
                {"name": "name", "content": "Alice"},
                {"name": "order_no", "content": "12345"},
            ],
        },
        {
            "rcpt": "bob@example.com",
            "vars": [{"name": "name", "content": "Bob"}, {"name": "order_no", "content": "54321"}],
        },
    ]
    assert msg["global_merge_vars"] == [{"name": "ship_date", "content": "May 15"}]
    assert msg["merge_language"] == "handlebars"


def test_merge_metadata_is_a_batch_send_too(mandrill):
    send(
        to=["a@example.com", "b@example.com"],
        metadata={"campaign": "spring"},
        merge_metadata={"a@example.com": {"order": "1"}},
    )
    msg = sent_body(mandrill)["message"]
    assert msg["preserve_recipients"] is False
    assert msg["metadata"] == {"campaign": "spring"}
    assert msg["recipient_metadata"] == [{"rcpt": "a@example.com", "values": {"order": "1"}}]


def test_esp_extra_can_override_forced_preserve_recipients(mandrill):
    send(merge_data={"to@example.com": {}}, esp_extra={"message": {"preserve_recipients": True}})
    assert sent_body(mandrill)["message"]["preserve_recipients"] is True


def test_global_merge_data_alone_is_not_a_batch(mandrill):
    send(merge_global_data={"site": "Example"})
    msg = sent_body(mandrill)["message"]
    assert "preserve_recipients" not in msg
    assert "merge_vars" not in msg


def test_send_at_is_utc_in_mandrills_format(mandrill, settings):
    plus_two = timezone(timedelta(hours=2))
    send(send_at=datetime(2030, 1, 2, 5, 4, 5, tzinfo=plus_two))
    assert sent_body(mandrill)["send_at"] == "2030-01-02 03:04:05"
    # A naive datetime, or a date, is in Django's current timezone (not UTC as in Djrill).
    settings.TIME_ZONE = "America/New_York"
    send(send_at=datetime(2030, 7, 1, 12, 0, 0))
    assert sent_body(mandrill)["send_at"] == "2030-07-01 16:00:00"
    send(send_at=date(2030, 1, 2))
    assert sent_body(mandrill)["send_at"] == "2030-01-02 05:00:00"
    assert "send_at" not in sent_body(mandrill)["message"]


def test_tags_and_tracking(mandrill):
    send(tags=["welcome", "2030"], track_clicks=False, track_opens=True)
    msg = sent_body(mandrill)["message"]
    assert msg["tags"] == ["welcome", "2030"]
    assert msg["track_clicks"] is False
    assert msg["track_opens"] is True


def test_underscore_tags_are_reserved(mandrill, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="underscore") as raised:
        send(tags=["ok", "_internal"])
    assert raised.value.feature == "tags"
    assert mandrill.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(tags=["ok", "_internal"])
    assert sent_body(mandrill)["message"]["tags"] == ["ok"]


def test_inline_images_and_attachments(mandrill):
    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    cid = attach_inline_image(message, PNG, "logo.png")
    message.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")
    message.send()
    msg = sent_body(mandrill)["message"]
    assert msg["images"] == [{"type": "image/png", "name": cid, "content": b64encode(PNG).decode()}]
    assert msg["attachments"] == [
        {"type": "text/csv", "name": "report.csv", "content": b64encode(b"a,b\n1,2\n").decode()}
    ]
    assert msg["html"] == f'<img src="cid:{cid}">'


def test_inline_part_that_is_not_an_image_is_unsupported(mandrill):
    from email.mime.text import MIMEText

    part = MIMEText("inline text")
    part.add_header("Content-Disposition", "inline")
    part.add_header("Content-ID", "<part@example.com>")
    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach(part)
    with pytest.raises(AnymailUnsupportedFeature, match="must be images") as raised:
        message.send()
    assert raised.value.feature == "inline_images"
    assert mandrill.requests == []


def test_djrill_style_content_id_without_inline_disposition_is_an_attachment(mandrill):
    # Anymail (unlike Djrill) goes by Content-Disposition: inline, not the Content-ID.
    from email.mime.image import MIMEImage

    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo@example.com>")
    image.add_header("Content-Disposition", "attachment", filename="logo.png")
    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach(image)
    message.send()
    msg = sent_body(mandrill)["message"]
    assert "images" not in msg
    assert msg["attachments"][0]["name"] == "logo.png"


# --- errors ---


def test_api_error_gives_mandrills_message_and_hides_the_key(mandrill, api):
    api.response = FakeResponse.json(
        {"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key"}, 500
    )
    with pytest.raises(AnymailAPIError) as raised:
        send()
    text = str(raised.value)
    assert raised.value.status_code == 500
    assert "Mandrill error Invalid_Key: Invalid API key" in text
    assert "MANDRILL_API_KEY" in text
    assert API_KEY not in text


def test_unknown_template_error_hint(mandrill, api):
    api.response = FakeResponse.json(
        {"status": "error", "code": 5, "name": "Unknown_Template", "message": "No such template"},
        404,
    )
    with pytest.raises(AnymailAPIError, match="slug"):
        send(template_id="Welcome Email")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "error", "code": -100, "name": "GeneralError", "message": "Try again later"},
        {"unexpected": "object"},
        [{"no-email": True}],
        ["not a dict"],
    ],
)
def test_unexpected_2xx_response_is_an_api_error(mandrill, api, body):
    api.response = FakeResponse.json(body)
    with pytest.raises(AnymailAPIError, match="Invalid Mandrill API response format"):
        send()


def test_debug_api_requests_redacts_the_key(mandrill, settings, capsys):
    output = checks.debug_output(settings, capsys, send)
    assert "messages/send.json" in output
    assert '"key":"********"' in output
    assert API_KEY not in output


def test_backend_repr_and_errors_hide_the_key(settings):
    from anymail.backends.mandrill import EmailBackend

    backend = EmailBackend(api_key=API_KEY)
    assert API_KEY not in repr(backend)
    assert backend.secret_values() == [API_KEY]


# --- settings ---


@pytest.mark.parametrize("place", checks.SETTING_PLACES)  # (the bare one is Djrill's, still read)
def test_api_key_setting_spellings(settings, place):
    from anymail.backends.mandrill import EmailBackend

    backend = EmailBackend(**checks.set_esp_settings(settings, place, "mandrill", {"api_key": "k"}))
    assert backend.api_key == "k"
    assert backend.api_url == "https://mandrillapp.com/api/1.0/"


def test_missing_api_key_names_every_place(settings):
    settings.EMAIL_BACKEND = "anymail.backends.mandrill.EmailBackend"
    with pytest.raises(AnymailConfigurationError) as raised:
        get_connection()
    text = str(raised.value)
    assert 'ANYMAIL = {"MANDRILL_API_KEY": ...}' in text
    assert "ANYMAIL_MANDRILL_API_KEY" in text
    assert " MANDRILL_API_KEY" in text.replace("ANYMAIL_MANDRILL_API_KEY", "")


def test_api_url_setting(settings):
    from anymail.backends.mandrill import EmailBackend

    settings.ANYMAIL = {"MANDRILL_API_KEY": "k", "MANDRILL_API_URL": "https://example.com/api/1.4"}
    assert EmailBackend().api_url == "https://example.com/api/1.4/"


# --- migrating from Djrill ---


@pytest.mark.parametrize(
    ("setting", "advice"),
    [
        ("MANDRILL_SETTINGS", "ANYMAIL_MANDRILL_SEND_DEFAULTS"),
        ("MANDRILL_SUBACCOUNT", '"subaccount"'),
        ("MANDRILL_IGNORE_RECIPIENT_STATUS", "ANYMAIL_IGNORE_RECIPIENT_STATUS"),
    ],
)
def test_djrill_settings_raise_with_migration_advice(settings, setting, advice):
    from anymail.backends.mandrill import EmailBackend

    setattr(settings, setting, "anything")
    with pytest.raises(AnymailConfigurationError) as raised:
        EmailBackend(api_key="k")
    assert setting in str(raised.value)
    assert advice in str(raised.value)


def test_djrill_message_attributes_warn_and_still_work(mandrill):
    message = EmailMessage("Subject", "Body", "Sender <from@example.com>", ["to@example.com"])
    message.subaccount = "sub-1"
    message.ip_pool = "Bulk Pool"
    message.important = True
    message.template_name = "welcome"
    message.template_content = {"header": "Hi"}
    message.merge_vars = {"to@example.com": {"NAME": "To"}}
    message.global_merge_vars = {"COMPANY": "Example"}
    message.recipient_metadata = {"to@example.com": {"user_id": 7}}
    message.use_template_subject = True
    message.use_template_from = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        message.send()
    messages = [str(w.message) for w in caught if issubclass(w.category, AnymailDeprecationWarning)]
    assert all(issubclass(w.category, DeprecationWarning) for w in caught)
    assert any(
        "message.subaccount" in text and "esp_extra = {'message': {'subaccount'" in text
        for text in messages
    )
    assert any("message.ip_pool" in text and "esp_extra = {'ip_pool'" in text for text in messages)
    assert any(
        "message.template_name" in text and "message.template_id" in text for text in messages
    )
    assert any("message.merge_vars" in text and "message.merge_data" in text for text in messages)
    assert any(
        "message.use_template_from" in text and "from_email = None" in text for text in messages
    )
    assert len(messages) == 10

    request = mandrill.requests[0]
    assert request.path.endswith("messages/send-template.json")
    body = request.json()
    assert body["template_name"] == "welcome"
    assert body["ip_pool"] == "Bulk Pool"
    assert body["template_content"] == [{"name": "header", "content": "Hi"}]
    msg = body["message"]
    assert msg["subaccount"] == "sub-1"
    assert msg["important"] is True
    assert msg["merge_vars"] == [
        {"rcpt": "to@example.com", "vars": [{"name": "NAME", "content": "To"}]}
    ]
    assert msg["global_merge_vars"] == [{"name": "COMPANY", "content": "Example"}]
    assert msg["recipient_metadata"] == [{"rcpt": "to@example.com", "values": {"user_id": 7}}]
    assert "subject" not in msg
    assert "from_email" not in msg
    assert "from_name" not in msg


def test_esp_extra_wins_over_djrill_attributes(mandrill):
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.subaccount = "old"
    message.esp_extra = {"message": {"subaccount": "new"}}
    with pytest.warns(AnymailDeprecationWarning):
        message.send()
    assert sent_body(mandrill)["message"]["subaccount"] == "new"


def test_plain_messages_get_no_djrill_warning(mandrill):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        send(tags=["a"], metadata={"k": "v"}, send_at=datetime(2030, 1, 1, tzinfo=UTC))


def test_description_imports_nothing_and_backend_no_client_library():
    code = (
        "import django; django.setup(); "
        "import sys, anymail.esps.mandrill; "
        "assert not {'anymail.backends.mandrill', 'anymail.webhooks.mandrill'} & set(sys.modules); "
        "import anymail.backends.mandrill, anymail.webhooks.mandrill; "
        "bad = {'boto3', 'mailchimp_transactional', 'mandrill'} & set(sys.modules); "
        "assert not bad, bad"
    )
    checks.run_python(code)
