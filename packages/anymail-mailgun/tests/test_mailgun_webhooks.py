"""Mailgun's webhooks through the real URLs: every conformance fixture, signatures,
replay protection, and payloads posted to the wrong URL."""

import hashlib
import hmac
import importlib.util
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
_spec = importlib.util.spec_from_file_location(
    "mailgun_conformance_profile", CONFORMANCE / "profile.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
PROFILE = _module.PROFILE
FIXTURES = sorted((CONFORMANCE / "fixtures").glob("*.json"))
KEY = _module.WEBHOOK_SIGNING_KEY


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


@pytest.mark.parametrize("path", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_fixture(webhook_client, path):
    fixture = json.loads(path.read_text(encoding="utf-8"))
    response, signals = post(webhook_client, fixture)
    assert response.status_code == fixture["expected_status"], response.content
    assert len(signals) == len(fixture["expected_events"])
    for signal, expected in zip(signals, fixture["expected_events"], strict=True):
        event = signal.event
        assert signal.esp_name == "Mailgun"
        assert event.timestamp.utcoffset() is not None
        for key, value in expected.items():
            if key == "message":
                for name, want in value.items():
                    got = getattr(event.message, name)
                    if name == "from_email":
                        got = str(got)
                    elif name in ("to", "cc"):
                        got = [str(a) for a in got]
                    elif name == "attachments":
                        got = [
                            {
                                "filename": a.get_filename(),
                                "content_type": a.get_content_type(),
                                "size": len(a.get_content_bytes()),
                            }
                            for a in got
                        ]
                    elif name == "inline_attachments":
                        got = {
                            cid: {
                                "content_type": p.get_content_type(),
                                "size": len(p.get_content_bytes()),
                            }
                            for cid, p in got.items()
                        }
                    assert got == want, (name, got, want)
            elif key == "timestamp":
                assert event.timestamp == datetime.fromisoformat(value)
            else:
                assert getattr(event, key) == value, (key, getattr(event, key), value)


def load(name):
    return json.loads((CONFORMANCE / "fixtures" / f"{name}.json").read_text(encoding="utf-8"))


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
