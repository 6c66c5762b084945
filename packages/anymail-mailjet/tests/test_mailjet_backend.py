"""Mailjet's backend against a real HTTP server on 127.0.0.1 (the conformance
profile's FakeMailjetAPI, which checks Send API v3.1 requests against Mailjet's
documented properties and answers per message): what is particular to Mailjet. The
shared conformance suite proves the rest.

Send API v3.1 is the default; Send API v3 (MAILJET_API_VERSION = "v3") is covered
further down, through the same setting a site uses to keep it."""

import json
from base64 import b64encode
from email.header import decode_header, make_header
from email.utils import getaddresses
from functools import partial

import pytest
import requests

from anymail.conformance.mailjet.profile import (
    API_KEY,
    PROFILE,
    SECRET_KEY,
    FakeMailjetAPI,
    read_v31_call,
)
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.signals import post_send
from anymail.testing import get_connection
from anymail_conformance import package_checks as checks
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import make_message as message
from anymail_conformance.package_checks import send_message as send
from anymail_conformance.package_checks import sent_json as posted

#: Beyond 2**53: a float-based JSON parser would round it.
BIG_ID = 288230376151711749
BASIC_AUTH = "Basic " + b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()


class MailjetAPI:
    """The profile's fake Mailjet (``fake``, replaceable), or ``reply`` when a test
    sets it."""

    def __init__(self) -> None:
        self.reply: FakeResponse | None = None
        self.fake = FakeMailjetAPI(first_id=BIG_ID)

    def __call__(self, request):
        if self.reply is not None:
            return self.reply
        return self.fake(request)


@pytest.fixture
def api():
    return MailjetAPI()


@pytest.fixture
def server(api):
    with FakeESPServer(api) as fake:
        yield fake


@pytest.fixture
def mailjet(settings, server):
    """The backend with its defaults: Send API v3.1."""
    return checks.use_fake_api(settings, PROFILE, server)


@pytest.fixture
def mailjet_v3(settings, server):
    """The backend kept on Send API v3 by the setting."""
    v3 = {"MAILJET_API_VERSION": "v3", "MAILJET_API_URL": f"{server.url}/v3"}
    return checks.use_fake_api(settings, PROFILE, server, **v3)


def entries(server, index=-1):
    """The v3.1 messages of a call."""
    return posted(server, index)["Messages"]


def entry(server, index=-1):
    """The one v3.1 message of a call."""
    [only] = entries(server, index)
    return only


def split_recipients(value):
    """How Send API v3 reads a To/Cc/Bcc string: split at every comma."""
    return [part.strip() for part in value.split(",")]


#: a message to every kind of recipient, with a Reply-To and a header (sent through
#: either Send API version)
ADDRESSED = {
    "to": ["Recipient <to@example.com>", "to2@example.com"],
    "cc": ["cc@example.com"],
    "bcc": ["bcc@example.com"],
    "reply_to": ["Reply <reply@example.com>"],
    "headers": {"X-Custom": "value"},
}


# ---------------------------------------------------------------------------
# Send API v3.1: the request


def test_send_posts_v31_send_with_basic_auth(mailjet):
    msg = send(**ADDRESSED)
    [request] = mailjet.requests
    assert (request.method, request.path) == ("POST", "/v3.1/send")
    assert request.headers["Authorization"] == BASIC_AUTH
    assert request.content_type == "application/json"
    assert request.json() == {
        "Messages": [
            {
                "From": {"Email": "from@example.com", "Name": "Sender"},
                "To": [
                    {"Email": "to@example.com", "Name": "Recipient"},
                    {"Email": "to2@example.com"},
                ],
                "Cc": [{"Email": "cc@example.com"}],
                "Bcc": [{"Email": "bcc@example.com"}],
                "ReplyTo": {"Email": "reply@example.com", "Name": "Reply"},
                "Subject": "Subject",
                "TextPart": "Body",
                "Headers": {"X-Custom": "value"},
            }
        ]
    }
    assert msg.anymail_status.status == {"sent"}


def test_html_body_is_htmlpart(mailjet):
    msg = message(body="text")
    msg.attach_alternative("<p>html</p>", "text/html")
    msg.send()
    assert (entry(mailjet)["TextPart"], entry(mailjet)["HTMLPart"]) == ("text", "<p>html</p>")


def test_several_reply_to_addresses_go_as_a_header(mailjet):
    """ReplyTo takes one address; several go as a Reply-To header (not among the
    headers Mailjet's guide forbids in Headers: the fake refuses those)."""
    send(reply_to=["Reply <reply@example.com>", "other@bücher.example"])
    sent = entry(mailjet)
    assert "ReplyTo" not in sent
    assert sent["Headers"] == {"Reply-To": "Reply <reply@example.com>, other@xn--bcher-kva.example"}


def test_status_has_each_recipients_exact_message_id(mailjet):
    msg = send(to=["a@example.com", "b@example.com"], cc=["c@example.com"])
    recipients = msg.anymail_status.recipients
    assert recipients["a@example.com"].message_id == str(BIG_ID)
    assert recipients["b@example.com"].message_id == str(BIG_ID + 1)
    assert recipients["c@example.com"].message_id == str(BIG_ID + 2)
    assert {r.status for r in recipients.values()} == {"sent"}
    assert msg.anymail_status.message_id == {str(BIG_ID + n) for n in range(3)}
    assert msg.anymail_status.esp_response.status_code == 200


def test_recipient_missing_from_the_result_is_unknown(mailjet, api):
    api.reply = FakeResponse.json(
        {"Messages": [{"Status": "success", "To": [{"Email": "A@Example.com", "MessageID": 12}]}]}
    )
    msg = send(to=["a@example.com", "b@example.com"])
    recipients = msg.anymail_status.recipients
    assert (recipients["a@example.com"].status, recipients["a@example.com"].message_id) == (
        "sent",
        "12",
    )
    assert (recipients["b@example.com"].status, recipients["b@example.com"].message_id) == (
        "unknown",
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"Sent": [{"Email": "to@example.com", "MessageID": 1}]},  # a v3 answer
        {"Messages": []},  # no result for the message
        {"Messages": [{"Status": "queued"}]},
        {"Messages": [{"Status": "error"}]},  # no Errors
    ],
)
def test_answer_without_a_result_per_message_is_an_api_error(mailjet, api, body):
    api.reply = FakeResponse.json(body)
    with pytest.raises(AnymailAPIError, match="Invalid Mailjet API response format"):
        send()


def test_commas_in_display_names_need_no_workaround(mailjet):
    """v3.1 takes each address as an object: names go as they are (v3 needed
    encoded-words)."""
    send(
        from_email='"Shop, Inc." <shop@example.com>',
        to=['"Widgets, Inc." <widgets@example.com>', "Ünïcode Name <u@example.com>"],
        cc=['"Doe, Jane" <jane@example.com>'],
    )
    sent = entry(mailjet)
    assert sent["From"] == {"Email": "shop@example.com", "Name": "Shop, Inc."}
    assert sent["To"] == [
        {"Email": "widgets@example.com", "Name": "Widgets, Inc."},
        {"Email": "u@example.com", "Name": "Ünïcode Name"},
    ]
    assert sent["Cc"] == [{"Email": "jane@example.com", "Name": "Doe, Jane"}]


# --- batch sending, templates, merge data ---


def test_merge_data_sends_one_message_per_to_recipient(mailjet):
    msg = send(
        to=["Alice <alice@example.com>", "bob@example.com", "carol@example.com"],
        body="Dear [[var:name]]: order [[var:order_no]] ships [[var:ship_date]].",
        merge_data={
            "alice@example.com": {"name": "Alice", "order_no": "12345"},
            "bob@example.com": {"name": "Bob", "order_no": "54321", "ship_date": "May 16"},
        },
        merge_global_data={"ship_date": "May 15"},
        metadata={"batch": "7"},
    )
    [request] = mailjet.requests
    alice, bob, carol = request.json()["Messages"]
    assert [m["To"] for m in (alice, bob, carol)] == [
        [{"Email": "alice@example.com", "Name": "Alice"}],
        [{"Email": "bob@example.com"}],
        [{"Email": "carol@example.com"}],
    ]
    # merge_data over merge_global_data
    assert alice["Variables"] == {"ship_date": "May 15", "name": "Alice", "order_no": "12345"}
    assert bob["Variables"] == {"ship_date": "May 16", "name": "Bob", "order_no": "54321"}
    assert carol["Variables"] == {"ship_date": "May 15"}
    assert all(json.loads(m["EventPayload"]) == {"batch": "7"} for m in (alice, bob, carol))
    assert all(m["TextPart"] == alice["TextPart"] for m in (bob, carol))
    assert "TemplateLanguage" not in alice  # on-the-fly [[var:x]] needs no template language
    assert msg.anymail_status.message_id == {str(BIG_ID + n) for n in range(3)}


def test_merge_data_with_cc_and_bcc(mailjet):
    """Anymail 6.0: merge_data may be used with cc and bcc (on each message)."""
    msg = send(
        to=["Alice <alice@example.com>", "bob@example.com"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        merge_data={"alice@example.com": {"name": "Alice"}, "bob@example.com": {"name": "Bob"}},
        merge_global_data={"site": "Example", "name": "Customer"},
        tags=["receipt"],
        esp_extra={"Priority": 3},
    )
    first, second = entries(mailjet)
    for sent in (first, second):
        assert sent["Cc"] == [{"Email": "cc@example.com"}]
        assert sent["Bcc"] == [{"Email": "bcc@example.com"}]
        assert (sent["CustomCampaign"], sent["Priority"]) == ("receipt", 3)
    assert first["Variables"] == {"site": "Example", "name": "Alice"}
    assert second["Variables"] == {"site": "Example", "name": "Bob"}
    recipients = msg.anymail_status.recipients
    assert set(recipients) == {
        "alice@example.com",
        "bob@example.com",
        "cc@example.com",
        "bcc@example.com",
    }
    # The cc'd recipient gets a copy of each message; its status has the first one's id.
    assert recipients["alice@example.com"].message_id == str(BIG_ID)
    assert recipients["cc@example.com"].message_id == str(BIG_ID + 1)
    assert recipients["bob@example.com"].message_id == str(BIG_ID + 3)


def test_merge_metadata_gives_each_message_its_own_payload(mailjet):
    send(
        to=["alice@example.com", "bob@example.com"],
        metadata={"batch": "7", "order": "none"},
        merge_metadata={"alice@example.com": {"order": "1"}},
    )
    first, second = entries(mailjet)
    assert json.loads(first["EventPayload"]) == {"batch": "7", "order": "1"}
    assert json.loads(second["EventPayload"]) == {"batch": "7", "order": "none"}
    assert "Variables" not in first


def test_empty_merge_data_sends_each_to_recipient_their_own_message(mailjet):
    send(to=["a@example.com", "b@example.com"], merge_data={})
    assert [m["To"] for m in entries(mailjet)] == [
        [{"Email": "a@example.com"}],
        [{"Email": "b@example.com"}],
    ]


# --- a "to" recipient is required (issue #23) ---


@pytest.mark.parametrize("version", ["v3.1", "v3"])
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
    settings, server, recipients, ignore_unsupported, version
):
    """Both Send APIs refuse a message with no To (v3.1: "The To is mandatory"):
    refuse it first, clearly, even under IGNORE_UNSUPPORTED_FEATURES."""
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {
        **PROFILE.backend_settings(server, api_version=version),
        "IGNORE_UNSUPPORTED_FEATURES": ignore_unsupported,
    }
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        send(to=[], **recipients)
    error = str(raised.value)
    assert "at least one `to` recipient" in error
    assert "`cc` or `bcc`" in error
    assert server.requests == []


def test_recipients_from_esp_extra_are_not_refused(mailjet):
    send(to=[], bcc=["bcc@example.com"], esp_extra={"To": [{"Email": "list@example.com"}]})
    sent = entry(mailjet)
    assert (sent["To"], sent["Bcc"]) == (
        [{"Email": "list@example.com"}],
        [{"Email": "bcc@example.com"}],
    )


# --- stored templates ---


def template_message(template_id="176375", **kwargs):
    """A stored-template message as the docs show it: no subject or body, and
    from_email = None (set after construction) to use the template's sender."""
    msg = AnymailMessage(to=["alice@example.com", "Bob <bob@example.com>"], **kwargs)
    msg.template_id = template_id
    msg.from_email = None
    return msg


def test_stored_template_with_the_templates_sender(mailjet):
    """v3.1 needs no From with a template that stores one (Mailjet's guide): the
    message goes without From, in one call (v3 reads the sender first, below)."""
    msg = template_message()
    msg.merge_data = {"alice@example.com": {"name": "Alice"}, "bob@example.com": {"name": "Bob"}}
    msg.merge_global_data = {"ship_date": "May 15"}
    msg.send()
    [request] = mailjet.requests
    assert (request.method, request.path) == ("POST", "/v3.1/send")
    alice, bob = request.json()["Messages"]
    for sent in (alice, bob):
        assert sent["TemplateID"] == 176375  # an integer: v3.1 refuses a string
        assert sent["TemplateLanguage"] is True
        assert "From" not in sent
        assert "Subject" not in sent
        assert "TextPart" not in sent
    assert alice["Variables"] == {"ship_date": "May 15", "name": "Alice"}
    assert bob["To"] == [{"Email": "bob@example.com", "Name": "Bob"}]
    assert msg.anymail_status.status == {"sent"}
    assert msg.from_email is None  # (the message itself is left as the caller set it)


def test_template_without_a_stored_sender_gets_mailjets_error(mailjet):
    msg = template_message("176378")
    with pytest.raises(AnymailAPIError) as raised:
        msg.send()
    assert "Mailjet refused the message: mj-0003" in str(raised.value)
    assert "From" in str(raised.value)
    assert raised.value.status_code == 400
    assert msg.anymail_status.status == {"failed"}


def test_unknown_template_gets_mailjets_error_and_a_hint(mailjet):
    with pytest.raises(AnymailAPIError) as raised:
        template_message("999999").send()
    error = str(raised.value)
    assert "send-0010" in error
    assert "numeric ID of a template this API key can use" in error
    assert SECRET_KEY not in error


@pytest.mark.parametrize("ignore_unsupported", [False, True])
def test_template_name_is_refused_before_any_call(mailjet, settings, ignore_unsupported):
    """Send API v3.1's TemplateID is an integer (a name gets Mailjet's mj-0004 "Type
    mismatch"): say so first, with the way to keep names (v3)."""
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": ignore_unsupported}
    msg = template_message("order-shipped")
    msg.from_email = "from@example.com"
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        msg.send()
    assert raised.value.feature == "template_id"
    error = str(raised.value)
    assert "'order-shipped'" in error
    assert "numeric" in error
    assert 'MAILJET_API_VERSION = "v3"' in error
    assert mailjet.requests == []


def test_template_with_a_sender_of_its_own(mailjet):
    msg = AnymailMessage(to=["alice@example.com"], from_email="Shop <shop@example.com>")
    msg.template_id = 176375
    msg.send()
    sent = entry(mailjet)
    assert (sent["TemplateID"], sent["From"]) == (
        176375,
        {"Email": "shop@example.com", "Name": "Shop"},
    )


def test_the_profiles_server_reads_back_a_template_send(settings):
    """The profile's own fake server: one call, no From (the template's is used)."""
    with PROFILE.server() as server:
        settings.ANYMAIL = PROFILE.backend_settings(server)
        settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
        template_message().send()
        [sent] = PROFILE.sent_messages(server)
        assert sent.from_email == []
        assert sent.template_id == "176375"
        assert sent.to == ["alice@example.com", "Bob <bob@example.com>"]
        assert PROFILE.request_count(server) == 1


# --- internationalized domains (issue #24 task 5) ---


def test_internationalized_domains_are_sent_in_idna_form(mailjet):
    msg = send(
        from_email="Bücherei <shop@bücher.example>",
        to=["Ünïcode <to@bücher.example>", '"Doe, Jane" <jane@bücher.example>'],
        cc=["cc@bücher.example"],
        bcc=["bcc@bücher.example"],
        reply_to=["Reply <reply@bücher.example>"],
        envelope_sender="bounces@bücher.example",
    )
    sent = entry(mailjet)
    assert sent["From"] == {"Email": "shop@xn--bcher-kva.example", "Name": "Bücherei"}
    assert sent["Sender"] == {"Email": "bounces@xn--bcher-kva.example"}
    assert sent["To"] == [
        {"Email": "to@xn--bcher-kva.example", "Name": "Ünïcode"},
        {"Email": "jane@xn--bcher-kva.example", "Name": "Doe, Jane"},
    ]
    assert sent["Cc"] == [{"Email": "cc@xn--bcher-kva.example"}]
    assert sent["Bcc"] == [{"Email": "bcc@xn--bcher-kva.example"}]
    assert sent["ReplyTo"] == {"Email": "reply@xn--bcher-kva.example", "Name": "Reply"}
    assert "bücher" not in json.dumps(sent, ensure_ascii=False)
    # Mailjet's results name the IDNA addresses: each status is still found.
    recipients = msg.anymail_status.recipients
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
    msg = send(
        to=["to@bücher.example", "other@example.com"],
        merge_data={key: {"name": "Ü"}},
        merge_metadata={key: {"order": "1"}},
        cc=["cc@bücher.example"],
    )
    first, second = entries(mailjet)
    assert first["To"] == [{"Email": "to@xn--bcher-kva.example"}]
    assert first["Cc"] == [{"Email": "cc@xn--bcher-kva.example"}]
    assert first["Variables"] == {"name": "Ü"}
    assert json.loads(first["EventPayload"]) == {"order": "1"}
    assert "Variables" not in second
    assert msg.anymail_status.recipients["to@bücher.example"].status == "sent"


# --- tags, tracking, envelope sender, unsupported features ---


def test_single_tag_is_the_campaign(mailjet):
    send(tags=["receipt"])
    assert entry(mailjet)["CustomCampaign"] == "receipt"


def test_two_tags_are_refused_or_cut_to_the_first(mailjet, settings):
    two_tags = partial(send, tags=["receipt", "repeat-user"])
    checks.refused_unless_ignored(settings, mailjet, two_tags, match="only one tag")
    assert entry(mailjet)["CustomCampaign"] == "receipt"


def test_send_at_is_unsupported(mailjet):
    with pytest.raises(AnymailUnsupportedFeature, match="send_at"):
        send(send_at=1893456000)
    assert mailjet.requests == []


@pytest.mark.parametrize(("value", "expected"), [(True, "enabled"), (False, "disabled")])
def test_tracking_overrides_the_account_setting(mailjet, value, expected):
    send(track_opens=value, track_clicks=value)
    sent = entry(mailjet)
    assert (sent["TrackOpens"], sent["TrackClicks"]) == (expected, expected)


def test_tracking_left_unset_uses_the_account_setting(mailjet):
    send()
    assert "TrackOpens" not in entry(mailjet)
    assert "TrackClicks" not in entry(mailjet)


def test_envelope_sender_is_passed_as_sender(mailjet):
    send(envelope_sender="Bounces <bounces@example.com>")
    assert entry(mailjet)["Sender"] == {"Email": "bounces@example.com"}


def test_envelope_sender_refused_without_approval_gives_mailjets_message(mailjet, api):
    api.fake = FakeMailjetAPI(
        first_id=BIG_ID,
        refuse={"to@example.com": ("send-0006", 403, "Sender header not allowed")},
    )
    with pytest.raises(AnymailAPIError) as raised:
        send(envelope_sender="bounces@example.com")
    error = str(raised.value)
    assert raised.value.status_code == 403
    assert "Mailjet refused the message: send-0006: Sender header not allowed" in error
    assert "custom senders" in error


def test_bad_credentials_error_names_the_settings_and_hides_the_secret(mailjet, api):
    api.reply = FakeResponse(401, f"API key authentication/authorization failure {SECRET_KEY}")
    with pytest.raises(AnymailAPIError) as raised:
        send()
    assert raised.value.status_code == 401
    error = str(raised.value)
    assert "MAILJET_SECRET_KEY" in error
    assert SECRET_KEY not in error
    assert "********" in error


def test_debug_output_redacts_credentials(mailjet, settings, capsys):
    output = checks.debug_output(settings, capsys, send)
    assert "/v3.1/send" in output
    assert '"Status":"success"' in output.replace(" ", "")
    assert BASIC_AUTH.split()[1] not in output
    assert SECRET_KEY not in output


# --- attachments, headers, metadata, esp_extra ---


def test_attachments_and_inline_images(mailjet):
    msg = message(subject="s", body="b")
    msg.attach("Ünïcode résumé.txt", "Hello", "text/plain")
    cid = attach_inline_image(msg, b"\x89PNG fake", "logo.png", subtype="png")
    msg.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    msg.send()
    sent = entry(mailjet)
    assert sent["Attachments"] == [
        {"ContentType": "text/plain", "Filename": "Ünïcode résumé.txt", "Base64Content": "SGVsbG8="}
    ]
    assert sent["InlinedAttachments"] == [
        {
            "ContentType": "image/png",
            "Filename": "logo.png",
            "ContentID": cid,
            "Base64Content": b64encode(b"\x89PNG fake").decode(),
        }
    ]


def test_attachment_without_filename_is_unsupported(mailjet):
    from email.mime.application import MIMEApplication

    msg = message()
    msg.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename"):
        msg.send()
    assert mailjet.requests == []


def test_metadata_is_a_json_event_payload(mailjet):
    send(metadata={"user_id": 12345, "campaign": "Sommer-Aktion Ü"})
    assert json.loads(entry(mailjet)["EventPayload"]) == {
        "user_id": 12345,
        "campaign": "Sommer-Aktion Ü",
    }


def test_esp_extra_is_merged_with_precedence(mailjet):
    send(
        tags=["from-anymail"],
        esp_extra={"Priority": 3, "CustomID": "ticket-1", "CustomCampaign": "from-extra"},
    )
    sent = entry(mailjet)
    assert (sent["Priority"], sent["CustomID"], sent["CustomCampaign"]) == (
        3,
        "ticket-1",
        "from-extra",
    )


def test_esp_extra_in_send_defaults(mailjet, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILJET_SEND_DEFAULTS": {"esp_extra": {"Priority": 1}}}
    send()
    assert entry(mailjet)["Priority"] == 1


@pytest.mark.parametrize(
    ("key", "replacement"),
    [("Mj-prio", "Priority"), ("Mj-CustomID", "CustomID"), ("Vars", "Variables"), ("Mj-foo", None)],
)
def test_v3_esp_extra_is_refused_with_its_v31_name(mailjet, key, replacement):
    """A site that moves to v3.1 with a v3 esp_extra learns what to change, and
    nothing is sent (Mailjet would refuse, or ignore, the v3 name)."""
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        send(esp_extra={key: 3})
    error = str(raised.value)
    assert f"esp_extra[{key!r}]" in error
    assert "Send API v3 property" in error
    if replacement:
        assert repr(replacement) in error
    assert 'MAILJET_API_VERSION = "v3"' in error
    assert mailjet.requests == []


def test_call_properties_in_esp_extra_go_to_the_root(mailjet):
    """SandboxMode (and Globals) are properties of the call, not of a message: a
    message that sets them gets a call of its own (SandboxMode answers MessageID 0:
    validated, not sent)."""
    messages = [
        message(subject="real"),
        message(subject="sandbox", esp_extra={"SandboxMode": True}),
        message(subject="real too"),
    ]
    assert get_connection().send_messages(messages) == 3
    first, second = (request.json() for request in mailjet.requests)
    assert "SandboxMode" not in first
    assert [m["Subject"] for m in first["Messages"]] == ["real", "real too"]
    assert second["SandboxMode"] is True
    assert [m["Subject"] for m in second["Messages"]] == ["sandbox"]
    assert "SandboxMode" not in second["Messages"][0]
    sandboxed = messages[1].anymail_status.recipients["to@example.com"]
    assert (sandboxed.status, sandboxed.message_id) == ("sent", None)
    assert messages[0].anymail_status.message_id == str(BIG_ID)


def test_globals_in_esp_extra(mailjet):
    send(esp_extra={"Globals": {"CustomCampaign": "everyone"}})
    body = posted(mailjet)
    assert body["Globals"] == {"CustomCampaign": "everyone"}
    [sent] = read_v31_call(body)
    assert sent.tags == ["everyone"]


def test_unserializable_call_properties_stop_the_run_at_that_message(mailjet):
    """esp_extra's Globals are serialized when the message is built: a value JSON
    can't hold is refused there, naming it, like any message that can't be built."""
    messages = [
        message(subject="first"),
        message(subject="bad", esp_extra={"Globals": {"CustomID": object()}}),
        message(subject="third"),
    ]
    with pytest.raises(AnymailSerializationError, match=r"esp_extra\['Globals'\]"):
        get_connection().send_messages(messages)
    assert [m["Subject"] for m in entries(mailjet)] == ["first"]
    assert messages[2].anymail_status.status is None


# ---------------------------------------------------------------------------
# Send API v3.1: several messages a call (send_messages)


def test_send_messages_groups_120_messages_into_3_calls_on_one_connection(mailjet):
    """Mailjet's limit is 50 recipients a call: 120 one-recipient messages are 3
    calls, and each message gets its own status from its own result."""
    statuses = []
    post_send.connect(record := lambda sender, message, status, **kwargs: statuses.append(status))
    try:
        messages = [
            message(to=[f"to{n}@example.com"], subject=f"#{n}", metadata={"n": n})
            for n in range(120)
        ]
        assert get_connection().send_messages(messages) == 120
    finally:
        post_send.disconnect(record)
    assert [len(entries(mailjet, index)) for index in range(3)] == [50, 50, 20]
    assert mailjet.connection_count == 1
    assert [m["Subject"] for index in range(3) for m in entries(mailjet, index)] == [
        f"#{n}" for n in range(120)
    ]
    for n, msg in enumerate(messages):
        status = msg.anymail_status
        assert status.status == {"sent"}
        assert status.message_id == str(BIG_ID + n)
        assert set(status.recipients) == {f"to{n}@example.com"}
    assert statuses == [m.anymail_status for m in messages]
    # Messages of one call share its response; each call has its own.
    assert messages[0].anymail_status.esp_response is messages[49].anymail_status.esp_response
    assert messages[49].anymail_status.esp_response is not messages[50].anymail_status.esp_response


def test_a_call_counts_recipients_not_messages(mailjet):
    messages = [
        message(to=[f"to{n}@example.com"], cc=[f"cc{n}@example.com"], bcc=[f"bcc{n}@example.com"])
        for n in range(20)
    ]
    assert get_connection().send_messages(messages) == 20
    assert [len(entries(mailjet, index)) for index in range(2)] == [16, 4]  # 48 + 12 recipients
    assert all(m.anymail_status.status == {"sent"} for m in messages)


def test_a_call_stays_under_mailjets_size_limit(mailjet):
    from anymail.backends.mailjet import MAX_CALL_BYTES

    connection = get_connection()
    assert connection.max_call_bytes == MAX_CALL_BYTES == 15_000_000
    messages = [message(body="x" * 1000) for _ in range(5)]
    connection.max_call_bytes = 2500  # room for two of these messages a call
    assert connection.send_messages(messages) == 5
    assert [len(request.json()["Messages"]) for request in mailjet.requests] == [2, 2, 1]
    assert all(len(request.body) <= 2500 for request in mailjet.requests)


def test_a_batch_message_too_big_for_one_call_is_split(mailjet):
    recipients = [f"to{n}@example.com" for n in range(60)]
    msg = send(to=recipients, merge_data={})
    assert [len(entries(mailjet, index)) for index in range(2)] == [50, 10]
    assert set(msg.anymail_status.recipients) == set(recipients)
    assert msg.anymail_status.status == {"sent"}
    assert len(msg.anymail_status.message_id) == 60
    assert len(msg.anymail_status.esp_response) == 2  # both calls' responses


def test_one_messages_error_does_not_lose_the_others(mailjet, api):
    """Mailjet answers 400 with each message's result: the refused message fails
    alone (its error raised), the others were sent and get their statuses."""
    api.fake = FakeMailjetAPI(
        first_id=BIG_ID,
        refuse={
            "bad@example.com": ("mj-0013", 400, '"bad@example.com" is an invalid email address.')
        },
    )
    messages = [
        message(to=["one@example.com"]),
        message(to=["bad@example.com"]),
        message(to=["three@example.com"]),
    ]
    with pytest.raises(AnymailAPIError) as raised:
        get_connection().send_messages(messages)
    assert raised.value.email_message is messages[1]
    assert raised.value.status_code == 400
    assert "mj-0013" in str(raised.value)
    [request] = mailjet.requests
    assert len(request.json()["Messages"]) == 3
    assert [m.anymail_status.status for m in messages] == [{"sent"}, {"failed"}, {"sent"}]
    assert messages[2].anymail_status.message_id == str(BIG_ID + 1)
    # fail_silently: the two that were sent are counted
    for msg in messages:
        del msg.anymail_status
    assert get_connection(fail_silently=True).send_messages(messages) == 2


def test_a_refused_entry_of_a_batch_is_a_failed_recipient(mailjet, api):
    api.fake = FakeMailjetAPI(
        first_id=BIG_ID, refuse={"bad@example.com": ("mj-0013", 400, "invalid email address")}
    )
    msg = send(to=["ok@example.com", "bad@example.com"], merge_data={})
    statuses = {email: s.status for email, s in msg.anymail_status.recipients.items()}
    assert statuses == {"ok@example.com": "sent", "bad@example.com": "failed"}


@pytest.mark.parametrize(
    ("answer", "status_code", "says"),
    [
        (
            FakeResponse.json(
                {"ErrorIdentifier": "x", "ErrorMessage": "Oops", "StatusCode": 500}, 500
            ),
            500,
            "Oops",
        ),
        (FakeResponse(401, "Unauthorized"), 401, "MAILJET_API_KEY"),
        (
            FakeResponse.json(
                {
                    "ErrorIdentifier": "x",
                    "ErrorCode": "send-0015",
                    "StatusCode": 400,
                    "ErrorMessage": "Total number of recipients exceeded. Max allowed - 50.",
                    "ErrorRelatedTo": ["To", "Bcc", "Cc"],
                },
                400,
            ),
            400,
            "send-0015 Total number of recipients exceeded",
        ),
    ],
)
def test_a_failed_call_fails_every_message_in_it(mailjet, api, answer, status_code, says):
    """60 messages are 2 calls; the second fails as a whole: its 10 messages raise
    (their status left unset, as for any message that didn't reach the ESP)."""
    api.fake = FakeMailjetAPI(first_id=BIG_ID, fail_calls={2: answer})
    messages = [message(to=[f"to{n}@example.com"]) for n in range(60)]
    with pytest.raises(AnymailAPIError) as raised:
        get_connection().send_messages(messages)
    assert raised.value.status_code == status_code
    assert says in str(raised.value)
    assert raised.value.email_message is messages[50]
    assert [len(request.json()["Messages"]) for request in mailjet.requests] == [50, 10]
    assert all(m.anymail_status.status == {"sent"} for m in messages[:50])
    assert all(m.anymail_status.status is None for m in messages[50:])
    for msg in messages:
        del msg.anymail_status
    api.fake.v31_calls = 0  # the second call fails again
    assert get_connection(fail_silently=True).send_messages(messages) == 50


def test_a_malformed_answer_fails_the_calls_messages(mailjet, api):
    api.reply = FakeResponse(200, "<html>Sent?</html>", {"Content-Type": "text/html"})
    messages = [message(), message()]
    with pytest.raises(AnymailAPIError, match="Invalid Mailjet API response format"):
        get_connection().send_messages(messages)
    assert get_connection(fail_silently=True).send_messages(messages) == 0


def test_a_message_that_cant_be_built_stops_the_run_there(mailjet):
    messages = [message(subject="first"), message(tags=["a", "b"]), message(subject="third")]
    with pytest.raises(AnymailUnsupportedFeature):
        get_connection().send_messages(messages)
    # As with one call per message: the messages before it are sent, the rest are not.
    assert [m["Subject"] for m in entries(mailjet)] == ["first"]
    assert messages[0].anymail_status.status == {"sent"}
    assert messages[2].anymail_status.status is None
    # fail_silently skips it and sends the others.
    mailjet.reset()
    assert get_connection(fail_silently=True).send_messages(messages) == 2
    assert [m["Subject"] for m in entries(mailjet)] == ["first", "third"]


def test_the_single_message_path_sends_with_v31_too(mailjet):
    """The base class's one-message path (``_send``) goes through the same calls."""
    msg = message()
    assert get_connection()._send(msg) is True
    assert entry(mailjet)["To"] == [{"Email": "to@example.com"}]
    assert msg.anymail_status.status == {"sent"}


def test_grouping_can_be_turned_off(mailjet, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILJET_BATCH_SEND_MESSAGES": False}
    messages = [message(subject=f"#{n}") for n in range(3)]
    assert get_connection().send_messages(messages) == 3
    assert [[m["Subject"] for m in request.json()["Messages"]] for request in mailjet.requests] == [
        ["#0"],
        ["#1"],
        ["#2"],
    ]
    assert mailjet.connection_count == 1


def test_the_profile_reads_each_message_of_a_call_back(settings):
    with PROFILE.server() as server:
        settings.ANYMAIL = PROFILE.backend_settings(server)
        settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
        messages = [
            message(subject="plain", metadata={"a": "1"}),
            message(subject="batch", to=["x@example.com", "y@example.com"], merge_data={
                "x@example.com": {"n": "X"}, "y@example.com": {"n": "Y"}}),
            message(subject="third"),
        ]  # fmt: skip
        assert get_connection().send_messages(messages) == 3
        assert len(server.requests) == 1
        plain, batch, third = PROFILE.sent_messages(server)
        assert (plain.subject, plain.metadata, plain.to) == (
            "plain",
            {"a": "1"},
            ["to@example.com"],
        )
        assert batch.to == ["x@example.com", "y@example.com"]
        assert batch.merge_data == {"x@example.com": {"n": "X"}, "y@example.com": {"n": "Y"}}
        assert third.subject == "third"
        assert PROFILE.request_count(server) == 4  # Mailjet messages: the batch is two


# ---------------------------------------------------------------------------
# The fake checks what Mailjet documents (so the tests above mean something)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"TemplateID": "176375"}, "mj-0004"),  # a string TemplateID
        ({"TrackOpens": 2}, "mj-0005"),  # a v3 value
        ({"Headers": {"From": "x@example.com"}}, "send-0011"),
        ({"Mj-prio": 1}, "mj-0004"),  # an unknown (v3) property
        ({"To": [{"Email": "to@bücher.example"}]}, "mj-0013"),  # not in IDNA form
        ({"DeduplicateCampaign": True}, "send-0012"),
    ],
)
def test_the_fake_refuses_what_mailjet_would(extra, code):
    body = {
        "Messages": [
            {"From": {"Email": "a@example.com"}, "To": [{"Email": "b@example.com"}],
             "TextPart": "x", **extra},
            {"From": {"Email": "a@example.com"}, "To": [{"Email": "c@example.com"}], "TextPart": "y"},
        ]
    }  # fmt: skip
    with FakeESPServer(FakeMailjetAPI()) as fake:
        response = requests.post(f"{fake.url}/v3.1/send", json=body, timeout=10)
    assert response.status_code == 400
    refused, sent = response.json()["Messages"]
    assert refused["Status"] == "error"
    assert refused["Errors"][0]["ErrorCode"] == code
    assert sent["Status"] == "success"


def test_the_fake_refuses_a_call_over_50_recipients_as_a_whole():
    body = {
        "Messages": [
            {"From": {"Email": "a@example.com"}, "To": [{"Email": f"to{n}@example.com"}],
             "Cc": [{"Email": f"cc{n}@example.com"}], "TextPart": "x"}
            for n in range(26)
        ]
    }  # fmt: skip
    with FakeESPServer(FakeMailjetAPI()) as fake:
        response = requests.post(f"{fake.url}/v3.1/send", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["ErrorCode"] == "send-0015"


# ---------------------------------------------------------------------------
# Settings


@pytest.mark.parametrize("place", checks.SETTING_PLACES)
def test_every_documented_settings_spelling(settings, server, place):
    url = f"{server.url}/v3.1/"  # a trailing slash is fine too
    keys = {"api_key": API_KEY, "secret_key": SECRET_KEY}
    options = checks.set_esp_settings(settings, place, "mailjet", keys, MAILJET_API_URL=url)
    connection = get_connection("anymail.backends.mailjet.EmailBackend", **options)
    msg = AnymailMessage("s", "b", "from@example.com", ["to@example.com"], connection=connection)
    msg.send()
    request = server.requests[-1]
    assert request.path == "/v3.1/send"
    assert request.headers["Authorization"] == BASIC_AUTH


def test_version_and_grouping_options(settings, server):
    """MAILJET_API_VERSION and MAILJET_BATCH_SEND_MESSAGES are options too."""
    settings.ANYMAIL = {"MAILJET_API_KEY": API_KEY, "MAILJET_SECRET_KEY": SECRET_KEY}
    connection = get_connection(
        "anymail.backends.mailjet.EmailBackend",
        api_version="v3",
        api_url=f"{server.url}/v3",
        batch_send_messages=False,
    )
    assert (connection.api_version, connection.batch_send_messages) == ("v3", False)
    AnymailMessage("s", "b", "from@example.com", ["to@example.com"], connection=connection).send()
    assert server.requests[-1].path == "/v3/send"


def test_default_api_is_send_api_v31(settings):
    from anymail.backends.mailjet import EmailBackend

    settings.ANYMAIL = {"MAILJET_API_KEY": API_KEY, "MAILJET_SECRET_KEY": SECRET_KEY}
    backend = EmailBackend()
    assert (backend.api_version, backend.api_url) == ("v3.1", "https://api.mailjet.com/v3.1/")
    assert backend.batch_send_messages is True
    settings.ANYMAIL["MAILJET_API_VERSION"] = "v3"
    assert EmailBackend().api_url == "https://api.mailjet.com/v3/"


@pytest.mark.parametrize(
    ("version", "url", "advice"),
    [
        # a site that set the v3 URL, upgrading: told how to move or stay
        (None, "https://api.mailjet.com/v3", 'MAILJET_API_VERSION = "v3"'),
        ("v3.1", "https://api.mailjet.com/v3/", 'MAILJET_API_VERSION = "v3"'),
        ("v3", "https://api.mailjet.com/v3.1", "'https://api.mailjet.com/v3'"),
    ],
)
def test_api_url_of_the_other_version_is_refused(settings, version, url, advice):
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {
        "MAILJET_API_KEY": API_KEY,
        "MAILJET_SECRET_KEY": SECRET_KEY,
        "MAILJET_API_URL": url,
    }
    if version:
        settings.ANYMAIL["MAILJET_API_VERSION"] = version
    with pytest.raises(AnymailConfigurationError) as raised:
        get_connection()
    assert "MAILJET_API_URL" in str(raised.value)
    assert advice in str(raised.value)


def test_unknown_api_version_is_refused(settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    settings.ANYMAIL = {
        "MAILJET_API_KEY": API_KEY,
        "MAILJET_SECRET_KEY": SECRET_KEY,
        "MAILJET_API_VERSION": "3.1",
    }
    with pytest.raises(AnymailConfigurationError, match=r"MAILJET_API_VERSION is '3\.1'"):
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
        "assert 'MAILJET_API_VERSION' in esp.settings; "
        "bad = {'anymail.backends.mailjet', 'anymail.webhooks.mailjet'} "
        "& set(sys.modules); assert not bad, bad"
    )
    checks.run_python(code)


# ---------------------------------------------------------------------------
# Send API v3, kept by MAILJET_API_VERSION = "v3"


def test_v3_posts_v3_send(mailjet_v3):
    msg = send(**ADDRESSED)
    [request] = mailjet_v3.requests
    assert (request.method, request.path) == ("POST", "/v3/send")
    assert request.headers["Authorization"] == BASIC_AUTH
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
    assert msg.anymail_status.recipients["to@example.com"].message_id == str(BIG_ID)
    assert msg.anymail_status.status == {"sent"}


def test_v3_send_messages_is_one_call_per_message(mailjet_v3):
    messages = [message(subject=f"#{n}") for n in range(3)]
    assert get_connection().send_messages(messages) == 3
    assert [request.json()["Subject"] for request in mailjet_v3.requests] == ["#0", "#1", "#2"]
    assert mailjet_v3.connection_count == 1


def test_v3_response_without_sent_list_is_an_api_error(mailjet_v3, api):
    api.reply = FakeResponse.json({"Messages": []})
    with pytest.raises(AnymailAPIError, match="no Sent list"):
        send()


def test_v3_comma_in_display_name_becomes_an_encoded_word(mailjet_v3):
    send(
        to=['"Widgets, Inc." <widgets@example.com>', "Ünïcode Name <u@example.com>"],
        cc=['"Doe, Jane" <jane@example.com>'],
        bcc=['"Ünï, Code" <bcc@example.com>'],
    )
    body = posted(mailjet_v3)
    to = split_recipients(body["To"])
    # Split at commas as Mailjet does, each piece is still one whole address.
    assert len(to) == 2
    [(name, addr)] = getaddresses([to[0]])
    assert name.startswith("=?utf-8?")
    assert (str(make_header(decode_header(name))), addr) == ("Widgets, Inc.", "widgets@example.com")
    assert to[1] == "Ünïcode Name <u@example.com>"
    [(name, _)] = getaddresses(split_recipients(body["Cc"]))
    assert str(make_header(decode_header(name))) == "Doe, Jane"
    [(name, _)] = getaddresses(split_recipients(body["Bcc"]))
    assert str(make_header(decode_header(name))) == "Ünï, Code"


def test_v3_merge_data_to_to_recipients_uses_recipients(mailjet_v3):
    msg = send(
        to=["Alice <alice@example.com>", "bob@example.com", "carol@example.com"],
        body="Dear [[var:name]]: order [[var:order_no]] ships [[var:ship_date]].",
        merge_data={
            "alice@example.com": {"name": "Alice", "order_no": "12345"},
            "bob@example.com": {"name": "Bob", "order_no": "54321"},
        },
        merge_global_data={"ship_date": "May 15"},
        metadata={"batch": "7"},
    )
    body = posted(mailjet_v3)
    assert "To" not in body
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
    assert len(set(msg.anymail_status.message_id)) == 3


def test_v3_merge_data_with_cc_sends_messages(mailjet_v3):
    msg = send(
        to=["Alice <alice@example.com>", "bob@example.com"],
        cc=["cc@example.com"],
        merge_data={"alice@example.com": {"name": "Alice"}, "bob@example.com": {"name": "Bob"}},
        merge_metadata={"alice@example.com": {"order": "1"}},
        esp_extra={"Mj-prio": 3},
    )
    first, second = posted(mailjet_v3)["Messages"]
    assert (first["To"], first["Vars"], first["Cc"]) == (
        "Alice <alice@example.com>",
        {"name": "Alice"},
        "cc@example.com",
    )
    assert json.loads(first["Mj-EventPayLoad"]) == {"order": "1"}
    assert (second["To"], second["Mj-prio"]) == ("bob@example.com", 3)
    assert msg.anymail_status.recipients["cc@example.com"].message_id == str(BIG_ID + 1)


def test_v3_template_sender_is_read_from_the_template_api(mailjet_v3):
    """Send API v3 needs FromEmail: with from_email = None, Anymail reads the
    template's "From" through the template API, then sends with it (Anymail 6.0)."""
    msg = template_message()
    msg.merge_data = {"alice@example.com": {"name": "Alice"}}
    msg.send()
    lookup, send_request = mailjet_v3.requests
    assert (lookup.method, lookup.path) == ("GET", "/v3/REST/template/176375/detailcontent")
    assert lookup.headers["Authorization"] == BASIC_AUTH
    assert (send_request.method, send_request.path) == ("POST", "/v3/send")
    body = send_request.json()
    assert body["Mj-TemplateID"] == 176375
    assert body["Mj-TemplateLanguage"] is True
    assert (body["FromEmail"], body["FromName"]) == ("orders@example.com", "Order Desk")
    assert msg.anymail_status.status == {"sent"}


def test_v3_template_sender_goes_to_every_message_of_a_batch_with_one_lookup(mailjet_v3):
    msg = template_message(cc=["cc@example.com"])
    msg.merge_data = {"alice@example.com": {"name": "Alice"}}
    msg.send()
    assert [request.method for request in mailjet_v3.requests] == ["GET", "POST"]
    for item in posted(mailjet_v3)["Messages"]:
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
def test_v3_template_sender_forms(mailjet_v3, template_id, from_email, from_name):
    template_message(template_id).send()
    body = posted(mailjet_v3)
    assert body["FromEmail"] == from_email
    assert body.get("FromName") == from_name


def test_v3_template_without_a_stored_sender_is_refused_and_nothing_sent(mailjet_v3):
    with pytest.raises(AnymailAPIError) as raised:
        template_message("176378").send()
    error = str(raised.value)
    assert "template 176378 has no sender" in error
    assert [request.method for request in mailjet_v3.requests] == ["GET"]


def test_v3_unknown_template_gives_mailjets_error_and_nothing_sent(mailjet_v3):
    with pytest.raises(AnymailAPIError) as raised:
        template_message("999999").send()
    error = str(raised.value)
    assert raised.value.status_code == 404
    assert "Mailjet says: Object not found" in error
    assert "template 999999" in error
    assert SECRET_KEY not in error
    assert [request.method for request in mailjet_v3.requests] == ["GET"]


def test_v3_template_name_with_templates_sender_is_refused_before_any_call(mailjet_v3):
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        template_message("order-shipped").send()
    assert "numeric" in str(raised.value)
    assert mailjet_v3.requests == []


def test_v3_template_name_is_sent_as_a_string(mailjet_v3):
    send(template_id="order-shipped", body="")
    assert posted(mailjet_v3)["Mj-TemplateID"] == "order-shipped"


def test_v3_internationalized_domains(mailjet_v3):
    msg = send(
        from_email="Bücherei <shop@bücher.example>",
        to=["Ünïcode <to@bücher.example>"],
        cc=["cc@bücher.example"],
        reply_to=["Reply <reply@bücher.example>"],
        envelope_sender="bounces@bücher.example",
    )
    body = posted(mailjet_v3)
    assert (body["FromEmail"], body["Sender"]) == (
        "shop@xn--bcher-kva.example",
        "bounces@xn--bcher-kva.example",
    )
    assert body["To"] == "Ünïcode <to@xn--bcher-kva.example>"
    assert body["Headers"]["Reply-To"] == "Reply <reply@xn--bcher-kva.example>"
    assert msg.anymail_status.recipients["cc@bücher.example"].status == "sent"


def test_v3_envelope_sender_refused_gives_mailjets_message(mailjet_v3, api):
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
    assert "Mailjet says: Sender is not allowed for this API key" in error
    assert "custom senders" in error


def test_v3_through_the_profiles_server(settings):
    with PROFILE.server() as server:
        settings.ANYMAIL = PROFILE.backend_settings(server, api_version="v3")
        settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
        template_message().send()
        [sent] = PROFILE.sent_messages(server)
        assert sent.from_email == ["Order Desk <orders@example.com>"]
        assert sent.template_id == "176375"
        assert PROFILE.request_count(server) == 1
        assert len(server.requests) == 2
