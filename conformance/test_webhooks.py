"""Webhooks, proved for every installed ESP with its fixtures of real payloads,
posted through the real URL configuration."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse

from anymail.signals import tracking
from anymail.testing import SignalCapture, basic_auth_header

from .conftest import proved
from .profiles import load_fixtures

SECRET = "conformance:webhook-secret"


@pytest.fixture
def webhook_settings(settings):
    def configure(esp, secret=SECRET):
        settings.ANYMAIL = {"WEBHOOK_SECRET": secret, **esp.profile.webhook_settings()}

    return configure


def post(esp, fixture_data, request=None, credentials=SECRET, client=None):
    profile = esp.profile
    request = request or profile.prepare_webhook(fixture_data["request"])
    headers = dict(request.headers)
    if credentials:
        headers["Authorization"] = basic_auth_header(credentials)
    url = reverse(f"anymail:{esp.id}_{fixture_data['webhook']}")
    with SignalCapture() as capture:
        response = (client or Client()).post(
            url, data=request.body, content_type=request.content_type, headers=headers
        )
    return response, capture.signals


def compare(expected: dict, event) -> None:
    for key, value in expected.items():
        if key == "message":
            compare_message(value, event.message)
            continue
        actual = getattr(event, key)
        if key == "timestamp" and value is not None:
            assert actual is not None
            assert actual.utcoffset() is not None, "timestamps must be aware"
            assert actual == datetime.fromisoformat(value), (key, actual, value)
        else:
            assert actual == value, (key, actual, value)


def compare_message(expected: dict, message) -> None:
    for key, value in expected.items():
        actual = getattr(message, key)
        if key == "from_email":
            actual = str(actual) if actual is not None else None
        elif key in ("to", "cc"):
            actual = [str(address) for address in actual]
        elif key == "attachments":
            actual = [
                {
                    "filename": a.get_filename(),
                    "content_type": a.get_content_type(),
                    "size": len(a.get_content_bytes()),
                }
                for a in actual
            ]
            if len(actual) == len(value):  # compare only the keys the fixture gives
                actual = [
                    {k: item[k] for k in want} for item, want in zip(actual, value, strict=True)
                ]
        elif key == "inline_attachments":
            actual = {
                cid: {
                    "content_type": part.get_content_type(),
                    "size": len(part.get_content_bytes()),
                }
                for cid, part in actual.items()
            }
        elif key == "date" and value is not None:
            value = datetime.fromisoformat(value)
        elif key in ("text", "html") and isinstance(actual, str) and isinstance(value, str):
            actual, value = actual.replace("\r\n", "\n"), value.replace("\r\n", "\n")
        assert actual == value, (key, actual, value)


def test_fixture_produces_expected_events(esp_fixture, webhook_settings):
    esp, fixture = esp_fixture
    webhook_settings(esp)
    response, signals = post(esp, fixture.data)
    assert response.status_code == fixture.data.get("expected_status", 200), response.content
    expected = fixture.data["expected_events"]
    assert len(signals) == len(expected), [s.event for s in signals]
    for captured, expected_event in zip(signals, expected, strict=True):
        assert captured.esp_name == esp.esp.name
        assert isinstance(captured.sender, type)
        compare(expected_event, captured.event)
        if captured.event.timestamp is not None:
            assert captured.event.timestamp.utcoffset() is not None
        proved(esp.id, f"event:{captured.event.event_type}")


def test_every_declared_event_type_has_a_fixture(esp):
    fixtures = load_fixtures(esp.profile)
    covered = {
        event["event_type"] for fixture in fixtures for event in fixture.data["expected_events"]
    }
    missing = {str(event_type) for event_type in esp.esp.event_types} - covered
    assert not missing, f"{esp.id} declares event types no fixture covers: {sorted(missing)}"
    if esp.esp.inbound:
        assert "inbound" in covered


def test_every_webhook_route_has_a_fixture(esp):
    routes = {route.name for route in esp.esp.webhooks}
    covered = {fixture.webhook for fixture in load_fixtures(esp.profile)}
    assert routes <= covered, f"routes without fixtures: {sorted(routes - covered)}"


def _first_fixtures(esp):
    """One successful fixture per webhook route."""
    chosen = {}
    for fixture in load_fixtures(esp.profile):
        if fixture.data.get("expected_status", 200) == 200 and fixture.data["expected_events"]:
            chosen.setdefault(fixture.webhook, fixture)
    return list(chosen.values())


def test_missing_or_wrong_basic_auth_rejected(esp, webhook_settings):
    webhook_settings(esp)
    for fixture in _first_fixtures(esp):
        for credentials in (None, "conformance:wrong"):
            response, signals = post(esp, fixture.data, credentials=credentials)
            assert response.status_code == 400, (fixture.name, credentials)
            assert signals == []


def test_rotated_secrets_each_accepted(esp, webhook_settings):
    webhook_settings(esp, secret=["old:secret", SECRET])
    for fixture in _first_fixtures(esp):
        for credentials in ("old:secret", SECRET):
            response, signals = post(esp, fixture.data, credentials=credentials)
            assert response.status_code == 200, (fixture.name, response.content)
            assert signals


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"{}", "application/json"),
        (b"[]", "application/json"),
        (b'{"unexpected": [1, 2, 3]}', "application/json"),
        (b"\xff\xfe\xfd", "application/octet-stream"),
        (b"field=value&other=1", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_give_400_never_500(esp, webhook_settings, body, content_type):
    webhook_settings(esp)
    client = Client(raise_request_exception=False)
    for route in esp.esp.webhooks:
        url = reverse(f"anymail:{esp.id}_{route.name}")
        with SignalCapture() as capture:
            response = client.post(
                url,
                data=body,
                content_type=content_type,
                headers={"Authorization": basic_auth_header(SECRET)},
            )
        assert response.status_code == 400, (route.name, body, response.status_code)
        assert capture.signals == []


def test_signed_webhooks_reject_bad_signatures(signed_esp, webhook_settings):
    esp = signed_esp
    webhook_settings(esp)
    for fixture in _first_fixtures(esp):
        tampered = esp.profile.tamper(esp.profile.prepare_webhook(fixture.data["request"]))
        response, signals = post(esp, fixture.data, request=tampered)
        assert response.status_code == 400, fixture.name
        assert signals == []


def test_raising_receiver_gives_400(esp, webhook_settings):
    webhook_settings(esp)
    fixtures = [
        f for f in _first_fixtures(esp) if f.data["expected_events"][0]["event_type"] != "inbound"
    ]

    def broken(sender, event, esp_name, **kwargs):
        raise RuntimeError("receiver failed")

    tracking.connect(broken)
    try:
        for fixture in fixtures:
            response, _ = post(esp, fixture.data)
            assert response.status_code == 400, fixture.name
    finally:
        tracking.disconnect(broken)
