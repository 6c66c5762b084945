"""Brevo's backend against a real HTTP server on 127.0.0.1 (conformance.fake_server):
what is particular to Brevo. The shared conformance suite proves the rest.

The server here answers like the profile's fake Brevo API in strict mode: it also
refuses a message without an HTML body, and attachment names Brevo doesn't list.
"""

import base64
import json
import re
import warnings
from datetime import UTC, date, datetime, timedelta, timezone
from email.mime.application import MIMEApplication

import pytest

from anymail.backends.brevo import DEFAULT_API_URL, MAX_MESSAGE_VERSIONS, EmailBackend
from anymail.backends.brevo import _warned as warned
from anymail.conformance.brevo.profile import API_KEY, PROFILE, brevo_error
from anymail.conformance.brevo.profile import answer as brevo_answer
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailDeprecationWarning,
    AnymailInvalidAddress,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import get_connection
from anymail_conformance import package_checks as checks
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import PNG, emptied, make_message, sent_json, warns_once

MESSAGE_ID = "<202601010000.123@smtp-relay.example.com>"


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
        if "messageVersions" in body or "scheduledAt" in body:
            return brevo_answer(body)  # the profile's: one id per version; 202 when scheduled
        return FakeResponse.json({"messageId": MESSAGE_ID}, 201)

    with FakeESPServer(answer) as fake:
        yield fake


@pytest.fixture
def brevo(settings, server):
    return checks.use_fake_api(settings, PROFILE, server)


def message(**kwargs):
    """A message with a text and (Brevo wants one) an HTML body."""
    html = kwargs.pop("html", "<p>HTML body</p>")
    msg = make_message(**{"body": "Text body", **kwargs})
    if html:
        msg.attach_alternative(html, "text/html")
    return msg


# --- the request


def test_send_posts_json_to_smtp_email_with_the_api_key_header(brevo):
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
    [request] = brevo.requests
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


def test_internationalized_domains_are_sent_in_idna_form(brevo):
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
    body = sent_json(brevo)
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


def test_internationalized_domain_with_a_template(brevo):
    msg = message(subject=None, body=None, html=None, to=["user@bücher.example"])
    msg.from_email = None
    msg.template_id = 7
    msg.send()
    assert sent_json(brevo)["to"] == [{"email": "user@xn--bcher-kva.example"}]


def test_a_domain_with_no_idna_form_is_an_invalid_address(brevo):
    with pytest.raises(AnymailInvalidAddress, match=re.escape("user@bücher..example")):
        message(to=["user@bücher..example"]).send()
    assert brevo.requests == []


def test_metadata_owns_the_x_mailin_custom_header(brevo):
    message(headers={"x-mailin-custom": "from headers"}, metadata={"a": "1"}).send()
    assert sent_json(brevo)["headers"] == {"X-Mailin-custom": '{"a":"1"}'}
    message(headers={"X-Mailin-custom": "kept without metadata"}).send()
    assert sent_json(brevo)["headers"] == {"X-Mailin-custom": "kept without metadata"}


def test_several_tags_go_in_brevos_tags_list(brevo):
    """Brevo's "tags" is a list (issue #29: Anymail 6.0 sent one tag, in a header)."""
    message(tags=["receipts", "Tag Two", "ünïcode"]).send()
    assert sent_json(brevo)["tags"] == ["receipts", "Tag Two", "ünïcode"]


def test_send_at_is_brevos_scheduled_at_in_utc(brevo):
    """Brevo's "scheduledAt" ("YYYY-MM-DDTHH:mm:ss.SSSZ"); Brevo answers 202 with the
    scheduled message's id and a batch id."""
    paris = timezone(timedelta(hours=2))
    msg = message(send_at=datetime(2030, 1, 2, 5, 4, 5, 678000, tzinfo=paris))
    msg.send()
    assert sent_json(brevo)["scheduledAt"] == "2030-01-02T03:04:05.678Z"
    assert msg.anymail_status.status == {"queued"}
    assert msg.anymail_status.message_id.startswith("<")
    # A date is midnight in the site's time zone (testproject: America/Los_Angeles).
    message(send_at=date(2030, 1, 2)).send()
    assert sent_json(brevo)["scheduledAt"] == "2030-01-02T08:00:00.000Z"


def test_esp_extra_is_merged_into_the_json(brevo, settings):
    message(
        esp_extra={"tags": ["a", "b"], "batchId": "5c6cfa04-eed9-42c2-8b5c-6d470d978e9d"}
    ).send()
    body = sent_json(brevo)
    assert body["tags"] == ["a", "b"]
    assert body["batchId"] == "5c6cfa04-eed9-42c2-8b5c-6d470d978e9d"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "BREVO_SEND_DEFAULTS": {"esp_extra": {"batchId": "from-defaults"}},
    }
    message().send()
    assert sent_json(brevo)["batchId"] == "from-defaults"


# --- batch sending: Brevo's messageVersions, one call


def test_merge_data_is_one_call_with_a_message_version_per_to_recipient(brevo):
    """Each "to" recipient gets their own message (seeing only their own address),
    with their merge data on top of the global data; cc and bcc are the message's,
    copied on every version (issue #29: one call, not one per recipient)."""
    msg = message(
        to=["Alice <alice@example.com>", "bob@example.com", "carol@example.com"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        subject="Hi {{ params.name }}",
        html="<p>Order {{ params.order }} for {{ params.site }}</p>",
    )
    msg.merge_data = {
        "alice@example.com": {"name": "Alice", "order": "1"},
        "bob@example.com": {"name": "Bob", "order": "2", "site": "Bob's own"},
    }
    msg.merge_global_data = {"site": "Example"}
    msg.send()
    [request] = brevo.requests  # one call
    body = request.json()
    assert "to" not in body  # "ignored if messageVersions are passed"
    assert body["cc"] == [{"email": "cc@example.com"}]
    assert body["bcc"] == [{"email": "bcc@example.com"}]
    assert body["params"] == {"site": "Example"}
    assert body["messageVersions"] == [
        {
            "to": [{"email": "alice@example.com", "name": "Alice"}],
            "params": {"site": "Example", "name": "Alice", "order": "1"},
        },
        {
            "to": [{"email": "bob@example.com"}],
            "params": {"site": "Bob's own", "name": "Bob", "order": "2"},
        },
        # No merge data of its own: the global data.
        {"to": [{"email": "carol@example.com"}], "params": {"site": "Example"}},
    ]
    # Brevo's messageIds are one per version, in order: each "to" recipient's own.
    status = msg.anymail_status
    ids = [
        status.recipients[addr].message_id
        for addr in ("alice@example.com", "bob@example.com", "carol@example.com")
    ]
    assert len(set(ids)) == 3
    assert all(i.startswith("<") for i in ids)
    # cc and bcc get a copy of every version: no one id is theirs.
    assert status.recipients["cc@example.com"].message_id is None
    assert status.recipients["bcc@example.com"].message_id is None
    assert status.status == {"queued"}


def test_merge_metadata_is_each_versions_own_x_mailin_custom(brevo):
    """Per-recipient metadata, on top of the message's, in the version's headers."""
    msg = message(to=["alice@example.com", "bob@example.com"], metadata={"campaign": "spring"})
    msg.merge_metadata = {"alice@example.com": {"user": "1"}, "BOB@example.com": {"user": "2"}}
    msg.send()
    body = sent_json(brevo)
    assert body["headers"] == {"X-Mailin-custom": '{"campaign":"spring"}'}
    assert [version["headers"] for version in body["messageVersions"]] == [
        {"X-Mailin-custom": '{"campaign":"spring","user":"1"}'},
        # (Recipients match merge_metadata keys without case, as the base payload does.)
        {"X-Mailin-custom": '{"campaign":"spring","user":"2"}'},
    ]
    assert "params" not in body["messageVersions"][0]  # no merge_data: no params


def test_empty_merge_data_is_a_batch_send_without_params(brevo):
    """merge_data = {} (as the Anymail docs say) makes a batch send: each recipient
    sees only their own address."""
    msg = message(to=["alice@example.com", "bob@example.com"])
    msg.merge_data = {}
    msg.send()
    assert sent_json(brevo)["messageVersions"] == [
        {"to": [{"email": "alice@example.com"}]},
        {"to": [{"email": "bob@example.com"}]},
    ]


def test_batch_send_with_a_template_and_idna(brevo):
    msg = template_message(to=["alice@bücher.example", "bob@example.com"])
    msg.template_id = 7
    msg.merge_data = {"alice@bücher.example": {"name": "Alice"}}
    msg.send()
    body = sent_json(brevo)
    assert body["templateId"] == 7
    assert body["messageVersions"][0] == {
        "to": [{"email": "alice@xn--bcher-kva.example"}],
        "params": {"name": "Alice"},
    }
    assert set(msg.anymail_status.recipients) == {"alice@bücher.example", "bob@example.com"}


def test_batch_send_scheduled(brevo):
    msg = message(
        to=["alice@example.com", "bob@example.com"], send_at=datetime(2030, 1, 2, tzinfo=UTC)
    )
    msg.merge_data = {}
    msg.send()
    body = sent_json(brevo)
    assert body["scheduledAt"] == "2030-01-02T00:00:00.000Z"
    assert len(body["messageVersions"]) == 2
    assert len({r.message_id for r in msg.anymail_status.recipients.values()}) == 2


def test_more_than_1000_to_recipients_in_a_batch_send_is_refused(brevo, settings):
    """Brevo takes at most 1000 message versions in one call: refused before
    sending, naming the feature, even when ignoring unsupported features (nothing
    could be sent without it)."""
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    recipients = [f"to{n}@example.com" for n in range(MAX_MESSAGE_VERSIONS + 1)]
    msg = message(to=recipients)
    msg.merge_metadata = {}
    with pytest.raises(AnymailUnsupportedFeature, match="at most 1000 message versions") as raised:
        msg.send()
    assert raised.value.feature == "merge_metadata"
    assert brevo.requests == []
    msg = message(to=recipients[:MAX_MESSAGE_VERSIONS])
    msg.merge_data = {}
    msg.send()
    assert len(sent_json(brevo)["messageVersions"]) == MAX_MESSAGE_VERSIONS


def test_batch_send_without_to_recipients_is_an_ordinary_message(brevo):
    msg = message(to=[], cc=["cc@example.com"])
    msg.merge_data = {}
    with pytest.raises(AnymailAPIError, match="to is missing"):
        msg.send()  # Brevo needs a "to": its error, as for any message without one
    assert "messageVersions" not in sent_json(brevo)


# --- settings


def test_default_api_url_is_brevos_current_host(settings):
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY}
    assert DEFAULT_API_URL == "https://api.brevo.com/v3/"
    assert EmailBackend().api_url == "https://api.brevo.com/v3/"


def test_anymail_6_api_url_still_works(settings):
    settings.ANYMAIL = {
        "BREVO_API_KEY": API_KEY,
        "BREVO_API_URL": "https://api.sendinblue.com/v3/",
    }
    backend = EmailBackend()
    payload = backend.build_message_payload(message(), backend.send_defaults)
    assert payload.get_request_params(backend.api_url)["url"] == (
        "https://api.sendinblue.com/v3/smtp/email"
    )


def test_api_url_without_trailing_slash(brevo, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "BREVO_API_URL": f"{brevo.url}/v3"}
    message().send()
    assert brevo.requests[0].path == "/v3/smtp/email"


@pytest.mark.parametrize("place", checks.SETTING_PLACES)
def test_api_key_setting_spellings(brevo, settings, place):
    url = f"{brevo.url}/v3/"
    options = checks.set_esp_settings(
        settings, place, "brevo", {"api_key": API_KEY}, BREVO_API_URL=url
    )
    connection = get_connection(**options)
    msg = message()
    msg.connection = connection
    msg.send()
    assert brevo.requests[0].headers["api-key"] == API_KEY


def test_missing_api_key_names_every_place_to_set_it(settings):
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    with pytest.raises(AnymailConfigurationError) as raised:
        get_connection()
    text = str(raised.value)
    for place in ('ANYMAIL = {"BREVO_API_KEY"', "ANYMAIL_BREVO_API_KEY", "api_key="):
        assert place in text


# --- SendinBlue's setting names: still read, with a deprecation warning


@pytest.fixture(autouse=True)
def _fresh_deprecation_warnings():
    """Each deprecation warning is given once per process: forget those given."""
    with emptied(warned):
        yield


@pytest.mark.parametrize(
    ("place", "spelling", "replacement"),
    [
        ("ANYMAIL dict", 'ANYMAIL["SENDINBLUE_API_KEY"]', 'ANYMAIL["BREVO_API_KEY"]'),
        ("ANYMAIL_ prefix", "ANYMAIL_SENDINBLUE_API_KEY", "ANYMAIL_BREVO_API_KEY"),
        ("bare setting", "SENDINBLUE_API_KEY", "BREVO_API_KEY"),
    ],
)
def test_a_sendinblue_setting_works_with_a_warning_naming_its_new_name(
    brevo, settings, place, spelling, replacement
):
    """A site that changed only EMAIL_BACKEND to Brevo's keeps sending."""
    url = f"{brevo.url}/v3/"
    checks.set_esp_settings(settings, place, "sendinblue", {"api_key": API_KEY}, BREVO_API_URL=url)
    with pytest.warns(AnymailDeprecationWarning) as caught:
        message().send()
    assert brevo.requests[0].headers["api-key"] == API_KEY
    [warning] = caught
    assert str(warning.message) == (
        f"SendinBlue is now Brevo: the setting {spelling} is deprecated. "
        f"Rename it {replacement} (same value)."
    )


def test_sendinblue_api_url_and_send_defaults_work_too(brevo, settings):
    settings.ANYMAIL = {
        "SENDINBLUE_API_KEY": API_KEY,
        "SENDINBLUE_API_URL": f"{brevo.url}/v3",
        "SEND_DEFAULTS": {"tags": ["general"], "metadata": {"from": "general"}},
        "SENDINBLUE_SEND_DEFAULTS": {"tags": ["sendinblue"]},
    }
    with pytest.warns(AnymailDeprecationWarning) as caught:
        message().send()
    body = sent_json(brevo)
    assert body["tags"] == ["sendinblue"]  # ESP defaults replace the general ones
    assert body["headers"] == {"X-Mailin-custom": '{"from":"general"}'}
    renamed = sorted(str(w.message).split(" is deprecated")[0] for w in caught)
    assert renamed == [
        'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_API_KEY"]',
        'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_API_URL"]',
        'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_SEND_DEFAULTS"]',
    ]


def test_a_brevo_setting_wins_and_the_sendinblue_one_is_said_to_be_ignored(brevo, settings):
    settings.ANYMAIL = {
        "BREVO_API_KEY": API_KEY,
        "SENDINBLUE_API_KEY": "xkeysib-stale-key",
        "BREVO_API_URL": f"{brevo.url}/v3/",
        "BREVO_SEND_DEFAULTS": {"tags": ["brevo"]},
        "SENDINBLUE_SEND_DEFAULTS": {"tags": ["sendinblue"]},
    }
    with pytest.warns(AnymailDeprecationWarning) as caught:
        message().send()
    assert brevo.requests[0].headers["api-key"] == API_KEY
    assert sent_json(brevo)["tags"] == ["brevo"]
    messages = {str(w.message) for w in caught}
    assert messages == {
        'SendinBlue is now Brevo: ANYMAIL["SENDINBLUE_API_KEY"] is ignored, because '
        'BREVO_API_KEY is set. Remove ANYMAIL["SENDINBLUE_API_KEY"] from your settings.',
        'SendinBlue is now Brevo: ANYMAIL["SENDINBLUE_SEND_DEFAULTS"] is ignored, because '
        'BREVO_SEND_DEFAULTS is set. Remove ANYMAIL["SENDINBLUE_SEND_DEFAULTS"] from your '
        "settings.",
    }
    assert "xkeysib-stale-key" not in "".join(messages)


def test_a_bare_sendinblue_api_key_beside_brevos_is_left_alone(brevo, settings):
    """A bare SENDINBLUE_API_KEY may be another app's: no advice to remove it."""
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{brevo.url}/v3/"}
    settings.SENDINBLUE_API_KEY = "xkeysib-other-apps-key"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message().send()
    assert brevo.requests[0].headers["api-key"] == API_KEY


def test_a_backend_option_wins_over_a_sendinblue_setting(brevo, settings):
    settings.ANYMAIL = {
        "SENDINBLUE_API_KEY": "xkeysib-stale-key",
        "BREVO_API_URL": f"{brevo.url}/v3/",
    }
    with pytest.warns(AnymailDeprecationWarning, match="because the backend option 'api_key'"):
        connection = get_connection(api_key=API_KEY)
    assert connection.api_key == API_KEY


def test_each_deprecation_warning_is_given_once(brevo, settings):
    """As anymail-base warns about undeclared features: once per process, not per message."""
    settings.ANYMAIL = {"SENDINBLUE_API_KEY": API_KEY, "BREVO_API_URL": f"{brevo.url}/v3/"}
    warns_once(lambda: message().send(), AnymailDeprecationWarning)
    assert len(brevo.requests) == 2


def test_a_sendinblue_send_defaults_that_isnt_a_dict_names_it(settings):
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "SENDINBLUE_SEND_DEFAULTS": ["tags"]}
    with (
        pytest.warns(AnymailDeprecationWarning),
        pytest.raises(
            AnymailConfigurationError, match="ANYMAIL SENDINBLUE_SEND_DEFAULTS must be a dict"
        ),
    ):
        EmailBackend()
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_SEND_DEFAULTS": {"tag": "typo"}}
    with pytest.raises(
        AnymailConfigurationError, match=r"BREVO_SEND_DEFAULTS has unknown key\(s\) \['tag'\]"
    ):
        EmailBackend()


# --- documented quirks


def test_text_only_message_gets_brevos_error_and_the_rule(brevo):
    with pytest.raises(AnymailAPIError) as raised:
        message(html=None).send()
    assert raised.value.status_code == 400
    text = str(raised.value)
    assert "htmlContent is missing" in text  # Brevo's own message
    assert "requires an HTML body unless you send with a template_id" in text


def test_api_error_without_a_broken_rule_has_no_hint(brevo):
    with pytest.raises(AnymailAPIError) as raised:
        message(subject="").send()  # no subject: Brevo refuses
    text = str(raised.value)
    assert "subject is missing" in text
    assert "HTML body" not in text
    assert "extension" not in text


def test_unlisted_attachment_extension_gets_brevos_error_and_the_rule(brevo):
    msg = message()
    msg.attach("report.pdf", b"%PDF-1.4", "application/pdf")
    msg.send()
    assert sent_json(brevo)["attachment"] == [{"name": "report.pdf", "content": "JVBERi0xLjQ="}]

    msg = message()
    msg.attach("data.bin", b"\x00\x01", "application/octet-stream")
    with pytest.raises(AnymailAPIError) as raised:
        msg.send()
    text = str(raised.value)
    assert "Unsupported file extension for data.bin" in text
    assert "['data.bin'] do not end in one Brevo lists" in text


def test_attachment_without_a_name_is_unsupported(brevo, settings):
    def with_unnamed_attachment():
        msg = message()
        msg.attach(MIMEApplication(b"data"))
        msg.attach("kept.txt", "kept", "text/plain")
        return msg.send()

    refusal, _ = checks.refused_unless_ignored(
        settings, brevo, with_unnamed_attachment, match="filename"
    )
    assert refusal.feature == "attachments"
    assert [a["name"] for a in sent_json(brevo)["attachment"]] == ["kept.txt"]


def test_inline_images_are_unsupported_or_sent_as_attachments(brevo, settings):
    def with_image():
        msg = message(html=None)
        cid = attach_inline_image(msg, PNG, "logo.png", subtype="png")
        msg.attach_alternative(f'<img src="cid:{cid}">', "text/html")
        return msg

    refusal, _ = checks.refused_unless_ignored(settings, brevo, lambda: with_image().send())
    assert refusal.feature == "inline_images"
    [attachment] = sent_json(brevo)["attachment"]
    assert attachment["name"] == "logo.png"
    assert base64.b64decode(attachment["content"]) == PNG


def test_unnamed_inline_image_gets_a_filename_from_its_content_id(brevo, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = message()
    attach_inline_image(msg, PNG, filename=None, subtype="png", idstring="logo")
    msg.send()
    [attachment] = sent_json(brevo)["attachment"]
    assert attachment["name"].endswith(".png")
    assert "logo" in attachment["name"]
    assert "@" not in attachment["name"]


@pytest.mark.parametrize(
    "feature",
    ["track_clicks", "track_opens", "envelope_sender"],
)
def test_unsupported_options(brevo, feature):
    values = {
        "track_clicks": True,
        "track_opens": False,
        "envelope_sender": "bounces@example.com",
    }
    with pytest.raises(AnymailUnsupportedFeature) as raised:
        message(**{feature: values[feature]}).send()
    assert raised.value.feature == feature
    assert brevo.requests == []


# --- templates


def template_message(**kwargs):
    msg = AnymailMessage(to=kwargs.pop("to", ["alice@example.com"]), **kwargs)
    msg.from_email = None
    return msg


@pytest.mark.parametrize("template_id", [7, "7"])
def test_template_by_numeric_id_with_merge_global_data(brevo, template_id):
    msg = template_message(reply_to=["reply@example.com"], tags=["welcome"])
    msg.template_id = template_id  # the fake account's template 7
    msg.merge_global_data = {"name": "Alice", "order_no": "12345"}
    msg.send()
    assert sent_json(brevo) == {
        "to": [{"email": "alice@example.com"}],
        "replyTo": {"email": "reply@example.com"},
        "templateId": 7,
        "params": {"name": "Alice", "order_no": "12345"},
        "tags": ["welcome"],
    }
    assert msg.anymail_status.status == {"queued"}


@pytest.mark.parametrize("template_id", ["welcome-email", "3.5", "-3"])
def test_template_id_must_be_numeric(brevo, settings, template_id):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    msg = template_message()
    msg.template_id = template_id
    with pytest.raises(AnymailSerializationError, match="numeric ID") as raised:
        msg.send()
    assert raised.value.field == "template_id"
    assert brevo.requests == []


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
def test_template_rules_raise_naming_the_rule(brevo, attributes, rule):
    msg = template_message(to=attributes.pop("to", ["alice@example.com"]))
    for name, value in attributes.items():
        setattr(msg, name, value)
    msg.template_id = 7
    with pytest.raises(AnymailUnsupportedFeature, match=rule) as raised:
        msg.send()
    assert raised.value.feature == "template_id"
    assert brevo.requests == []


def test_template_html_body_is_refused_too(brevo):
    msg = template_message()
    msg.attach_alternative("<p>HTML</p>", "text/html")
    msg.template_id = 7
    with pytest.raises(AnymailUnsupportedFeature, match="body must be None"):
        msg.send()


def test_template_rules_under_ignore_unsupported_features(brevo, settings):
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
    assert sent_json(brevo) == {
        "to": [{"email": "alice@example.com"}],
        "cc": [{"email": "carol@example.com"}],
        "replyTo": {"email": "reply@example.com"},
        "templateId": 7,
    }


def test_django_default_empty_subject_and_body_are_no_override(brevo):
    msg = template_message()  # EmailMessage's defaults: subject "" and body ""
    assert (msg.subject, msg.body) == ("", "")
    msg.template_id = 7
    msg.send()
    assert sent_json(brevo) == {"to": [{"email": "alice@example.com"}], "templateId": 7}


# --- responses and errors


def test_refused_api_key_says_which_key_without_showing_it(brevo, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "BREVO_API_KEY": "xkeysib-wrong-key-0123"}
    with pytest.raises(AnymailAPIError) as raised:
        message().send()
    text = str(raised.value)
    assert raised.value.status_code == 401
    assert "v3 API key" in text
    assert "Key not found" in text
    assert "xkeysib-wrong-key-0123" not in text


def test_debug_api_requests_redacts_the_api_key(brevo, settings, capsys):
    output = checks.debug_output(settings, capsys, lambda: message().send())
    assert "smtp/email" in output
    assert API_KEY not in output


def test_response_without_message_id_is_an_api_error(brevo):
    with pytest.raises(AnymailAPIError, match="no messageId"):
        message(to=["no-id@example.com"]).send()


def test_message_ids_answer_for_versions_anymail_didnt_make(brevo):
    """esp_extra's own messageVersions (Anymail can't tell which id is whose): queued,
    without a message id."""
    msg = message(to=["versions@example.com"])
    msg.send()
    assert msg.anymail_status.status == {"queued"}
    assert msg.anymail_status.recipients["versions@example.com"].message_id is None


def test_esp_module_imports_only_anymail_base():
    """Listing the registry never imports the backend, the webhook view or requests'
    users: the description module stands alone."""
    code = (
        "import sys, anymail.esps.brevo; "
        "bad = {'anymail.backends.brevo', 'anymail.webhooks.brevo', 'boto3', "
        "'sparkpost'} & set(sys.modules); assert not bad, bad"
    )
    checks.run_python(code)


def test_fake_server_checks_what_brevo_requires(brevo):
    """The strict fake refuses what Brevo's reference says it refuses (so the tests
    above could fail)."""
    import requests

    url = f"{brevo.url}/v3/smtp/email"
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
