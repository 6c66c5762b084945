"""Mailjet's backend against a real HTTP server on 127.0.0.1 (the conformance
FakeESPServer, answering like Send API v3): what is particular to Mailjet. The
shared conformance suite proves the rest."""

import json
import os
import subprocess
import sys
from base64 import b64encode
from email.header import decode_header, make_header
from email.utils import getaddresses
from pathlib import Path

import pytest

from anymail.conformance.mailjet.profile import PROFILE
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import get_connection
from anymail_conformance.fake_server import FakeESPServer, FakeResponse

API_KEY = "mj-public-key-1234"
SECRET_KEY = "mj-private-secret-5678"
REPO_ROOT = Path(__file__).resolve().parents[3]
#: Beyond 2**53: a float-based JSON parser would round it.
BIG_ID = 288230376151711749


class MailjetAPI:
    """Answers like Send API v3: a Sent entry with its own MessageID for each
    recipient (or ``reply`` when a test sets it). Template reads get the conformance
    profile's template API (its ``TEMPLATES``)."""

    def __init__(self) -> None:
        self.reply: FakeResponse | None = None
        self.next_id = BIG_ID

    def __call__(self, request):
        if self.reply is not None:
            return self.reply
        if request.method == "GET":
            return PROFILE.template_content(request)
        body = request.json()
        sent = []
        for message in body.get("Messages") or [body]:
            emails = [item["Email"] for item in message.get("Recipients", ())]
            for key in ("To", "Cc", "Bcc"):
                emails += [addr for _name, addr in getaddresses([message.get(key, "")]) if addr]
            for email in emails:
                sent.append({"Email": email, "MessageID": self.next_id})
                self.next_id += 1
        return FakeResponse.json({"Sent": sent})


@pytest.fixture
def api():
    return MailjetAPI()


@pytest.fixture
def server(api):
    with FakeESPServer(api) as fake:
        yield fake


@pytest.fixture
def mailjet(settings, server):
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {
        "MAILJET_API_KEY": API_KEY,
        "MAILJET_SECRET_KEY": SECRET_KEY,
        "MAILJET_API_URL": f"{server.url}/v3",
    }
    return server


def send(**kwargs):
    kwargs.setdefault("from_email", "Sender <from@example.com>")
    kwargs.setdefault("to", ["to@example.com"])
    kwargs.setdefault("subject", "Subject")
    kwargs.setdefault("body", "Body")
    message = AnymailMessage(**kwargs)
    message.send()
    return message


def posted(server, index=-1):
    return server.requests[index].json()


def split_recipients(value):
    """How Send API v3 reads a To/Cc/Bcc string: split at every comma."""
    return [part.strip() for part in value.split(",")]


# --- the request ---


def test_send_posts_v3_send_with_basic_auth(mailjet):
    message = send(
        to=["Recipient <to@example.com>", "to2@example.com"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        reply_to=["Reply <reply@example.com>"],
        headers={"X-Custom": "value"},
    )
    message_html = AnymailMessage(
        subject="s", body="text", from_email="from@example.com", to=["to@example.com"]
    )
    message_html.attach_alternative("<p>html</p>", "text/html")
    message_html.send()

    request = mailjet.requests[0]
    assert request.method == "POST"
    assert request.path == "/v3/send"
    assert request.headers["Authorization"] == (
        "Basic " + b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
    )
    assert request.content_type == "application/json"
    assert request.json() == {
        "FromEmail": "from@example.com",
        "FromName": "Sender",
        "To": "Recipient <to@example.com>, to2@example.com",
        "Cc": "cc@example.com",
        "Bcc": "bcc@example.com",
        "Subject": "Subject",
        "Text-part": "Body",
        "Headers": {"Reply-To": "Reply <reply@example.com>", "X-Custom": "value"},
    }
    assert posted(mailjet)["Html-part"] == "<p>html</p>"
    assert posted(mailjet)["Text-part"] == "text"
    assert message.anymail_status.status == {"sent"}


def test_status_has_each_recipients_exact_message_id(mailjet):
    message = send(to=["a@example.com", "b@example.com"], cc=["c@example.com"])
    recipients = message.anymail_status.recipients
    assert recipients["a@example.com"].message_id == str(BIG_ID)
    assert recipients["b@example.com"].message_id == str(BIG_ID + 1)
    assert recipients["c@example.com"].message_id == str(BIG_ID + 2)
    assert {r.status for r in recipients.values()} == {"sent"}
    assert message.anymail_status.message_id == {str(BIG_ID + n) for n in range(3)}


def test_recipient_missing_from_sent_is_unknown(mailjet, api):
    api.reply = FakeResponse.json({"Sent": [{"Email": "A@Example.com", "MessageID": 12}]})
    message = send(to=["a@example.com", "b@example.com"])
    recipients = message.anymail_status.recipients
    assert (recipients["a@example.com"].status, recipients["a@example.com"].message_id) == (
        "sent",
        "12",
    )
    assert (recipients["b@example.com"].status, recipients["b@example.com"].message_id) == (
        "unknown",
        None,
    )


def test_response_without_sent_list_is_an_api_error(mailjet, api):
    api.reply = FakeResponse.json({"Messages": []})
    with pytest.raises(AnymailAPIError, match="no Sent list"):
        send()


# --- commas in display names ---


def test_comma_in_display_name_becomes_an_encoded_word(mailjet):
    send(
        to=['"Widgets, Inc." <widgets@example.com>', "Ünïcode Name <u@example.com>"],
        cc=['"Doe, Jane" <jane@example.com>'],
        bcc=['"Ünï, Code" <bcc@example.com>'],
    )
    body = posted(mailjet)
    to = split_recipients(body["To"])
    # Split at commas as Mailjet does, each piece is still one whole address.
    assert len(to) == 2
    [(name, addr)] = getaddresses([to[0]])
    assert name.startswith("=?utf-8?")
    assert (str(make_header(decode_header(name))), addr) == ("Widgets, Inc.", "widgets@example.com")
    # Names without a comma are left readable.
    assert to[1] == "Ünïcode Name <u@example.com>"
    [(name, _)] = getaddresses(split_recipients(body["Cc"]))
    assert str(make_header(decode_header(name))) == "Doe, Jane"
    [(name, _)] = getaddresses(split_recipients(body["Bcc"]))
    assert str(make_header(decode_header(name))) == "Ünï, Code"


def test_from_name_and_batch_names_need_no_workaround(mailjet):
    send(
        from_email='"Shop, Inc." <shop@example.com>',
        to=['"Doe, Jane" <jane@example.com>'],
        merge_data={"jane@example.com": {"name": "Jane"}},
    )
    body = posted(mailjet)
    assert body["FromName"] == "Shop, Inc."
    assert body["Recipients"] == [
        {"Email": "jane@example.com", "Name": "Doe, Jane", "Vars": {"name": "Jane"}}
    ]


# --- batch sending, templates, merge data ---


def test_merge_data_to_to_recipients_uses_recipients(mailjet):
    message = send(
        to=["Alice <alice@example.com>", "bob@example.com", "carol@example.com"],
        body="Dear [[var:name]]: order [[var:order_no]] ships [[var:ship_date]].",
        merge_data={
            "alice@example.com": {"name": "Alice", "order_no": "12345"},
            "bob@example.com": {"name": "Bob", "order_no": "54321"},
        },
        merge_global_data={"ship_date": "May 15"},
        metadata={"batch": "7"},
    )
    body = posted(mailjet)
    assert "To" not in body
    assert "Messages" not in body
    assert body["Recipients"] == [
        {
            "Email": "alice@example.com",
            "Name": "Alice",
            "Vars": {"name": "Alice", "order_no": "12345"},
        },
        {"Email": "bob@example.com", "Vars": {"name": "Bob", "order_no": "54321"}},
        {"Email": "carol@example.com"},
    ]
    assert body["Vars"] == {"ship_date": "May 15"}
    assert json.loads(body["Mj-EventPayLoad"]) == {"batch": "7"}
    assert "Mj-TemplateLanguage" not in body  # on-the-fly [[var:x]] needs no template language
    assert len(set(message.anymail_status.message_id)) == 3


def test_merge_data_with_cc_and_bcc_sends_one_message_per_to_recipient(mailjet):
    """Anymail 6.0: merge_data may be used with cc and bcc."""
    message = send(
        to=["Alice <alice@example.com>", "bob@example.com"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        merge_data={"alice@example.com": {"name": "Alice"}, "bob@example.com": {"name": "Bob"}},
        merge_global_data={"site": "Example", "name": "Customer"},
        metadata={"batch": "7"},
        tags=["receipt"],
        esp_extra={"Mj-prio": 3},
    )
    body = posted(mailjet)
    assert list(body) == ["Messages"]
    first, second = body["Messages"]
    for message_body in (first, second):
        assert message_body["FromEmail"] == "from@example.com"
        assert message_body["Subject"] == "Subject"
        assert message_body["Cc"] == "cc@example.com"
        assert message_body["Bcc"] == "bcc@example.com"
        assert message_body["Mj-campaign"] == "receipt"
        assert message_body["Mj-prio"] == 3
        assert json.loads(message_body["Mj-EventPayLoad"]) == {"batch": "7"}
        assert "Recipients" not in message_body
    assert (first["To"], first["Vars"]) == (
        "Alice <alice@example.com>",
        {"site": "Example", "name": "Alice"},
    )
    assert (second["To"], second["Vars"]) == (
        "bob@example.com",
        {"site": "Example", "name": "Bob"},
    )
    recipients = message.anymail_status.recipients
    assert set(recipients) == {
        "alice@example.com",
        "bob@example.com",
        "cc@example.com",
        "bcc@example.com",
    }
    # The cc'd recipient gets a copy of each message; its status has the first one's id.
    assert recipients["alice@example.com"].message_id == str(BIG_ID)
    assert recipients["cc@example.com"].message_id == str(BIG_ID + 1)


def test_merge_metadata_gives_each_message_its_own_payload(mailjet):
    send(
        to=["alice@example.com", "bob@example.com"],
        metadata={"batch": "7", "order": "none"},
        merge_metadata={"alice@example.com": {"order": "1"}},
    )
    first, second = posted(mailjet)["Messages"]
    assert json.loads(first["Mj-EventPayLoad"]) == {"batch": "7", "order": "1"}
    assert json.loads(second["Mj-EventPayLoad"]) == {"batch": "7", "order": "none"}
    assert "Vars" not in first


# --- a "to" recipient is required (issue #23) ---


@pytest.mark.parametrize(
    "recipients",
    [
        {"cc": ["cc@example.com"]},
        {"bcc": ["bcc@example.com"]},
        {"cc": ["cc@example.com"], "bcc": ["bcc@example.com"]},
        # batch sending goes to "to" recipients: with none, it was one plain message
        {"cc": ["cc@example.com"], "merge_data": {}, "merge_global_data": {"a": "b"}},
    ],
)
@pytest.mark.parametrize("ignore_unsupported", [False, True])
def test_cc_or_bcc_without_to_is_refused_and_nothing_sent(
    mailjet, settings, recipients, ignore_unsupported
):
    """Send API v3 answers 400 ('Missing "To" or "Recipients" property') to a message
    with no To: refuse it first, clearly, even under IGNORE_UNSUPPORTED_FEATURES."""
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": ignore_unsupported}
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        send(to=[], **recipients)
    error = str(raised.value)
    assert "at least one `to` recipient" in error
    assert "`cc` or `bcc`" in error
    assert mailjet.requests == []


def test_recipients_from_esp_extra_are_not_refused(mailjet):
    send(to=[], bcc=["bcc@example.com"], esp_extra={"To": "list@example.com"})
    body = posted(mailjet)
    assert (body["To"], body["Bcc"]) == ("list@example.com", "bcc@example.com")


# --- stored templates and the template's sender (issue #23) ---


def template_message(template_id="176375", **kwargs):
    """A stored-template message as the docs show it: no subject or body, and
    from_email = None (set after construction) to use the template's sender."""
    message = AnymailMessage(to=["alice@example.com", "Bob <bob@example.com>"], **kwargs)
    message.template_id = template_id
    message.from_email = None
    return message


def test_stored_template_uses_the_sender_stored_with_the_template(mailjet):
    """Send API v3 needs FromEmail: with from_email = None, Anymail reads the
    template's "From" through the template API, then sends with it (Anymail 6.0)."""
    message = template_message()
    message.merge_data = {
        "alice@example.com": {"name": "Alice"},
        "bob@example.com": {"name": "Bob"},
    }
    message.merge_global_data = {"ship_date": "May 15"}
    message.send()
    lookup, send_request = mailjet.requests
    assert (lookup.method, lookup.path) == ("GET", "/v3/REST/template/176375/detailcontent")
    assert lookup.headers["Authorization"] == (
        "Basic " + b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
    )
    assert (send_request.method, send_request.path) == ("POST", "/v3/send")
    body = send_request.json()
    assert body["Mj-TemplateID"] == 176375  # a number: Mailjet reads a string as a name
    assert body["Mj-TemplateLanguage"] is True
    assert (body["FromEmail"], body["FromName"]) == ("orders@example.com", "Order Desk")
    assert "Subject" not in body
    assert "Text-part" not in body
    assert body["Vars"] == {"ship_date": "May 15"}
    assert [item["Email"] for item in body["Recipients"]] == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert message.anymail_status.status == {"sent"}
    # (The message itself is left as the caller set it.)
    assert message.from_email is None


def test_template_sender_goes_to_every_message_of_a_batch_with_one_lookup(mailjet):
    message = template_message(cc=["cc@example.com"])
    message.merge_data = {"alice@example.com": {"name": "Alice"}}
    message.send()
    lookups = [request for request in mailjet.requests if request.method == "GET"]
    assert len(lookups) == 1
    messages = posted(mailjet)["Messages"]
    assert len(messages) == 2
    for item in messages:
        assert (item["FromEmail"], item["FromName"]) == ("orders@example.com", "Order Desk")


@pytest.mark.parametrize(
    ("template_id", "from_email", "from_name"),
    [
        # "<addr>" with an internationalized domain: sent in IDNA form, with no name
        ("176376", "bare@xn--bcher-kva.example", None),
        # a display name with an unquoted comma is one name, not two addresses
        ("176377", "widgets@example.com", "Widgets, Inc."),
    ],
)
def test_template_sender_forms(mailjet, template_id, from_email, from_name):
    template_message(template_id).send()
    body = posted(mailjet)
    assert body["FromEmail"] == from_email
    assert body.get("FromName") == from_name


def test_template_without_a_stored_sender_is_refused_and_nothing_sent(mailjet):
    message = template_message("176378")
    with pytest.raises(AnymailAPIError) as raised:
        message.send()
    error = str(raised.value)
    assert "template 176378 has no sender" in error
    assert "from_email" in error
    assert [request.method for request in mailjet.requests] == ["GET"]


def test_unknown_template_gives_mailjets_error_and_nothing_sent(mailjet):
    message = template_message("999999")
    with pytest.raises(AnymailAPIError) as raised:
        message.send()
    error = str(raised.value)
    assert raised.value.status_code == 404
    assert "Mailjet says: Object not found" in error
    assert "template 999999" in error
    assert SECRET_KEY not in error
    assert [request.method for request in mailjet.requests] == ["GET"]


def test_template_name_with_templates_sender_is_refused_before_any_call(mailjet):
    """The template API reads a template by numeric ID: a name (which v3 accepts in
    Mj-TemplateID) can't give its sender, so the message is refused, clearly."""
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        template_message("order-shipped").send()
    error = str(raised.value)
    assert "'order-shipped'" in error
    assert "numeric" in error
    assert "from_email" in error
    assert mailjet.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"from_email": "Shop <shop@example.com>"},
        {"esp_extra": {"FromEmail": "extra@example.com"}},
    ],
)
def test_template_with_a_sender_of_its_own_needs_no_lookup(mailjet, kwargs):
    message = AnymailMessage(to=["alice@example.com"], template_id="176375")
    if "from_email" in kwargs:
        message.from_email = kwargs["from_email"]
    else:
        message.from_email = None
        message.esp_extra = kwargs["esp_extra"]
    message.send()
    [request] = mailjet.requests
    assert request.method == "POST"
    assert request.json()["FromEmail"] in ("shop@example.com", "extra@example.com")


def test_template_sender_through_the_conformance_profiles_server(settings):
    """The profile's own fake server serves the template API, and counts only sends."""
    with PROFILE.server() as server:
        settings.ANYMAIL = PROFILE.backend_settings(server)
        settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
        template_message().send()
        [sent] = PROFILE.sent_messages(server)
        assert sent.from_email == ["Order Desk <orders@example.com>"]
        assert sent.template_id == "176375"
        assert PROFILE.request_count(server) == 1
        assert len(server.requests) == 2


# --- internationalized domains (issue #24 task 5) ---


def test_internationalized_domains_are_sent_in_idna_form(mailjet):
    message = send(
        from_email="Bücherei <shop@bücher.example>",
        to=["Ünïcode <to@bücher.example>", '"Doe, Jane" <jane@bücher.example>'],
        cc=["cc@bücher.example"],
        bcc=["bcc@bücher.example"],
        reply_to=["Reply <reply@bücher.example>"],
        envelope_sender="bounces@bücher.example",
    )
    body = posted(mailjet)
    assert (body["FromEmail"], body["FromName"]) == ("shop@xn--bcher-kva.example", "Bücherei")
    assert body["Sender"] == "bounces@xn--bcher-kva.example"
    to = split_recipients(body["To"])
    assert to[0] == "Ünïcode <to@xn--bcher-kva.example>"
    assert getaddresses([to[1]])[0][1] == "jane@xn--bcher-kva.example"
    assert body["Cc"] == "cc@xn--bcher-kva.example"
    assert body["Bcc"] == "bcc@xn--bcher-kva.example"
    assert body["Headers"]["Reply-To"] == "Reply <reply@xn--bcher-kva.example>"
    assert "bücher" not in json.dumps(body, ensure_ascii=False).replace("Bücherei", "")
    # Mailjet's Sent list names the IDNA addresses: each status is still found.
    recipients = message.anymail_status.recipients
    assert set(recipients) == {
        "to@bücher.example",
        "jane@bücher.example",
        "cc@bücher.example",
        "bcc@bücher.example",
    }
    assert {status.status for status in recipients.values()} == {"sent"}
    assert recipients["to@bücher.example"].message_id == str(BIG_ID)


@pytest.mark.parametrize("key", ["to@bücher.example", "to@xn--bcher-kva.example"])
def test_internationalized_batch_recipients_keep_their_merge_data(mailjet, key):
    send(
        to=["to@bücher.example", "other@example.com"],
        merge_data={key: {"name": "Ü"}},
        merge_metadata={key: {"order": "1"}},
        cc=["cc@bücher.example"],
    )
    first, second = posted(mailjet)["Messages"]
    assert first["To"] == "to@xn--bcher-kva.example"
    assert first["Cc"] == "cc@xn--bcher-kva.example"
    assert first["Vars"] == {"name": "Ü"}
    assert json.loads(first["Mj-EventPayLoad"]) == {"order": "1"}
    assert "Vars" not in second


def test_internationalized_recipients_list(mailjet):
    message = send(to=["Ünïcode <to@bücher.example>"], merge_data={"to@bücher.example": {"n": 1}})
    assert posted(mailjet)["Recipients"] == [
        {"Email": "to@xn--bcher-kva.example", "Name": "Ünïcode", "Vars": {"n": 1}}
    ]
    assert message.anymail_status.recipients["to@bücher.example"].status == "sent"


def test_template_name_is_sent_as_a_string(mailjet):
    send(template_id="order-shipped", body="")
    assert posted(mailjet)["Mj-TemplateID"] == "order-shipped"


# --- tags, tracking, envelope sender, unsupported features ---


def test_single_tag_is_the_campaign(mailjet):
    send(tags=["receipt"])
    assert posted(mailjet)["Mj-campaign"] == "receipt"


def test_two_tags_are_refused_or_cut_to_the_first(mailjet, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="only one tag"):
        send(tags=["receipt", "repeat-user"])
    assert mailjet.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(tags=["receipt", "repeat-user"])
    assert posted(mailjet)["Mj-campaign"] == "receipt"


def test_send_at_is_unsupported(mailjet):
    with pytest.raises(AnymailUnsupportedFeature, match="send_at"):
        send(send_at=1893456000)
    assert mailjet.requests == []


@pytest.mark.parametrize(("value", "expected"), [(True, 2), (False, 1)])
def test_tracking_overrides_the_account_setting(mailjet, value, expected):
    send(track_opens=value, track_clicks=value)
    body = posted(mailjet)
    assert (body["Mj-trackopen"], body["Mj-trackclick"]) == (expected, expected)


def test_tracking_left_unset_uses_the_account_setting(mailjet):
    send()
    assert "Mj-trackopen" not in posted(mailjet)
    assert "Mj-trackclick" not in posted(mailjet)


def test_envelope_sender_is_passed_as_sender(mailjet):
    send(envelope_sender="Bounces <bounces@example.com>")
    assert posted(mailjet)["Sender"] == "bounces@example.com"


def test_envelope_sender_refused_without_approval_gives_mailjets_message(mailjet, api):
    api.reply = FakeResponse.json(
        {
            "ErrorInfo": "",
            "ErrorMessage": "Sender is not allowed for this API key",
            "StatusCode": 400,
        },
        400,
    )
    with pytest.raises(AnymailAPIError) as raised:
        send(envelope_sender="bounces@example.com")
    error = str(raised.value)
    assert raised.value.status_code == 400
    assert "Mailjet says: Sender is not allowed for this API key" in error
    assert "custom senders" in error


def test_bad_credentials_error_names_the_settings_and_hides_the_secret(mailjet, api):
    api.reply = FakeResponse(401, f"API key authentication/authorization failure {SECRET_KEY}")
    with pytest.raises(AnymailAPIError) as raised:
        send()
    error = str(raised.value)
    assert "MAILJET_SECRET_KEY" in error
    assert SECRET_KEY not in error
    assert "********" in error


def test_debug_output_redacts_credentials(mailjet, settings, capsys):
    settings.ANYMAIL = {**settings.ANYMAIL, "DEBUG_API_REQUESTS": True}
    send()
    output = capsys.readouterr().out
    assert "/v3/send" in output
    assert b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode() not in output
    assert SECRET_KEY not in output


# --- attachments, headers, metadata, esp_extra ---


def test_attachments_and_inline_images(mailjet):
    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach("Ünïcode résumé.txt", "Hello", "text/plain")
    cid = attach_inline_image(message, b"\x89PNG fake", "logo.png", subtype="png")
    message.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    message.send()
    body = posted(mailjet)
    assert body["Attachments"] == [
        {"Content-type": "text/plain", "Filename": "Ünïcode résumé.txt", "content": "SGVsbG8="}
    ]
    # Mailjet's HTML refers to an inline part by its Filename: that is the cid.
    assert body["Inline_attachments"] == [
        {
            "Content-type": "image/png",
            "Filename": cid,
            "content": b64encode(b"\x89PNG fake").decode(),
        }
    ]


def test_attachment_without_filename_is_unsupported(mailjet):
    from email.mime.application import MIMEApplication

    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename"):
        message.send()
    assert mailjet.requests == []


def test_metadata_is_a_json_event_payload(mailjet):
    send(metadata={"user_id": 12345, "campaign": "Sommer-Aktion Ü"})
    assert json.loads(posted(mailjet)["Mj-EventPayLoad"]) == {
        "user_id": 12345,
        "campaign": "Sommer-Aktion Ü",
    }


def test_esp_extra_is_merged_with_precedence(mailjet):
    send(
        tags=["from-anymail"],
        esp_extra={"Mj-prio": 3, "Mj-CustomID": "ticket-1", "Mj-campaign": "from-extra"},
    )
    body = posted(mailjet)
    assert (body["Mj-prio"], body["Mj-CustomID"], body["Mj-campaign"]) == (
        3,
        "ticket-1",
        "from-extra",
    )


def test_esp_extra_in_send_defaults(mailjet, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILJET_SEND_DEFAULTS": {"esp_extra": {"Mj-prio": 1}}}
    send()
    assert posted(mailjet)["Mj-prio"] == 1


# --- settings ---


@pytest.mark.parametrize("style", ["anymail_dict", "prefixed", "bare", "kwargs"])
def test_every_documented_settings_spelling(settings, server, style):
    url = f"{server.url}/v3/"  # a trailing slash is fine too
    settings.ANYMAIL = {"MAILJET_API_URL": url}
    kwargs = {}
    if style == "anymail_dict":
        settings.ANYMAIL.update(MAILJET_API_KEY=API_KEY, MAILJET_SECRET_KEY=SECRET_KEY)
    elif style == "prefixed":
        settings.ANYMAIL_MAILJET_API_KEY = API_KEY
        settings.ANYMAIL_MAILJET_SECRET_KEY = SECRET_KEY
    elif style == "bare":
        settings.MAILJET_API_KEY = API_KEY
        settings.MAILJET_SECRET_KEY = SECRET_KEY
    else:
        kwargs = {"api_key": API_KEY, "secret_key": SECRET_KEY}
    connection = get_connection("anymail.backends.mailjet.EmailBackend", **kwargs)
    message = AnymailMessage(
        "s", "b", "from@example.com", ["to@example.com"], connection=connection
    )
    message.send()
    request = server.requests[-1]
    assert request.path == "/v3/send"
    assert request.headers["Authorization"] == (
        "Basic " + b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
    )


def test_default_api_url_is_send_api_v3(settings):
    from anymail.backends.mailjet import EmailBackend

    settings.ANYMAIL = {"MAILJET_API_KEY": API_KEY, "MAILJET_SECRET_KEY": SECRET_KEY}
    assert EmailBackend().api_url == "https://api.mailjet.com/v3/"


def test_v3_1_api_url_is_refused(settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {
        "MAILJET_API_KEY": API_KEY,
        "MAILJET_SECRET_KEY": SECRET_KEY,
        "MAILJET_API_URL": "https://api.mailjet.com/v3.1/",
    }
    with pytest.raises(AnymailConfigurationError, match="Send API v3"):
        get_connection()


@pytest.mark.parametrize("missing", ["MAILJET_API_KEY", "MAILJET_SECRET_KEY"])
def test_missing_credentials_name_the_setting(settings, missing):
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {"MAILJET_API_KEY": API_KEY, "MAILJET_SECRET_KEY": SECRET_KEY}
    del settings.ANYMAIL[missing]
    with pytest.raises(AnymailConfigurationError, match=missing):
        get_connection()


def test_backend_repr_hides_the_secret(settings):
    from anymail.backends.mailjet import EmailBackend

    settings.ANYMAIL = {"MAILJET_API_KEY": API_KEY, "MAILJET_SECRET_KEY": SECRET_KEY}
    backend = EmailBackend()
    assert SECRET_KEY not in repr(backend)
    assert SECRET_KEY in backend.secret_values()


def test_describing_the_esp_imports_neither_backend_nor_webhooks():
    # (requests itself is anymail-base's: its exceptions derive from requests'.)
    code = (
        "import django; django.setup(); import sys; "
        "from anymail.registry import get_esp; esp = get_esp('mailjet'); "
        "assert esp.backend == 'anymail.backends.mailjet.EmailBackend'; "
        "bad = {'anymail.backends.mailjet', 'anymail.webhooks.mailjet'} "
        "& set(sys.modules); assert not bad, bad"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, cwd=REPO_ROOT, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
