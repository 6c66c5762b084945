"""SendGrid's webhooks through the real URLs: every conformance fixture (signed and
unsigned), the Signed Event Webhook, payloads posted to the wrong URL, Inbound
Parse charsets, and the pure converters."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from anymail.conformance.sendgrid.profile import PROFILE, SIGNATURE_HEADER, TIMESTAMP_HEADER
from anymail.esps.sendgrid import ESP
from anymail.exceptions import AnymailConfigurationError, AnymailInsecureWebhookWarning
from anymail.webhooks.sendgrid import (
    TIMESTAMP_TOLERANCE,
    inbound_events,
    load_verification_keys,
    tracking_events,
    verify_signature,
)
from anymail_conformance import WebhookFixtureTests, encode_fixture_request
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
TRACKING = "anymail:sendgrid_tracking_webhook"
INBOUND = "anymail:sendgrid_inbound_webhook"

# SendGrid's own signature test vector (sendgrid/sendgrid-python, test/unit/test_eventwebhook.py
# @ 1dcc378b, MIT): this key signed the body of fixtures/tracking_signed_dropped.json.
SENDGRID_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62g"
    "w+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SENDGRID_TIMESTAMP = "1600112502"


class TestSendGridFixtures(WebhookFixtureTests):
    """Every fixture, as the conformance suite posts them: Event Webhook posts signed."""

    esp_id = "sendgrid"


def body_of(name):
    return encode_fixture_request(FIXTURES[name].data["request"]).body


def sign(body, timestamp=None, key=None):
    key = key or PROFILE.signing_key
    timestamp = str(timestamp if timestamp is not None else PROFILE.fresh_timestamp())
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: base64.b64encode(signature).decode()}


def public_key_of(key):
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture
def signed(settings, webhook_secret):
    """The Signed Event Webhook turned on, with the profile's test key."""
    settings.ANYMAIL = {**settings.ANYMAIL, **PROFILE.webhook_settings()}


# --- unsigned (the 6.0 docs' set-up: basic auth only)


@pytest.mark.parametrize(
    "name", sorted(name for name, f in FIXTURES.items() if f.webhook == "tracking_webhook")
)
def test_every_tracking_fixture_unsigned(webhook_client, webhook_secret, name):
    fixture = FIXTURES[name]
    request = encode_fixture_request(
        {**fixture.data["request"], "headers": {}}  # no signature headers at all
    )
    response, signals = webhook_client.post(TRACKING, request.body, request.content_type)
    assert response.status_code == 200, response.content
    assert len(signals) == len(fixture.expected_events)
    assert [s.event.event_type for s in signals] == [
        e["event_type"] for e in fixture.expected_events
    ]


# --- the Signed Event Webhook


def test_sendgrids_own_test_vector_verifies():
    body = body_of("tracking_signed_dropped")
    keys = load_verification_keys((SENDGRID_PUBLIC_KEY,))
    assert verify_signature(keys, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, body)
    # every byte counts, including the trailing CRLF SendGrid's vector ends with
    assert not verify_signature(keys, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, body.rstrip())
    assert not verify_signature(keys, SENDGRID_SIGNATURE, "1600112503", body)
    assert not verify_signature(keys, "not base64!", SENDGRID_TIMESTAMP, body)
    other = load_verification_keys((PROFILE.verification_key,))
    assert not verify_signature(other, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, body)


def test_verification_key_as_pem():
    pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + "\n".join(SENDGRID_PUBLIC_KEY[i : i + 64] for i in range(0, len(SENDGRID_PUBLIC_KEY), 64))
        + "\n-----END PUBLIC KEY-----\n"
    )
    keys = load_verification_keys((pem,))
    body = body_of("tracking_signed_dropped")
    assert verify_signature(keys, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, body)


@pytest.mark.parametrize(
    "bad_key",
    [
        "not a key",
        # an RSA key: not what SendGrid signs with
        "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMeWYmmVaYsRL/fUm6BvPDKnsGX4WqmSH9ZIoaxZHXO7bG0Hs4LrC6BnUm5N"
        "f1O3J8YdkzPlmlE0xmuGEYi2e5ECAwEAAQ==",
    ],
)
def test_bad_verification_key_is_a_configuration_error(bad_key):
    with pytest.raises(AnymailConfigurationError, match="SENDGRID_WEBHOOK_VERIFICATION_KEY"):
        load_verification_keys((bad_key,))


def test_signed_post_accepted(webhook_client, signed):
    body = body_of("tracking_delivered")
    response, [signal] = webhook_client.post(TRACKING, body, headers=sign(body))
    assert response.status_code == 200
    assert signal.event.event_type == "delivered"


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_missing_signature_rejected(webhook_client, signed, missing):
    body = body_of("tracking_delivered")
    headers = sign(body)
    del headers[missing]
    response, signals = webhook_client.post(TRACKING, body, headers=headers)
    assert response.status_code == 400
    assert signals == []


def test_tampered_body_or_signature_rejected(webhook_client, signed):
    body = body_of("tracking_delivered")
    headers = sign(body)
    response, signals = webhook_client.post(
        TRACKING, body.replace(b"250 OK", b"250 ok"), headers=headers
    )
    assert (response.status_code, signals) == (400, [])

    wrong_key = ec.generate_private_key(ec.SECP256R1())
    response, signals = webhook_client.post(TRACKING, body, headers=sign(body, key=wrong_key))
    assert (response.status_code, signals) == (400, [])

    headers = sign(body)
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) + 1)
    response, signals = webhook_client.post(TRACKING, body, headers=headers)
    assert (response.status_code, signals) == (400, [])


@pytest.mark.parametrize("offset", [-(TIMESTAMP_TOLERANCE + 60), TIMESTAMP_TOLERANCE + 60])
def test_stale_or_future_timestamp_rejected(webhook_client, signed, offset):
    body = body_of("tracking_delivered")
    headers = sign(body, timestamp=int(time.time()) + offset)
    response, signals = webhook_client.post(TRACKING, body, headers=headers)
    assert (response.status_code, signals) == (400, [])


def test_replayed_post_is_not_signalled_again(webhook_client, signed):
    """A repeat is acknowledged (200, so SendGrid stops retrying), not signalled."""
    body = body_of("tracking_open")
    headers = sign(body)
    assert webhook_client.post(TRACKING, body, headers=headers)[0].status_code == 200
    response, signals = webhook_client.post(TRACKING, body, headers=headers)
    assert (response.status_code, signals) == (200, [])

    # a re-encoded (malleated) signature of the same post is a replay too
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    r, s = decode_dss_signature(base64.b64decode(headers[SIGNATURE_HEADER]))
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's n
    malleated = base64.b64encode(encode_dss_signature(r, order - s)).decode()
    response, signals = webhook_client.post(
        TRACKING, body, headers={**headers, SIGNATURE_HEADER: malleated}
    )
    assert (response.status_code, signals) == (200, [])


def test_failed_post_can_be_retried(webhook_client, signed):
    """A receiver error is our fault: SendGrid gets the answer that makes it retry
    (ESP.webhook_retry_status, 503), and its retry of the same signed post works."""
    body = body_of("tracking_click")
    headers = sign(body)

    with BrokenReceiver():
        response, _ = webhook_client.post(TRACKING, body, headers=headers)
    assert response.status_code == ESP.webhook_retry_status == 503
    assert response["Retry-After"]
    response, signals = webhook_client.post(TRACKING, body, headers=headers)
    assert response.status_code == 200
    assert len(signals) == 1


def test_retry_answer_is_declared_from_sendgrids_docs():
    """503 (both webhooks retry a 5xx); remembered for Inbound Parse's 72 hours, which
    outlasts the Event Webhook's 24."""
    assert ESP.webhook_retry_status == 503
    assert ESP.webhook_retry_window == 72 * 3600 > TIMESTAMP_TOLERANCE
    assert ESP.webhook_retry_docs.startswith("https://www.twilio.com/docs/sendgrid/")


def test_redelivered_event_is_acknowledged_not_signalled(webhook_client, signed):
    """SendGrid retries a batch (signed afresh, or not): events it has already
    delivered are not signalled twice, the others are."""
    delivered = FIXTURES["tracking_delivered"].data["request"]["json"]
    opened = FIXTURES["tracking_open"].data["request"]["json"]
    first = json.dumps(delivered).encode()
    assert len(webhook_client.post(TRACKING, first, headers=sign(first))[1]) == 1
    batch = json.dumps(delivered + opened).encode()
    response, signals = webhook_client.post(TRACKING, batch, headers=sign(batch))
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["opened"]
    response, signals = webhook_client.post(TRACKING, batch, headers=sign(batch))
    assert (response.status_code, response.content, signals) == (200, b"Already received", [])


def test_key_rotation_list(webhook_client, settings, webhook_secret):
    old_key = ec.generate_private_key(ec.SECP256R1())
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SENDGRID_WEBHOOK_VERIFICATION_KEY": [public_key_of(old_key), PROFILE.verification_key],
    }
    # (two different events: the same one again would be a duplicate, not signalled)
    for key, name in ((old_key, "tracking_bounce"), (PROFILE.signing_key, "tracking_open")):
        body = body_of(name)
        response, signals = webhook_client.post(TRACKING, body, headers=sign(body, key=key))
        assert response.status_code == 200
        assert len(signals) == 1


def test_basic_auth_optional_when_signed(client, settings, recwarn):
    settings.ANYMAIL = {"SENDGRID_WEBHOOK_VERIFICATION_KEY": PROFILE.verification_key}
    from anymail.testing import WebhookClient

    body = body_of("tracking_deferred")
    response, signals = WebhookClient(client).post(TRACKING, body, headers=sign(body))
    assert response.status_code == 200
    assert len(signals) == 1
    assert not [w for w in recwarn if issubclass(w.category, AnymailInsecureWebhookWarning)]


def test_unsigned_webhook_warns_without_basic_auth(client, settings):
    settings.ANYMAIL = {}
    from anymail.testing import WebhookClient

    body = body_of("tracking_deferred")
    with pytest.warns(AnymailInsecureWebhookWarning):
        response, _ = WebhookClient(client).post(TRACKING, body)
    assert response.status_code == 200


@pytest.mark.parametrize("setting", [12345, "not a key"])
def test_invalid_verification_key_setting(
    webhook_client, settings, webhook_secret, caplog, setting
):
    """A setting we got wrong is our fault: SendGrid retries (and the log says what
    to fix), rather than losing the events."""
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_WEBHOOK_VERIFICATION_KEY": setting}
    response, signals = webhook_client.post(TRACKING, body_of("tracking_deferred"))
    assert (response.status_code, signals) == (503, [])
    assert response["Retry-After"]
    assert "SENDGRID_WEBHOOK_VERIFICATION_KEY" in caplog.text


# --- multipart posts to the signed tracking webhook (issue #23)


@pytest.mark.parametrize("boundary", ["xYzZY", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "b"])
def test_multipart_post_to_signed_tracking_url_is_400_not_500(
    webhook_client, signed, boundary, caplog
):
    """Any multipart body with any signature headers: Django can't give back the body
    of a form it has parsed, so this used to raise RawPostDataException (a 500). The
    Event Webhook posts only JSON: it's a request that can't be signed, a 400."""
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--{boundary}--\r\n'
    ).encode()
    headers = {SIGNATURE_HEADER: "c2lnbmF0dXJl", TIMESTAMP_HEADER: str(int(time.time()))}
    response, signals = webhook_client.post(
        TRACKING, body, f"multipart/form-data; boundary={boundary}", headers=headers
    )
    assert (response.status_code, signals) == (400, [])
    assert "signed Event Webhook posts application/json" in caplog.text


def test_validly_signed_multipart_post_is_still_refused(client, signed):
    """Signed with the right key, a form still isn't an Event Webhook post."""
    from django.test import Client

    from anymail.testing import WebhookClient

    hook = WebhookClient(Client(raise_request_exception=False), basic_auth="user:pass")
    body, content_type = multipart([("x", b"1"), ("event", b"delivered")])
    response, signals = hook.post(TRACKING, body, content_type, headers=sign(body))
    assert (response.status_code, signals) == (400, [])


def test_signed_inbound_post_at_tracking_url_explains(webhook_client, signed):
    """(reject_early answers before any signature is looked at.)"""
    request = encode_fixture_request(FIXTURES["inbound_raw_data"].data["request"])
    response, signals = webhook_client.post(
        TRACKING, request.body, request.content_type, headers=sign(request.body)
    )
    assert (response.status_code, signals) == (400, [])
    assert b"/anymail/sendgrid/inbound/" in response.content


def test_unsigned_multipart_post_to_tracking_url_is_400(webhook_client, webhook_secret):
    body, content_type = multipart([("x", b"1")])
    response, signals = webhook_client.post(TRACKING, body, content_type)
    assert (response.status_code, signals) == (400, [])


@pytest.mark.parametrize("url", [TRACKING, INBOUND])
@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"x=1", "multipart/form-data", "form can't be read"),  # no boundary
        (b"--b\r\n\r\n--b--", "multipart/form-data; boundary=" + "b" * 300, "form can't be read"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deeply"),
        (b'["\xff"]', "application/json", "can't decode"),
        (b"x=1", "application/x-www-form-urlencoded", "doesn't post"),
    ],
)
def test_unreadable_posts_are_400(
    webhook_client, webhook_secret, caplog, url, body, content_type, error
):
    """A post that can't be read is refused (400, so SendGrid doesn't retry a hopeless
    post), and the log says why."""
    response, signals = webhook_client.post(url, body, content_type)
    assert (response.status_code, signals) == (400, [])
    assert error in caplog.text


# --- the tracking converter


def test_tracking_events_is_a_pure_function_of_the_payload():
    events = tracking_events(
        [
            {
                "event": "Delivered",
                "email": "a@example.com",
                "timestamp": 1700000000,
                "anymail_id": "8a4d1b2c-0000-4000-8000-000000000000",
                "smtp-id": "<smtp@example.com>",
                "response": "250 OK",
                "order": "1001",
                "category": ["one", "two"],
            },
            {"event": "brand_new_event", "email": "b@example.com", "timestamp": "1700000001"},
        ]
    )
    first, second = events
    assert first.event_type == "delivered"
    assert first.message_id == "8a4d1b2c-0000-4000-8000-000000000000"  # anymail_id wins
    assert first.metadata == {"order": "1001"}
    assert first.tags == ["one", "two"]
    assert first.mta_response == "250 OK"
    assert first.timestamp.isoformat() == "2023-11-14T22:13:20+00:00"
    assert second.event_type == "unknown"
    assert second.esp_event == {
        "event": "brand_new_event",
        "email": "b@example.com",
        "timestamp": "1700000001",
    }


@pytest.mark.parametrize("payload", [[], {"event": "delivered"}, ["delivered"], [{}, None]])
def test_malformed_tracking_payloads_raise(payload):
    """Not a batch of events: the post is refused (400), and SendGrid retries it."""
    with pytest.raises(ValueError, match="SendGrid"):
        tracking_events(payload)


@pytest.mark.parametrize("timestamp", ["yesterday", float("inf"), 1e308, [], None, True])
def test_odd_field_values_dont_lose_the_event(timestamp):
    [event] = tracking_events(
        [{"event": "open", "email": ["a@example.com"], "timestamp": timestamp, "category": 7}]
    )
    assert event.event_type == "opened"
    assert event.timestamp is None
    assert event.recipient is None
    assert event.tags == []


@pytest.mark.parametrize(
    "body", [b'["delivered"]', b'{"event": "delivered"}', b"[]", b'[{"event": "open"}, 7]']
)
def test_malformed_tracking_posts_give_400(webhook_client, webhook_secret, body):
    response, signals = webhook_client.post(TRACKING, body)
    assert (response.status_code, signals) == (400, [])


# --- posts to the wrong URL


def test_inbound_post_at_tracking_url_explains(webhook_client, webhook_secret):
    request = encode_fixture_request(FIXTURES["inbound_raw_data"].data["request"])
    response, signals = webhook_client.post(TRACKING, request.body, request.content_type)
    assert (response.status_code, signals) == (400, [])
    assert b"/anymail/sendgrid/inbound/" in response.content


def test_tracking_post_at_inbound_url_explains(webhook_client, webhook_secret):
    response, signals = webhook_client.post(INBOUND, body_of("tracking_delivered"))
    assert (response.status_code, signals) == (400, [])
    assert b"/anymail/sendgrid/tracking/" in response.content


# --- Inbound Parse


def multipart(fields, files=()):
    """A multipart/form-data body from (name, bytes) fields, as SendGrid posts them."""
    boundary = b"xYzZY"
    parts = []
    for name, value in fields:
        parts.append(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode()
            + b'"\r\n\r\n' + value + b"\r\n"
        )  # fmt: skip
    for name, filename, content_type, content in files:
        parts.append(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode()
            + b'"; filename="' + filename.encode() + b'"\r\nContent-Type: '
            + content_type.encode() + b"\r\n\r\n" + content + b"\r\n"
        )  # fmt: skip
    body = b"".join(parts) + b"--" + boundary + b"--\r\n"
    return body, "multipart/form-data; boundary=xYzZY"


def test_parsed_inbound_fields_use_their_charsets(webhook_client, webhook_secret):
    body, content_type = multipart(
        [
            (
                "headers",
                b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\nTo: in@inbound.example.com\r\n"
                b"Subject: Caf\xc3\xa9 order\r\n",
            ),
            ("text", "Grüße aus Köln\n".encode("iso-8859-1")),
            ("html", "<p>Привет</p>".encode("koi8-r")),
            ("subject", "Café order".encode("windows-1252")),
            ("charsets", b'{"text": "iso-8859-1", "html": "KOI8-R", "subject": "windows-1252"}'),
            ("envelope", b'{"to": ["in@inbound.example.com"], "from": "renee@example.com"}'),
            ("spam_score", b"0.1"),
        ]
    )
    response, [signal] = webhook_client.post(INBOUND, body, content_type)
    assert response.status_code == 200
    message = signal.event.message
    assert message.text == "Grüße aus Köln\n"
    assert message.html == "<p>Привет</p>"
    assert message.subject == "Café order"
    assert str(message.from_email) == "Renée <renee@example.com>"
    assert (message.envelope_sender, message.envelope_recipient) == (
        "renee@example.com",
        "in@inbound.example.com",
    )
    assert message.spam_score == 0.1
    assert message.spam_detected is None


def test_raw_inbound_keeps_the_messages_bytes(webhook_client, webhook_secret):
    raw = (
        b"From: sender@example.com\r\nTo: in@inbound.example.com\r\nSubject: 8-bit\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + "Größe: 5 €? Nein, 5 Mark.\r\n".encode("iso-8859-1", errors="replace")
    )
    body, content_type = multipart(
        [
            ("email", raw),
            ("charsets", b'{"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}'),
            ("envelope", b'{"to": ["in@inbound.example.com"], "from": "sender@example.com"}'),
        ]
    )
    response, [signal] = webhook_client.post(INBOUND, body, content_type)
    assert response.status_code == 200
    assert signal.event.message.text.replace("\r\n", "\n") == "Größe: 5 ?? Nein, 5 Mark.\n"


def test_unknown_charset_falls_back_to_utf8(webhook_client, webhook_secret):
    body, content_type = multipart(
        [("text", "héllo".encode()), ("charsets", b'{"text": "x-no-such-charset"}')]
    )
    response, [signal] = webhook_client.post(INBOUND, body, content_type)
    assert response.status_code == 200
    assert signal.event.message.text == "héllo"


def test_parsed_inbound_attachments_in_order_and_inline(webhook_client, webhook_secret):
    files = [
        (f"attachment{n}", f"file{n}.txt", "text/plain", f"content {n}".encode())
        for n in (10, 2, 1)
    ]
    body, content_type = multipart(
        [
            ("headers", b"From: a@example.com\r\nSubject: files\r\n"),
            ("html", b'<img src="cid:logo">'),
            ("attachments", b"3"),
            ("content-ids", b'{"logo": "attachment2"}'),
            (
                "attachment-info",
                b'{"attachment1": {"filename": "first.txt", "type": "text/plain"}}',
            ),
        ],
        files,
    )
    response, [signal] = webhook_client.post(INBOUND, body, content_type)
    assert response.status_code == 200
    message = signal.event.message
    assert [a.get_filename() for a in message.attachments] == ["first.txt", "file10.txt"]
    assert list(message.inline_attachments) == ["logo"]
    assert message.inline_attachments["logo"].get_content_bytes() == b"content 2"


def test_inbound_over_django_upload_limits_is_retried(
    webhook_client, webhook_secret, settings, caplog
):
    """Inbound Parse drops a message for good on a 4xx: a message our settings refuse
    gets the retry answer (with the setting to raise in the log), and SendGrid's retry
    goes through once the limit is raised."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body, content_type = multipart([("email", b"Subject: big\r\n\r\n" + b"x" * 1000)])
    response, signals = webhook_client.post(INBOUND, body, content_type)
    assert (response.status_code, signals) == (503, [])
    assert response["Retry-After"]
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in caplog.text
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response, [signal] = webhook_client.post(INBOUND, body, content_type)
    assert response.status_code == 200
    assert signal.event.message.subject == "big"


def test_inbound_with_more_files_than_django_allows_is_retried(
    webhook_client, webhook_secret, settings, caplog
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [(f"attachment{n}", f"f{n}.txt", "text/plain", b"x") for n in (1, 2, 3)]
    body, content_type = multipart([("headers", b"Subject: files\r\n")], files)
    response, signals = webhook_client.post(INBOUND, body, content_type)
    assert (response.status_code, signals) == (503, [])
    assert "DATA_UPLOAD_MAX_NUMBER_FILES" in caplog.text


def test_inbound_without_a_message_gives_400(webhook_client, webhook_secret):
    body, content_type = multipart([("dkim", b"{@example.com : pass}")])
    response, signals = webhook_client.post(INBOUND, body, content_type)
    assert (response.status_code, signals) == (400, [])


def test_redelivered_inbound_message_is_signalled_once(webhook_client, webhook_secret):
    """Inbound Parse sends no id: event_id is a digest of the post's fields and files,
    so SendGrid's redelivery of the same message is acknowledged, not signalled."""
    request = encode_fixture_request(
        FIXTURES["inbound_docs_default_payload_attachments"].data["request"]
    )
    response, [signal] = webhook_client.post(INBOUND, request.body, request.content_type)
    assert response.status_code == 200
    assert signal.event.event_id.startswith("sha256:")
    response, signals = webhook_client.post(INBOUND, request.body, request.content_type)
    assert (response.status_code, response.content, signals) == (200, b"Already received", [])


def test_inbound_event_id_depends_on_fields_and_file_contents():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from anymail.webhooks.sendgrid import inbound_event_id

    def event_id(text="hello", attachment=b"one"):
        fields = QueryDict(mutable=True)
        fields.update({"headers": "Subject: hi\r\n", "text": text})
        upload = SimpleUploadedFile("a.txt", attachment, content_type="text/plain")
        return inbound_event_id(fields, MultiValueDict({"attachment1": [upload]})), upload

    first, upload = event_id()
    assert first == event_id()[0]
    assert upload.read() == b"one"  # left readable, from the start
    assert first != event_id(text="hello!")[0]
    assert first != event_id(attachment=b"two")[0]


def test_inbound_events_is_a_pure_function_of_the_fields():
    fields = QueryDict(mutable=True)
    fields.update(
        {
            "email": "From: a@example.com\r\nSubject: Hi\r\n\r\nBody\r\n",
            "envelope": '{"to": ["in@example.com"], "from": "a@example.com"}',
            "spam_score": "not a number",
        }
    )
    [event] = inbound_events(fields, MultiValueDict())
    assert event.event_type == "inbound"
    assert event.message.subject == "Hi"
    assert event.message.envelope_recipient == "in@example.com"
    assert event.message.spam_score is None


# --- fuzzing: whatever a client posts, the answer is 2xx or 4xx (4xx: no signal)

ODD_VALUES = [None, 0, -1, 1e308, "", "x", "9" * 40, [], {}, True, ["a", 1], {"a": None}]


def json_mutations(payload, rng, count):
    """Copies of an Event Webhook payload with one value replaced or removed."""
    for _ in range(count):
        events = [dict(event) for event in payload]
        event = rng.choice(events)
        key = rng.choice(sorted(event))
        if rng.random() < 0.2:
            del event[key]
        else:
            event[key] = rng.choice(ODD_VALUES)
        yield events


def byte_mutations(body, rng, count):
    """Copies of a body truncated, or with bytes changed."""
    for _ in range(count):
        data = bytearray(body)
        if rng.random() < 0.3:
            yield bytes(data[: rng.randrange(len(data))])
            continue
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fuzzed_posts_never_give_5xx(client, signed, name):
    import json
    import random

    from django.test import Client

    from anymail.testing import WebhookClient

    rng = random.Random(name)  # noqa: S311 (reproducible test data, not secrets)
    hook = WebhookClient(Client(raise_request_exception=False), basic_auth="user:pass")
    fixture = FIXTURES[name]
    request = encode_fixture_request({**fixture.data["request"], "headers": {}})
    url = TRACKING if fixture.webhook == "tracking_webhook" else INBOUND
    if request.content_type == "application/json":
        bodies = [
            json.dumps(events).encode()
            for events in json_mutations(json.loads(request.body), rng, 60)
        ]
        bodies += list(byte_mutations(request.body, rng, 20))
    else:
        bodies = list(byte_mutations(request.body, rng, 60))
    statuses = set()
    for body in bodies:
        headers = sign(body) if url == TRACKING else {}
        response, signals = hook.post(url, body, request.content_type, headers)
        assert response.status_code in (200, 400), (body, response.status_code)
        if response.status_code == 400:
            assert signals == []
        statuses.add(response.status_code)
    assert 200 in statuses  # the mutations reached the parser, not just the checks before it
