"""Mailgun's webhooks through the real URLs: every conformance fixture, signatures,
replay protection, payloads posted to the wrong URL, and the pure converters."""

import hashlib
import hmac
import json
import time

import pytest
from django.http import QueryDict

from anymail.conformance.mailgun.profile import PROFILE, WEBHOOK_SIGNING_KEY
from anymail.webhooks.mailgun import tracking_events
from anymail_conformance import WebhookFixtureTests, load_fixtures

FIXTURES = {fixture.name: fixture for fixture in load_fixtures(PROFILE)}
KEY = WEBHOOK_SIGNING_KEY


class TestMailgunFixtures(WebhookFixtureTests):
    esp_id = "mailgun"


@pytest.fixture(autouse=True)
def signing_key(settings, webhook_secret):
    settings.ANYMAIL = {**settings.ANYMAIL, **PROFILE.webhook_settings()}


def post(webhook_client, fixture, prepared=None):
    prepared = prepared or PROFILE.prepare_webhook(fixture["request"])
    return webhook_client.post(
        f"anymail:mailgun_{fixture['webhook']}",
        prepared.body,
        prepared.content_type,
        prepared.headers,
    )


def load(name):
    return FIXTURES[name].data


def signed(fixture, timestamp, token, key=KEY):
    data = json.loads(json.dumps(fixture["request"]["json"]))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data["signature"] = {"timestamp": str(timestamp), "token": token, "signature": signature}
    return data


def test_event_id_is_the_token(webhook_client):
    data = signed(load("current_delivered"), int(time.time()), "t" * 50)
    _response, [signal] = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert signal.event.event_id == "t" * 50
    assert signal.event.esp_event["event-data"]["id"] == "G9Bn5sl1TC6nu79C8C0bwg"


@pytest.mark.parametrize("key", ["wrong-key", None])
def test_bad_or_missing_signature_rejected(webhook_client, key):
    data = signed(load("current_delivered"), int(time.time()), "a" * 50, key=key or KEY)
    if key is None:
        del data["signature"]
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 400
    assert signals == []


def test_reused_token_rejected(webhook_client):
    data = signed(load("current_delivered"), int(time.time()), "r" * 50)
    assert webhook_client.post("anymail:mailgun_tracking_webhook", data)[0].status_code == 200
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 400
    assert signals == []


def test_stale_timestamp_rejected(webhook_client):
    data = signed(load("current_delivered"), int(time.time()) - 10 * 3600, "s" * 50)
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 400
    assert signals == []


def test_signing_key_falls_back_to_api_key(webhook_client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", "MAILGUN_API_KEY": KEY}
    data = signed(load("current_delivered"), int(time.time()), "f" * 50)
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 200
    assert len(signals) == 1


def test_wrong_url_explains(webhook_client):
    fixture = load("wrong_url_tracking_at_inbound")
    response, signals = post(webhook_client, fixture)
    assert response.status_code == 400
    assert signals == []
    assert b"/anymail/mailgun/tracking/" in response.content
    fixture = load("wrong_url_inbound_at_tracking")
    response, signals = post(webhook_client, fixture)
    assert response.status_code == 400
    assert b"/anymail/mailgun/inbound/" in response.content


def test_tracking_events_is_a_pure_function_of_the_payload():
    """The converter needs no request: tests (and tools) can call it directly."""
    payload = load("current_delivered")["request"]["json"]
    [event] = tracking_events(payload)
    assert event.event_type == "delivered"
    assert event.recipient == "alice@example.com"
    assert event.event_id == payload["signature"]["token"]

    legacy = QueryDict(mutable=True)
    legacy.update({"event": "opened", "recipient": "bob@example.com", "timestamp": "1700000000"})
    legacy.update({"token": "t" * 50, "signature": "unchecked-here", "order": "1001"})
    [event] = tracking_events(legacy)
    assert (event.event_type, event.recipient, event.metadata) == (
        "opened",
        "bob@example.com",
        {"order": "1001"},
    )
    assert event.timestamp.isoformat() == "2023-11-14T22:13:20+00:00"
