"""SendGrid's backend against a real HTTP server on 127.0.0.1 (the conformance profile's
fake Mail Send API, which refuses any request that breaks SendGrid's OpenAPI
description): what is particular to SendGrid. The shared conformance suite proves
the rest."""

import json
import uuid
from datetime import UTC, datetime
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.utils import parseaddr

import pytest
from django.test import override_settings

from anymail.conformance.sendgrid.profile import API_KEY, PROFILE, mail_send_violations
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import attach_inline_image
from anymail.testing import get_connection
from anymail_conformance import FakeESPServer, FakeResponse
from anymail_conformance import package_checks as checks
from anymail_conformance.package_checks import PNG
from anymail_conformance.package_checks import make_message as make
from anymail_conformance.package_checks import send_message as send


@pytest.fixture
def server():
    """The profile's fake API; every test ends with no request SendGrid would refuse."""
    with PROFILE.server() as fake:
        yield fake
        assert PROFILE.violations == []


@pytest.fixture
def sendgrid(settings, server):
    return checks.use_fake_api(settings, PROFILE, server)


def sent_body(server, index=-1):
    """The JSON body of a captured Mail Send call."""
    return PROFILE.send_requests(server)[index].json()


def is_uuid(value):
    return str(uuid.UUID(value)) == value


# --- the request


def test_send_posts_mail_send_json_with_bearer_auth(sendgrid):
    message = make(
        to=['"Recipient, Inc." <to@example.com>', "to2@example.com"],
        cc=["Cc Person <cc@example.com>"],
        bcc=["bcc@example.com"],
        reply_to=["Reply <reply@example.com>"],
    )
    message.attach_alternative("<p>HTML</p>", "text/html")
    message.send()
    [request] = PROFILE.send_requests(sendgrid)
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.content_type == "application/json"
    body = request.json()
    assert body["from"] == {"email": "from@example.com", "name": "Sender"}
    assert body["reply_to"] == {"email": "reply@example.com", "name": "Reply"}
    assert "reply_to_list" not in body  # one Reply-To is sent as reply_to
    assert body["subject"] == "Subject"
    assert body["content"] == [
        {"type": "text/plain", "value": "Body"},
        {"type": "text/html", "value": "<p>HTML</p>"},
    ]
    [personalization] = body["personalizations"]
    assert personalization["to"] == [
        {"email": "to@example.com", "name": "Recipient, Inc."},
        {"email": "to2@example.com"},
    ]
    assert personalization["cc"] == [{"email": "cc@example.com", "name": "Cc Person"}]
    assert personalization["bcc"] == [{"email": "bcc@example.com"}]
    anymail_id = personalization["custom_args"]["anymail_id"]
    assert is_uuid(anymail_id)

    status = message.anymail_status
    assert status.status == {"queued"}
    assert status.message_id == anymail_id
    assert set(status.recipients) == {
        "to@example.com",
        "to2@example.com",
        "cc@example.com",
        "bcc@example.com",
    }


def test_text_part_always_comes_first(sendgrid):
    """SendGrid requires text/plain, then text/html, then any other part."""
    message = make(body="<p>HTML body</p>")
    message.content_subtype = "html"
    message.attach_alternative("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")
    message.attach_alternative("Plain text", "text/plain")
    message.send()
    assert [part["type"] for part in sent_body(sendgrid)["content"]] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]


def test_bytes_alternative_is_sent_as_text(sendgrid):
    message = make()
    message.attach_alternative("Grüße".encode(), "text/x-amp-html")
    message.send()
    assert sent_body(sendgrid)["content"][1] == {"type": "text/x-amp-html", "value": "Grüße"}

    message = make()
    message.attach_alternative(b"\xff\xfe", "text/calendar")
    with pytest.raises(AnymailSerializationError, match="text/calendar"):
        message.send()
    assert PROFILE.request_count(sendgrid) == 1


def test_each_message_gets_its_own_anymail_id(sendgrid):
    first, second = send(), send()
    assert first.anymail_status.message_id != second.anymail_status.message_id
    assert sent_body(sendgrid, 1)["personalizations"][0]["custom_args"] == {
        "anymail_id": second.anymail_status.message_id
    }


def test_generate_message_id_off(sendgrid, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_GENERATE_MESSAGE_ID": False}
    message = send(metadata={"order": "1"})
    assert sent_body(sendgrid)["personalizations"][0]["custom_args"] == {"order": "1"}
    assert message.anymail_status.message_id is None
    assert message.anymail_status.status == {"queued"}

    message = send()
    assert "custom_args" not in sent_body(sendgrid)["personalizations"][0]


def test_batch_send_gives_each_to_recipient_its_own_anymail_id(sendgrid):
    message = send(
        to=["alice@example.com", "Bob <bob@example.com>"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        merge_data={"alice@example.com": {"name": "Alice"}, "bob@example.com": {"name": "Bob"}},
    )
    personalizations = sent_body(sendgrid)["personalizations"]
    assert [p["to"] for p in personalizations] == [
        [{"email": "alice@example.com"}],
        [{"email": "bob@example.com", "name": "Bob"}],
    ]
    # cc and bcc are copied into every personalization
    assert all(p["cc"] == [{"email": "cc@example.com"}] for p in personalizations)
    assert all(p["bcc"] == [{"email": "bcc@example.com"}] for p in personalizations)
    ids = [p["custom_args"]["anymail_id"] for p in personalizations]
    assert len(set(ids)) == 2
    recipients = message.anymail_status.recipients
    assert recipients["alice@example.com"].message_id == ids[0]
    assert recipients["bob@example.com"].message_id == ids[1]
    # a cc or bcc gets a copy of each: its status carries the first copy's id
    assert recipients["cc@example.com"].message_id == ids[0]
    assert message.anymail_status.message_id == set(ids)


def test_internationalized_domains_are_sent_as_idna(sendgrid):
    """SendGrid's spec types every address "format: email" (RFC 5321, ASCII): a
    domain like bücher.example goes in its IDNA form; names and local parts stay."""
    message = send(
        from_email="Zoë <from@bücher.example>",
        to=["Jürgen Müller <user@bücher.example>", "ascii@example.com"],
        cc=['"Last, First" <cc@münchen.example>'],
        bcc=["bcc@bücher.example"],
        reply_to=["Ré Ply <reply@bücher.example>"],
        merge_data={"user@bücher.example": {"name": "Jürgen"}, "ascii@example.com": {}},
        merge_metadata={"user@bücher.example": {"order": "7"}},
    )
    body = sent_body(sendgrid)  # (the fake API refused nothing: see the fixture)
    assert body["from"] == {"email": "from@xn--bcher-kva.example", "name": "Zoë"}
    assert body["reply_to"] == {"email": "reply@xn--bcher-kva.example", "name": "Ré Ply"}
    first, second = body["personalizations"]
    assert first["to"] == [{"email": "user@xn--bcher-kva.example", "name": "Jürgen Müller"}]
    assert second["to"] == [{"email": "ascii@example.com"}]
    assert first["cc"] == [{"email": "cc@xn--mnchen-3ya.example", "name": "Last, First"}]
    assert first["bcc"] == [{"email": "bcc@xn--bcher-kva.example"}]
    # merge data and merge metadata still find the recipient they were keyed by
    assert first["substitutions"] == {"name": "Jürgen"}
    assert first["custom_args"]["order"] == "7"
    # anymail_status is keyed by the addresses as the message gave them
    recipients = message.anymail_status.recipients
    assert set(recipients) == {
        "user@bücher.example",
        "ascii@example.com",
        "cc@münchen.example",
        "bcc@bücher.example",
    }
    assert recipients["user@bücher.example"].message_id == first["custom_args"]["anymail_id"]


def test_several_reply_to_addresses_are_sent_as_reply_to_list(sendgrid):
    """SendGrid's reply_to takes one address; several go in reply_to_list instead
    (never both: SendGrid refuses a request with both). IDNA applies there too."""
    send(reply_to=["Reply One <reply1@example.com>", "Ré Ply <reply2@bücher.example>"])
    body = sent_body(sendgrid)  # (the fake API refused nothing: see the fixture)
    assert body["reply_to_list"] == [
        {"email": "reply1@example.com", "name": "Reply One"},
        {"email": "reply2@xn--bcher-kva.example", "name": "Ré Ply"},
    ]
    assert "reply_to" not in body
    # the conformance profile reads reply_to_list back as the message's Reply-To
    [sent] = PROFILE.sent_messages(sendgrid)
    assert [parseaddr(address)[1] for address in sent.reply_to] == [
        "reply1@example.com",
        "reply2@xn--bcher-kva.example",
    ]


def test_repeated_reply_to_addresses_are_sent_once(sendgrid):
    """SendGrid wants each reply_to_list address once: a repeat (compared in IDNA
    form, ignoring case) is left out, keeping the first one's name."""
    send(
        reply_to=[
            "First <reply@bücher.example>",
            "b@example.com",
            "Second <REPLY@xn--bcher-kva.example>",
            "B@Example.com",
        ]
    )
    body = sent_body(sendgrid)
    assert body["reply_to_list"] == [
        {"email": "reply@xn--bcher-kva.example", "name": "First"},
        {"email": "b@example.com"},
    ]
    # two that are one address: a single reply_to
    send(reply_to=["Same <same@example.com>", "same@example.com"])
    body = sent_body(sendgrid)
    assert body["reply_to"] == {"email": "same@example.com", "name": "Same"}
    assert "reply_to_list" not in body


def test_invalid_internationalized_domain_is_refused_before_sending(sendgrid):
    from anymail.exceptions import AnymailInvalidAddress

    with pytest.raises(AnymailInvalidAddress, match="domain"):
        send(to=["user@" + "ü" * 70 + ".example"])  # a label too long for IDNA
    assert PROFILE.request_count(sendgrid) == 0


def test_metadata_and_merge_metadata_are_string_custom_args(sendgrid):
    send(
        to=["alice@example.com", "bob@example.com"],
        metadata={"customer": 123, "flags": {"vip": True}, "campaign": "spring"},
        merge_metadata={"alice@example.com": {"customer": 456, "order": "A-1"}},
    )
    first, second = sent_body(sendgrid)["personalizations"]
    assert first["custom_args"] == {
        "customer": "456",
        "flags": '{"vip":true}',
        "campaign": "spring",
        "order": "A-1",
        "anymail_id": first["custom_args"]["anymail_id"],
    }
    assert second["custom_args"] == {
        "customer": "123",
        "flags": '{"vip":true}',
        "campaign": "spring",
        "anymail_id": second["custom_args"]["anymail_id"],
    }
    assert "substitutions" not in first  # merge_metadata alone: no merge data


def test_send_at_tags_and_tracking(sendgrid):
    send(
        send_at=datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        tags=["receipt", "Order Confirmation", "receipt"],
        track_clicks=True,
        track_opens=False,
    )
    body = sent_body(sendgrid)
    assert body["send_at"] == 1893553445
    assert body["categories"] == ["receipt", "Order Confirmation"]  # repeats dropped
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": True},
        "open_tracking": {"enable": False},
    }


def test_more_than_ten_tags(sendgrid, settings):
    tags = [f"tag{n}" for n in range(12)]
    with pytest.raises(AnymailUnsupportedFeature, match="10 categories") as raised:
        send(tags=tags)
    assert raised.value.feature == "tags"
    assert PROFILE.request_count(sendgrid) == 0

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(tags=tags)
    assert sent_body(sendgrid)["categories"] == tags[:10]


def test_extra_headers_and_those_sendgrid_refuses(sendgrid, settings):
    send(headers={"X-Custom": "value", "List-Unsubscribe": "<mailto:u@example.com>"})
    assert sent_body(sendgrid)["headers"] == {
        "X-Custom": "value",
        "List-Unsubscribe": "<mailto:u@example.com>",
    }

    with pytest.raises(AnymailUnsupportedFeature, match="Subject header") as raised:
        send(headers={"X-Custom": "value", "Subject": "other"})
    assert raised.value.feature == "headers"
    assert PROFILE.request_count(sendgrid) == 1

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(headers={"X-Custom": "value", "CC": "x@example.com"})
    assert sent_body(sendgrid)["headers"] == {"X-Custom": "value"}


def test_attachments_and_inline_images(sendgrid):
    message = make()
    message.attach("résumé.txt", "Ünïcode", "text/plain")
    cid = attach_inline_image(message, PNG, "logo.png", subtype="png")
    nameless_inline = MIMEImage(PNG, "png")
    nameless_inline["Content-ID"] = "<nameless@example.com>"
    nameless_inline["Content-Disposition"] = "inline"
    message.attach(nameless_inline)
    message.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    message.send()
    attachments = sent_body(sendgrid)["attachments"]
    assert attachments[0] == {
        "content": "w5xuw69jb2Rl",
        "type": "text/plain",
        "disposition": "attachment",
        "filename": "résumé.txt",
    }
    assert attachments[1]["disposition"] == "inline"
    assert attachments[1]["content_id"] == cid
    assert attachments[1]["filename"] == "logo.png"
    # SendGrid requires a filename; an inline part without one is named by its cid
    assert attachments[2]["filename"] == attachments[2]["content_id"] == "nameless@example.com"


def test_attachment_without_filename_is_unsupported(sendgrid):
    message = make()
    message.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename") as raised:
        message.send()
    assert raised.value.feature == "attachments"
    assert PROFILE.request_count(sendgrid) == 0


def test_message_without_a_to_recipient_is_refused_before_sending(sendgrid):
    with pytest.raises(AnymailUnsupportedFeature, match="at least one 'to'"):
        send(to=[], bcc=["bcc@example.com"])
    assert PROFILE.request_count(sendgrid) == 0


# --- templates and merge data


def test_dynamic_template_merge_data(sendgrid):
    message = make(
        subject=None,
        body="",
        to=["alice@example.com", "Bob <bob@example.com>"],
        template_id="d-5a963add2ec84305813ff860db277d7a",
        merge_data={
            "alice@example.com": {"name": "Alice", "order": {"no": 12345, "items": [1, 2]}},
            "bob@example.com": {"name": "Bob", "ship_date": "May 16"},
        },
        merge_global_data={"ship_date": "May 15"},
    )
    message.send()
    body = sent_body(sendgrid)
    assert body["template_id"] == "d-5a963add2ec84305813ff860db277d7a"
    assert "subject" not in body  # the template's own
    assert "content" not in body
    first, second = body["personalizations"]
    assert first["dynamic_template_data"] == {
        "ship_date": "May 15",
        "name": "Alice",
        "order": {"no": 12345, "items": [1, 2]},  # Handlebars data stays structured
    }
    assert second["dynamic_template_data"] == {"ship_date": "May 16", "name": "Bob"}
    assert "substitutions" not in first


def test_dynamic_template_global_data_only(sendgrid):
    send(
        to=["alice@example.com", "bob@example.com"],
        template_id="d-abc",
        merge_global_data={"site": "Example"},
    )
    [personalization] = sent_body(sendgrid)["personalizations"]
    assert len(personalization["to"]) == 2  # not a batch send
    assert personalization["dynamic_template_data"] == {"site": "Example"}


def test_legacy_template_merge_field_format_setting(sendgrid, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_MERGE_FIELD_FORMAT": "-{}-"}
    send(
        subject="",
        body=None,
        to=["alice@example.com", "bob@example.com"],
        template_id="5997fcf6-2b9f-484d-acd5-7e9a99f0dc1f",
        merge_data={"alice@example.com": {"name": "Alice", "order_no": 12345}},
        merge_global_data={"ship_date": "May 15", "total": 9.5},
    )
    body = sent_body(sendgrid)
    assert body["template_id"] == "5997fcf6-2b9f-484d-acd5-7e9a99f0dc1f"
    assert "subject" not in body
    assert "content" not in body
    first, second = body["personalizations"]
    assert first["substitutions"] == {
        "-ship_date-": "May 15",
        "-total-": "9.5",
        "-name-": "Alice",
        "-order_no-": "12345",
    }
    # global merge data goes into every personalization (never SendGrid "sections")
    assert second["substitutions"] == {"-ship_date-": "May 15", "-total-": "9.5"}
    assert "sections" not in body


def test_esp_extra_merge_field_format_overrides_the_setting(sendgrid, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_MERGE_FIELD_FORMAT": "-{}-"}
    send(
        subject="Order {{order_no}}",
        body="Dear {{name}}",
        to=["alice@example.com"],
        merge_data={"alice@example.com": {"name": "Alice", "order_no": "12345"}},
        # Handlebars-style {{field}}: the docs' "{{ {{ {{ }} }} }}" without the spaces
        esp_extra={"merge_field_format": "{{{{{}}}}}"},
    )
    body = sent_body(sendgrid)
    assert "merge_field_format" not in body  # Anymail's own key, not sent
    assert "template_id" not in body  # an on-the-fly template
    assert body["personalizations"][0]["substitutions"] == {
        "{{name}}": "Alice",
        "{{order_no}}": "12345",
    }


def test_legacy_merge_fields_without_a_format_are_literal_keys(sendgrid):
    send(
        to=["alice@example.com"],
        template_id="legacy-id",
        merge_data={"alice@example.com": {"-name-": "Alice"}},
    )
    assert sent_body(sendgrid)["personalizations"][0]["substitutions"] == {"-name-": "Alice"}


def test_legacy_substitutions_must_be_text(sendgrid):
    with pytest.raises(AnymailSerializationError) as raised:
        send(
            to=["alice@example.com"],
            template_id="legacy-id",
            merge_data={"alice@example.com": {"items": ["a", "b"]}},
        )
    assert raised.value.field == "merge_data['alice@example.com']['items']"
    assert "dynamic template" in str(raised.value)
    with pytest.raises(AnymailSerializationError) as raised:
        send(merge_global_data={"vip": True})
    assert raised.value.field == "merge_global_data['vip']"
    assert PROFILE.request_count(sendgrid) == 0


@pytest.mark.parametrize("merge_field_format", ["{name}", "{0", 7])
def test_unusable_merge_field_format_is_a_configuration_error(settings, merge_field_format):
    settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
    settings.ANYMAIL = {
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_MERGE_FIELD_FORMAT": merge_field_format,
    }
    with pytest.raises(AnymailConfigurationError, match="SENDGRID_MERGE_FIELD_FORMAT"):
        get_connection()


# --- esp_extra


def test_esp_extra_is_deep_merged(sendgrid):
    send(
        track_opens=True,
        subject="Anymail's subject",
        esp_extra={
            "asm": {"group_id": 1, "groups_to_display": [1, 2, 3]},
            "tracking_settings": {"open_tracking": {"substitution_tag": "%OPEN_TRACKING_PIXEL%"}},
            "subject": "esp_extra wins",
            "personalizations": {"headers": {"X-Each": "1"}},
        },
    )
    body = sent_body(sendgrid)
    assert body["asm"] == {"group_id": 1, "groups_to_display": [1, 2, 3]}
    assert body["tracking_settings"]["open_tracking"] == {
        "enable": True,  # Anymail's, from track_opens
        "substitution_tag": "%OPEN_TRACKING_PIXEL%",
    }
    assert body["subject"] == "esp_extra wins"
    assert body["personalizations"][0]["headers"] == {"X-Each": "1"}
    assert body["personalizations"][0]["to"] == [{"email": "to@example.com"}]


def test_esp_extra_reply_to_or_reply_to_list_replaces_the_other(sendgrid):
    """SendGrid refuses reply_to with reply_to_list: the one in esp_extra wins, and
    Anymail's other one is not sent."""
    send(
        reply_to=["reply@example.com"],
        esp_extra={"reply_to_list": [{"email": "a@example.com"}, {"email": "b@example.com"}]},
    )
    body = sent_body(sendgrid)
    assert body["reply_to_list"] == [{"email": "a@example.com"}, {"email": "b@example.com"}]
    assert "reply_to" not in body

    send(
        reply_to=["one@example.com", "two@example.com"],
        esp_extra={"reply_to": {"email": "only@example.com", "name": "Only"}},
    )
    body = sent_body(sendgrid)
    assert body["reply_to"] == {"email": "only@example.com", "name": "Only"}
    assert "reply_to_list" not in body


def test_esp_extra_personalizations_dict_is_merged_into_each(sendgrid):
    send(
        to=["alice@example.com", "bob@example.com"],
        merge_metadata={"alice@example.com": {"a": "1"}, "bob@example.com": {"b": "2"}},
        esp_extra={"personalizations": {"custom_args": {"source": "extra"}, "send_at": 1893553445}},
    )
    first, second = sent_body(sendgrid)["personalizations"]
    assert (first["custom_args"]["a"], first["custom_args"]["source"]) == ("1", "extra")
    assert (second["custom_args"]["b"], second["custom_args"]["source"]) == ("2", "extra")
    assert first["send_at"] == second["send_at"] == 1893553445
    assert is_uuid(first["custom_args"]["anymail_id"])


def test_esp_extra_personalizations_list_replaces_them(sendgrid):
    message = send(
        to=["ignored@example.com"],
        metadata={"not": "sent"},
        esp_extra={
            "personalizations": [
                {"to": [{"email": "one@example.com"}], "subject": "For one"},
                {"to": [{"email": "two@example.com"}], "custom_args": {"anymail_id": "mine"}},
            ]
        },
    )
    first, second = sent_body(sendgrid)["personalizations"]
    assert first["to"] == [{"email": "one@example.com"}]
    assert first["subject"] == "For one"
    assert list(first["custom_args"]) == ["anymail_id"]  # added, for status tracking
    assert second["custom_args"] == {"anymail_id": "mine"}  # the caller's own is kept
    recipients = message.anymail_status.recipients
    assert set(recipients) == {"one@example.com", "two@example.com"}
    assert recipients["one@example.com"].message_id == first["custom_args"]["anymail_id"]
    assert recipients["two@example.com"].message_id == "mine"


def test_esp_extra_personalizations_must_be_dict_or_list(sendgrid):
    with pytest.raises(AnymailSerializationError, match="dict"):
        send(esp_extra={"personalizations": "to@example.com"})
    assert PROFILE.request_count(sendgrid) == 0


def test_esp_extra_from_send_defaults(sendgrid, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SENDGRID_SEND_DEFAULTS": {"esp_extra": {"ip_pool_name": "transactional"}},
    }
    send(esp_extra={"asm": {"group_id": 7}})
    body = sent_body(sendgrid)
    assert body["ip_pool_name"] == "transactional"
    assert body["asm"] == {"group_id": 7}


# --- settings


@pytest.mark.parametrize("place", checks.SETTING_PLACES)
def test_api_key_setting_spellings(server, settings, place):
    url = f"{server.url}/v3/"
    options = checks.set_esp_settings(
        settings, place, "sendgrid", {"api_key": API_KEY}, SENDGRID_API_URL=url
    )
    connection = get_connection("anymail.backends.sendgrid.EmailBackend", **options)
    make(connection=connection).send()
    assert PROFILE.send_requests(server)[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_missing_api_key_names_the_setting(settings):
    settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
    with pytest.raises(AnymailConfigurationError, match="SENDGRID_API_KEY"):
        get_connection()


def test_api_url_default_and_eu(settings):
    from anymail.backends.sendgrid import EmailBackend

    settings.ANYMAIL = {"SENDGRID_API_KEY": API_KEY}
    assert EmailBackend().api_url == "https://api.sendgrid.com/v3/"
    settings.ANYMAIL = {
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_URL": "https://api.eu.sendgrid.com/v3",
    }
    assert EmailBackend().api_url == "https://api.eu.sendgrid.com/v3/"


# --- errors and responses


@pytest.fixture
def answering(settings):
    """A server that always gives one answer (for error responses)."""

    def start(response):
        server = FakeESPServer(response).start()
        settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
        settings.ANYMAIL = {"SENDGRID_API_KEY": API_KEY, "SENDGRID_API_URL": f"{server.url}/v3/"}
        started.append(server)
        return server

    started = []
    yield start
    for server in started:
        server.stop()


def test_api_error_carries_sendgrid_messages(answering):
    answering(
        FakeResponse.json(
            {
                "errors": [
                    {
                        "message": "The from email does not contain a valid address.",
                        "field": "from.email",
                        "help": None,
                    },
                    {"message": "Bad request, and the key was " + API_KEY, "field": None},
                ]
            },
            400,
        )
    )
    with pytest.raises(AnymailAPIError) as raised:
        send()
    text = str(raised.value)
    assert raised.value.status_code == 400
    assert "SendGrid: The from email does not contain a valid address. (field from.email)" in text
    assert API_KEY not in text  # secrets are redacted


def test_unauthorized_hints_at_the_key_and_eu_region(answering):
    answering(
        FakeResponse.json({"errors": [{"message": "authorization required", "field": None}]}, 401)
    )
    with pytest.raises(AnymailAPIError) as raised:
        send()
    assert "SENDGRID_API_KEY" in str(raised.value)
    assert "api.eu.sendgrid.com" in str(raised.value)


def test_success_must_not_have_a_foreign_body(answering):
    answering(FakeResponse(200, "<html>Welcome to nginx</html>", {"Content-Type": "text/html"}))
    with pytest.raises(AnymailAPIError, match="Invalid JSON"):
        send()


def test_sandbox_mode_200_is_success(answering):
    server = answering(FakeResponse(200, b""))
    message = send(esp_extra={"mail_settings": {"sandbox_mode": {"enable": True}}})
    assert message.anymail_status.status == {"queued"}
    body = server.requests[0].json()
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert mail_send_violations(body) == []


def test_debug_api_requests_redacts_the_key(sendgrid, settings, capsys):
    output = checks.debug_output(settings, capsys, send)
    assert "POST" in output
    assert "/v3/mail/send" in output
    assert API_KEY not in output


# --- packaging


def test_importing_sendgrid_modules_imports_no_heavy_dependency():
    """cryptography is imported only when a verification key is set; jsonschema only
    by the test profile."""
    code = (
        "import django; django.setup(); import sys; "
        "import anymail.esps.sendgrid, anymail.backends.sendgrid, anymail.webhooks.sendgrid; "
        "bad = {'cryptography', 'jsonschema', 'boto3'} & set(sys.modules); assert not bad, bad"
    )
    checks.run_python(code)


def test_openapi_description_ships_with_its_notice():
    from anymail.conformance.sendgrid.profile import SPEC_PATH

    notice = SPEC_PATH.with_name("NOTICE.md").read_text(encoding="utf-8")
    assert "Copyright (c) 2024 Twilio" in notice
    assert "MIT" in notice
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    assert "/v3/mail/send" in spec["paths"]


@override_settings(ANYMAIL={})
def test_schema_check_catches_what_sendgrid_refuses():
    """The fake API's check is real: it finds what SendGrid's schema forbids."""
    problems = mail_send_violations(
        {
            "from": {"email": "from@example.com"},
            "personalizations": [{"cc": [{"email": "cc@bücher.example"}]}],
            "content": [{"type": "text/plain", "value": ""}],
            "custom_args": {"top": "level"},
        }
    )
    assert any("'to' is a required property" in p for p in problems)
    assert any("is not a 'email'" in p for p in problems)
    assert any(p.startswith("content.0.value") for p in problems)
    assert any(p.startswith("custom_args") for p in problems)


@override_settings(ANYMAIL={})
def test_schema_check_catches_reply_to_rules_sendgrid_states_in_prose():
    """reply_to with reply_to_list, and a repeated reply_to_list address, are refused
    (SendGrid's Mail Send overview; the OpenAPI description says so only in prose)."""
    base = {
        "from": {"email": "from@example.com"},
        "personalizations": [{"to": [{"email": "to@example.com"}]}],
    }
    both = mail_send_violations(
        {
            **base,
            "reply_to": {"email": "a@example.com"},
            "reply_to_list": [{"email": "b@example.com"}, {"email": "c@example.com"}],
        }
    )
    assert any("reply_to_list" in p and "mutually exclusive" in p for p in both), both
    repeated = mail_send_violations(
        {
            **base,
            "reply_to_list": [{"email": "a@example.com", "name": "A"}, {"email": "A@example.com"}],
        }
    )
    assert any(p.startswith("reply_to_list.1") and "A@example.com" in p for p in repeated), repeated
    too_many = mail_send_violations(
        {**base, "reply_to_list": [{"email": f"r{n}@example.com"} for n in range(1001)]}
    )
    assert any(p.startswith("reply_to_list") for p in too_many), too_many
    one_each = mail_send_violations(
        {**base, "reply_to_list": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
    )
    assert one_each == []
