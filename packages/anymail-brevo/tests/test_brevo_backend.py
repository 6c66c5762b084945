"""SendinBlue's backend against a real HTTP server on 127.0.0.1 (conformance.fake_server):
what is particular to SendinBlue (Brevo). The shared conformance suite proves the rest.

The server here answers like the profile's fake Brevo API in strict mode: it also
refuses a message without an HTML body, and attachment names Brevo doesn't list.
"""

import base64
import json
import os
import re
import subprocess
import sys
from email.mime.application import MIMEApplication
from pathlib import Path

import pytest

from anymail.backends.sendinblue import DEFAULT_API_URL, EmailBackend
from anymail.conformance.sendinblue.profile import API_KEY, brevo_error
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailInvalidAddress,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import get_connection
from anymail_conformance.fake_server import FakeESPServer, FakeResponse

REPO_ROOT = Path(__file__).resolve().parents[3]
MESSAGE_ID = "<202601010000.123@smtp-relay.example.com>"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def server():
    def answer(request):
        refused = brevo_error(request, strict=True)
        if refused is not None:
            return refused
        body = request.json()
        if body.get("to") == [{"email": "versions@example.com"}]:
            return FakeResponse.json({"messageIds": ["<v1@relay>", "<v2@relay>"]}, 201)
        if body.get("to") == [{"email": "no-id@example.com"}]:
            return FakeResponse.json({}, 201)
        return FakeResponse.json({"messageId": MESSAGE_ID}, 201)

    with FakeESPServer(answer) as fake:
        yield fake


@pytest.fixture
def sendinblue(settings, server):
    settings.EMAIL_BACKEND = "anymail.backends.sendinblue.EmailBackend"
    settings.ANYMAIL = {"SENDINBLUE_API_KEY": API_KEY, "SENDINBLUE_API_URL": f"{server.url}/v3/"}
    return server


def message(**kwargs):
    kwargs.setdefault("from_email", "Sender <from@example.com>")
    kwargs.setdefault("to", ["to@example.com"])
    html = kwargs.pop("html", "<p>HTML body</p>")
    msg = AnymailMessage(**{"subject": "Subject", "body": "Text body", **kwargs})
    if html:
        msg.attach_alternative(html, "text/html")
    return msg


def sent_json(server, index=-1):
    return server.requests[index].json()


# --- the request


def test_send_posts_json_to_smtp_email_with_the_api_key_header(sendinblue):
    msg = message(
        to=["To Person <to@example.com>", "to2@example.com"],
        cc=["Cc Person <cc@example.com>"],
        bcc=["bcc@example.com"],
        reply_to=["Reply <reply@example.com>"],
        headers={"X-Custom": "custom value"},
        tags=["receipts"],
        metadata={"order_id": 12345, "note": "Ünïcode"},
    )
    msg.send()
    [request] = sendinblue.requests
    assert request.path == "/v3/smtp/email"
    assert request.headers["api-key"] == API_KEY
    assert request.headers.get_content_type() == "application/json"
    assert request.json() == {
        "sender": {"email": "from@example.com", "name": "Sender"},
        "to": [{"email": "to@example.com", "name": "To Person"}, {"email": "to2@example.com"}],
        "cc": [{"email": "cc@example.com", "name": "Cc Person"}],
        "bcc": [{"email": "bcc@example.com"}],
        "replyTo": {"email": "reply@example.com", "name": "Reply"},
        "subject": "Subject",
        "textContent": "Text body",
        "htmlContent": "<p>HTML body</p>",
        "headers": {
            "X-Custom": "custom value",
            "X-Mailin-custom": '{"order_id":12345,"note":"Ünïcode"}',
        },
        "tags": ["receipts"],
    }
    status = msg.anymail_status
    assert status.status == {"queued"}
    assert status.message_id == MESSAGE_ID
    assert set(status.recipients) == {
        "to@example.com",
        "to2@example.com",
        "cc@example.com",
        "bcc@example.com",
    }


def test_internationalized_domains_are_sent_in_idna_form(sendinblue):
    """Brevo's API types every address ``format: email`` (ASCII): a Unicode domain
    goes as its IDNA (punycode) form, in every address field. (The fake refuses a
    non-ASCII address as Brevo does.)"""
    msg = message(
        from_email="Bücher <shop@bücher.example>",
        to=["Ünïcode <user@bücher.example>", "to@example.com"],
        cc=["cc@exämple.com"],
        bcc=["bcc@bücher.example"],
        reply_to=["reply@bücher.example"],
    )
    msg.send()
    body = sent_json(sendinblue)
    assert body["sender"] == {"email": "shop@xn--bcher-kva.example", "name": "Bücher"}
    assert body["to"] == [
        {"email": "user@xn--bcher-kva.example", "name": "Ünïcode"},
        {"email": "to@example.com"},
    ]
    assert body["cc"] == [{"email": "cc@xn--exmple-cua.com"}]
    assert body["bcc"] == [{"email": "bcc@xn--bcher-kva.example"}]
    assert body["replyTo"] == {"email": "reply@xn--bcher-kva.example"}
    # anymail_status is keyed by the addresses as the message gave them.
    assert set(msg.anymail_status.recipients) == {
        "user@bücher.example",
        "to@example.com",
        "cc@exämple.com",
        "bcc@bücher.example",
    }


def test_internationalized_domain_with_a_template(sendinblue):
    msg = message(subject=None, body=None, html=None, to=["user@bücher.example"])
    msg.from_email = None
    msg.template_id = 7
    msg.send()
    assert sent_json(sendinblue)["to"] == [{"email": "user@xn--bcher-kva.example"}]


def test_a_domain_with_no_idna_form_is_an_invalid_address(sendinblue):
    with pytest.raises(AnymailInvalidAddress, match=re.escape("user@bücher..example")):
        message(to=["user@bücher..example"]).send()
    assert sendinblue.requests == []


def test_metadata_owns_the_x_mailin_custom_header(sendinblue):
    message(headers={"x-mailin-custom": "from headers"}, metadata={"a": "1"}).send()
    assert sent_json(sendinblue)["headers"] == {"X-Mailin-custom": '{"a":"1"}'}
    message(headers={"X-Mailin-custom": "kept without metadata"}).send()
    assert sent_json(sendinblue)["headers"] == {"X-Mailin-custom": "kept without metadata"}


def test_more_than_one_tag_is_unsupported(sendinblue, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="only one tag") as raised:
        message(tags=["one", "two"]).send()
    assert raised.value.feature == "tags"
    assert sendinblue.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    message(tags=["one", "two"]).send()
    assert sent_json(sendinblue)["tags"] == ["one"]


def test_esp_extra_is_merged_into_the_json(sendinblue, settings):
    message(esp_extra={"tags": ["a", "b"], "scheduledAt": "2030-01-02T03:04:05Z"}).send()
    body = sent_json(sendinblue)
    assert body["tags"] == ["a", "b"]
    assert body["scheduledAt"] == "2030-01-02T03:04:05Z"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SENDINBLUE_SEND_DEFAULTS": {"esp_extra": {"batchId": "from-defaults"}},
    }
    message().send()
    assert sent_json(sendinblue)["batchId"] == "from-defaults"


# --- settings


def test_default_api_url_is_brevos_current_host(settings):
    settings.ANYMAIL = {"SENDINBLUE_API_KEY": API_KEY}
    assert DEFAULT_API_URL == "https://api.brevo.com/v3/"
    assert EmailBackend().api_url == "https://api.brevo.com/v3/"


def test_anymail_6_api_url_still_works(settings):
    settings.ANYMAIL = {
        "SENDINBLUE_API_KEY": API_KEY,
        "SENDINBLUE_API_URL": "https://api.sendinblue.com/v3/",
    }
    backend = EmailBackend()
    payload = backend.build_message_payload(message(), backend.send_defaults)
    assert payload.get_request_params(backend.api_url)["url"] == (
        "https://api.sendinblue.com/v3/smtp/email"
    )


def test_api_url_without_trailing_slash(sendinblue, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDINBLUE_API_URL": f"{sendinblue.url}/v3"}
    message().send()
    assert sendinblue.requests[0].path == "/v3/smtp/email"


@pytest.mark.parametrize("spelling", ["anymail_dict", "prefixed", "bare", "kwarg"])
def test_api_key_setting_spellings(sendinblue, settings, spelling):
    url = f"{sendinblue.url}/v3/"
    settings.ANYMAIL = {"SENDINBLUE_API_URL": url}
    kwargs = {}
    if spelling == "anymail_dict":
        settings.ANYMAIL["SENDINBLUE_API_KEY"] = API_KEY
    elif spelling == "prefixed":
        settings.ANYMAIL_SENDINBLUE_API_KEY = API_KEY
    elif spelling == "bare":
        settings.SENDINBLUE_API_KEY = API_KEY
    else:
        kwargs = {"api_key": API_KEY}
    connection = get_connection(**kwargs)
    msg = message()
    msg.connection = connection
    msg.send()
    assert sendinblue.requests[0].headers["api-key"] == API_KEY


def test_missing_api_key_names_every_place_to_set_it(settings):
    settings.EMAIL_BACKEND = "anymail.backends.sendinblue.EmailBackend"
    with pytest.raises(AnymailConfigurationError) as raised:
        get_connection()
    text = str(raised.value)
    for place in ('ANYMAIL = {"SENDINBLUE_API_KEY"', "ANYMAIL_SENDINBLUE_API_KEY", "api_key="):
        assert place in text


# --- documented quirks


def test_text_only_message_gets_brevos_error_and_the_rule(sendinblue):
    with pytest.raises(AnymailAPIError) as raised:
        message(html=None).send()
    assert raised.value.status_code == 400
    text = str(raised.value)
    assert "htmlContent is missing" in text  # Brevo's own message
    assert "requires an HTML body unless you send with a template_id" in text


def test_api_error_without_a_broken_rule_has_no_hint(sendinblue):
    with pytest.raises(AnymailAPIError) as raised:
        message(subject="").send()  # no subject: Brevo refuses
    text = str(raised.value)
    assert "subject is missing" in text
    assert "HTML body" not in text
    assert "extension" not in text


def test_unlisted_attachment_extension_gets_brevos_error_and_the_rule(sendinblue):
    msg = message()
    msg.attach("report.pdf", b"%PDF-1.4", "application/pdf")
    msg.send()
    assert sent_json(sendinblue)["attachment"] == [
        {"name": "report.pdf", "content": "JVBERi0xLjQ="}
    ]

    msg = message()
    msg.attach("data.bin", b"\x00\x01", "application/octet-stream")
    with pytest.raises(AnymailAPIError) as raised:
        msg.send()
    text = str(raised.value)
    assert "Unsupported file extension for data.bin" in text
    assert "['data.bin'] do not end in one Brevo lists" in text


def test_attachment_without_a_name_is_unsupported(sendinblue, settings):
    msg = message()
    msg.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename") as raised:
        msg.send()
    assert raised.value.feature == "attachments"
    assert sendinblue.requests == []

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = message()
    msg.attach(MIMEApplication(b"data"))
    msg.attach("kept.txt", "kept", "text/plain")
    msg.send()
    assert [a["name"] for a in sent_json(sendinblue)["attachment"]] == ["kept.txt"]


def test_inline_images_are_unsupported_or_sent_as_attachments(sendinblue, settings):
    def with_image():
        msg = message(html=None)
        cid = attach_inline_image(msg, PNG, "logo.png", subtype="png")
        msg.attach_alternative(f'<img src="cid:{cid}">', "text/html")
        return msg

    with pytest.raises(AnymailUnsupportedFeature) as raised:
        with_image().send()
    assert raised.value.feature == "inline_images"
    assert sendinblue.requests == []

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    with_image().send()
    [attachment] = sent_json(sendinblue)["attachment"]
    assert attachment["name"] == "logo.png"
    assert base64.b64decode(attachment["content"]) == PNG


def test_unnamed_inline_image_gets_a_filename_from_its_content_id(sendinblue, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = message()
    attach_inline_image(msg, PNG, filename=None, subtype="png", idstring="logo")
    msg.send()
    [attachment] = sent_json(sendinblue)["attachment"]
    assert attachment["name"].endswith(".png")
    assert "logo" in attachment["name"]
    assert "@" not in attachment["name"]


@pytest.mark.parametrize(
    "feature",
    ["send_at", "track_clicks", "track_opens", "envelope_sender", "merge_data", "merge_metadata"],
)
def test_unsupported_options(sendinblue, feature):
    from datetime import UTC, datetime

    values = {
        "send_at": datetime(2030, 1, 1, tzinfo=UTC),
        "track_clicks": True,
        "track_opens": False,
        "envelope_sender": "bounces@example.com",
        "merge_data": {"to@example.com": {"name": "To"}},
        "merge_metadata": {"to@example.com": {"id": "1"}},
    }
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        message(**{feature: values[feature]}).send()
    assert raised.value.feature == feature
    assert sendinblue.requests == []


# --- templates


def template_message(**kwargs):
    msg = AnymailMessage(to=kwargs.pop("to", ["alice@example.com"]), **kwargs)
    msg.from_email = None
    return msg


@pytest.mark.parametrize("template_id", [7, "7"])
def test_template_by_numeric_id_with_merge_global_data(sendinblue, template_id):
    msg = template_message(reply_to=["reply@example.com"], tags=["welcome"])
    msg.template_id = template_id  # the fake account's template 7
    msg.merge_global_data = {"name": "Alice", "order_no": "12345"}
    msg.send()
    assert sent_json(sendinblue) == {
        "to": [{"email": "alice@example.com"}],
        "replyTo": {"email": "reply@example.com"},
        "templateId": 7,
        "params": {"name": "Alice", "order_no": "12345"},
        "tags": ["welcome"],
    }
    assert msg.anymail_status.status == {"queued"}


@pytest.mark.parametrize("template_id", ["welcome-email", "3.5", "-3"])
def test_template_id_must_be_numeric(sendinblue, settings, template_id):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = template_message()
    msg.template_id = template_id
    with pytest.raises(AnymailSerializationError, match="numeric ID") as raised:
        msg.send()
    assert raised.value.field == "template_id"
    assert sendinblue.requests == []


@pytest.mark.parametrize(
    ("attributes", "rule"),
    [
        ({"from_email": "from@example.com"}, "from_email must be None"),
        ({"subject": "A subject"}, "subject must be None"),
        ({"body": "A text body"}, "body must be None"),
        ({"to": ["Alice <alice@example.com>"]}, "display names"),
        ({"cc": ["Carol <carol@example.com>"]}, "display names"),
        ({"reply_to": ["Reply <reply@example.com>"]}, "display names"),
    ],
)
def test_template_rules_raise_naming_the_rule(sendinblue, attributes, rule):
    msg = template_message(to=attributes.pop("to", ["alice@example.com"]))
    for name, value in attributes.items():
        setattr(msg, name, value)
    msg.template_id = 7
    with pytest.raises(AnymailUnsupportedFeature, match=rule) as raised:
        msg.send()
    assert raised.value.feature == "template_id"
    assert sendinblue.requests == []


def test_template_html_body_is_refused_too(sendinblue):
    msg = template_message()
    msg.attach_alternative("<p>HTML</p>", "text/html")
    msg.template_id = 7
    with pytest.raises(AnymailUnsupportedFeature, match="body must be None"):
        msg.send()


def test_template_rules_under_ignore_unsupported_features(sendinblue, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = template_message(
        subject="Dropped",
        body="Dropped",
        to=["Alice <alice@example.com>"],
        cc=["Carol <carol@example.com>"],
        reply_to=["Reply <reply@example.com>"],
    )
    msg.from_email = "Sender <from@example.com>"
    msg.template_id = 7
    msg.send()
    assert sent_json(sendinblue) == {
        "to": [{"email": "alice@example.com"}],
        "cc": [{"email": "carol@example.com"}],
        "replyTo": {"email": "reply@example.com"},
        "templateId": 7,
    }


def test_django_default_empty_subject_and_body_are_no_override(sendinblue):
    msg = template_message()  # EmailMessage's defaults: subject "" and body ""
    assert (msg.subject, msg.body) == ("", "")
    msg.template_id = 7
    msg.send()
    assert sent_json(sendinblue) == {"to": [{"email": "alice@example.com"}], "templateId": 7}


# --- responses and errors


def test_refused_api_key_says_which_key_without_showing_it(sendinblue, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDINBLUE_API_KEY": "xkeysib-wrong-key-0123"}
    with pytest.raises(AnymailAPIError) as raised:
        message().send()
    text = str(raised.value)
    assert raised.value.status_code == 401
    assert "v3 API key" in text
    assert "Key not found" in text
    assert "xkeysib-wrong-key-0123" not in text


def test_debug_api_requests_redacts_the_api_key(sendinblue, settings, capsys):
    settings.ANYMAIL = {**settings.ANYMAIL, "DEBUG_API_REQUESTS": True}
    message().send()
    output = capsys.readouterr().out
    assert "smtp/email" in output
    assert API_KEY not in output


def test_response_without_message_id_is_an_api_error(sendinblue):
    with pytest.raises(AnymailAPIError, match="no messageId"):
        message(to=["no-id@example.com"]).send()


def test_message_versions_answer_queues_without_one_message_id(sendinblue):
    msg = message(to=["versions@example.com"])
    msg.send()
    assert msg.anymail_status.status == {"queued"}
    assert msg.anymail_status.recipients["versions@example.com"].message_id is None


def test_esp_module_imports_only_anymail_base():
    """Listing the registry never imports the backend, the webhook view or requests'
    users: the description module stands alone."""
    code = (
        "import sys, anymail.esps.sendinblue; "
        "bad = {'anymail.backends.sendinblue', 'anymail.webhooks.sendinblue', 'boto3', "
        "'sparkpost'} & set(sys.modules); assert not bad, bad"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, cwd=REPO_ROOT, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()


def test_fake_server_checks_what_brevo_requires(sendinblue):
    """The strict fake refuses what Brevo's reference says it refuses (so the tests
    above could fail)."""
    import requests

    url = f"{sendinblue.url}/v3/smtp/email"
    headers = {"api-key": API_KEY}
    body = {"sender": {"email": "a@example.com"}, "to": [{"email": "b@example.com"}]}
    response = requests.post(url, json={**body, "subject": "s"}, headers=headers, timeout=5)
    assert response.status_code == 400
    assert json.loads(response.text)["message"] == "htmlContent is missing"
    response = requests.post(url, json={**body, "templateId": "7"}, headers=headers, timeout=5)
    assert json.loads(response.text)["message"] == "templateId should be type integer"
    unicode_to = {**body, "templateId": 7, "to": [{"email": "user@bücher.example"}]}
    response = requests.post(url, json=unicode_to, headers=headers, timeout=5)
    assert json.loads(response.text)["message"] == "email is not valid in to"
