"""Webhooks, proved for every installed ESP with its fixtures of real payloads,
posted through the real URL configuration."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from anymail.signals import tracking
from anymail.testing import SignalCapture, basic_auth_header
from anymail_conformance.fixtures import (
    SECRET,
    assert_events_match,
    load_fixtures,
    post_fixture,
)
from anymail_conformance.fixtures import webhook_settings as fixture_settings
from anymail_conformance.plugin import proved

# Signed webhooks' tokens go to the default replay store: the test database.
pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_settings(settings):
    def configure(esp, secret=SECRET):
        settings.ANYMAIL = fixture_settings(esp.profile, secret)

    return configure


def post(esp, fixture_data, request=None, credentials=SECRET, client=None):
    return post_fixture(
        esp.profile, fixture_data, request=request, credentials=credentials, client=client
    )


def test_fixture_produces_expected_events(esp_fixture, webhook_settings):
    esp, fixture = esp_fixture
    webhook_settings(esp)
    response, signals = post(esp, fixture.data)
    assert response.status_code == fixture.expected_status, response.content
    for captured in signals:
        assert captured.esp_name == esp.esp.name
        assert isinstance(captured.sender, type)
    assert_events_match(fixture.expected_events, [captured.event for captured in signals])
    for captured in signals:
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
    tampered_routes = 0
    for fixture in _first_fixtures(esp):
        tampered = esp.profile.tamper(esp.profile.prepare_webhook(fixture.data["request"]))
        if tampered is None:  # a route the ESP doesn't sign (SendGrid's Inbound Parse)
            continue
        tampered_routes += 1
        response, signals = post(esp, fixture.data, request=tampered)
        assert response.status_code == 400, fixture.name
        assert signals == []
    assert tampered_routes, f"{esp.id} signs webhooks, but tamper() signed no route"


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
