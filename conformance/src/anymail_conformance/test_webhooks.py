"""Webhooks, proved for every installed ESP with its fixtures of real payloads,
posted through the real URL configuration."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from anymail.signals import inbound, tracking
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
def webhook_settings(settings, request):
    """Configure the ESP's webhooks; in the processing mode the test asks for with
    the ``mode`` fixture (inline by default)."""
    mode = request.getfixturevalue("mode") if "mode" in request.fixturenames else "inline"

    def configure(esp, secret=SECRET):
        settings.ANYMAIL = {**fixture_settings(esp.profile, secret), "WEBHOOK_PROCESSING": mode}

    return configure


@pytest.fixture(params=["inline", "background"])
def mode(request):
    """Both processing modes: inline (in the ESP's request), and background (stored,
    then converted and signalled by a task: here Django's immediate task backend, so
    the signals arrive within the post; real workers are proven elsewhere)."""
    return request.param


def post(esp, fixture_data, request=None, credentials=SECRET, client=None):
    return post_fixture(
        esp.profile, fixture_data, request=request, credentials=credentials, client=client
    )


def test_fixture_produces_expected_events(esp_fixture, webhook_settings, mode):
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


def test_missing_or_wrong_basic_auth_rejected(esp, webhook_settings, mode):
    webhook_settings(esp)
    for fixture in _first_fixtures(esp):
        for credentials in (None, "conformance:wrong"):
            response, signals = post(esp, fixture.data, credentials=credentials)
            assert response.status_code == 400, (fixture.name, credentials)
            assert signals == []


def forget_handled_events():
    """Empty the replay store (and the stored background deliveries), so the same
    fixture may be posted again as new."""
    from anymail.models import WebhookDelivery, WebhookReplayToken

    WebhookReplayToken.objects.all().delete()
    WebhookDelivery.objects.all().delete()


def test_rotated_secrets_each_accepted(esp, webhook_settings, mode):
    webhook_settings(esp, secret=["old:secret", SECRET])
    for fixture in _first_fixtures(esp):
        for credentials in ("old:secret", SECRET):
            forget_handled_events()
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
        # nested too deeply for the parser (a RecursionError must be a 400, not a 500)
        (b"[" * 3000, "application/json"),
        (b'{"a":' * 1200 + b"1" + b"}" * 1200, "application/json"),
        (b"mandrill_events=" + b"%5B" * 3000, "application/x-www-form-urlencoded"),
        # a multipart body where a JSON one is expected (its stream is read once)
        (
            b'--xyz\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz",
        ),
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


def test_signed_webhooks_reject_bad_signatures(signed_esp, webhook_settings, mode):
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


# --- losing no event, repeating none (the rule in DESIGN.md section 6)


def _tracking_fixtures(esp):
    return [
        f for f in _first_fixtures(esp) if f.data["expected_events"][0]["event_type"] != "inbound"
    ]


def _largest_distinct_batch(esp):
    """The fixture with the most events whose ids are distinct (a published sample may
    repeat a placeholder id, such as SendGrid's "sg_event_id", in every event)."""
    from django.test import override_settings

    fixtures = [
        f
        for f in load_fixtures(esp.profile)
        if f.expected_status == 200
        and f.expected_events
        and f.data["request"].get("method", "POST") != "HEAD"
    ]
    for fixture in sorted(fixtures, key=lambda f: -len(f.expected_events)):
        with override_settings(
            ANYMAIL={**fixture_settings(esp.profile), "WEBHOOK_PROCESSING": "inline"}
        ):
            _, signals = post(esp, fixture.data)
        forget_handled_events()
        ids = [captured.event.event_id for captured in signals]
        if len(set(ids)) == len(ids):
            return fixture
    return fixtures[0]


class _Failing:
    """A receiver (for both signals) that raises for the events at given positions."""

    def __init__(self, fail_at=()):
        self.fail_at = set(fail_at)
        self.seen = []

    def __call__(self, sender, event, esp_name, **kwargs):
        position = len(self.seen)
        self.seen.append(event)
        if position in self.fail_at:
            raise RuntimeError("receiver failed (the site's database is down)")

    def __enter__(self):
        tracking.connect(self, weak=False)
        inbound.connect(self, weak=False)
        return self

    def __exit__(self, *exc):
        tracking.disconnect(self)
        inbound.disconnect(self)


def test_raising_receiver_gives_the_esps_retry_answer_and_the_retry_is_accepted(
    esp, webhook_settings
):
    """Our fault (a receiver raises): the status this ESP retries, never a 4xx the
    ESP would take as final; its retry is then processed."""
    webhook_settings(esp)
    for fixture in _first_fixtures(esp):
        request = esp.profile.prepare_webhook(fixture.data["request"])
        with _Failing(fail_at={0}):
            response, _ = post(esp, fixture.data, request=request)
        assert response.status_code == esp.esp.webhook_retry_status, fixture.name
        assert response["Retry-After"]
        retried, signals = post(esp, fixture.data, request=request)
        assert retried.status_code == 200, (fixture.name, retried.content)
        assert len(signals) == len(fixture.expected_events)
    proved(esp.id, "webhook:retry-answer")


def test_identical_redelivery_is_acknowledged_and_not_signalled_again(esp, webhook_settings, mode):
    webhook_settings(esp)
    for fixture in _first_fixtures(esp):
        request = esp.profile.prepare_webhook(fixture.data["request"])
        first, signals = post(esp, fixture.data, request=request)
        assert first.status_code == 200, fixture.name
        assert signals, fixture.name
        again, signals = post(esp, fixture.data, request=request)
        assert again.status_code == 200, fixture.name
        assert signals == [], f"{fixture.name}: a redelivery was signalled again"
    proved(esp.id, "webhook:duplicates")


def test_a_batch_that_failed_part_way_signals_only_the_rest_on_redelivery(esp, webhook_settings):
    webhook_settings(esp)
    fixture = _largest_distinct_batch(esp)
    count = len(fixture.expected_events)
    fail_at = count - 1  # the last event (the only one, for an ESP that posts one)
    request = esp.profile.prepare_webhook(fixture.data["request"])
    with _Failing(fail_at={fail_at}) as failing:
        failed, _ = post(esp, fixture.data, request=request)
    assert failed.status_code == esp.esp.webhook_retry_status
    assert len(failing.seen) == count
    handled_ids = [event.event_id for event in failing.seen[:fail_at]]
    retried, signals = post(esp, fixture.data, request=request)
    assert retried.status_code == 200, retried.content
    redelivered = [captured.event.event_id for captured in signals]
    assert redelivered == [event.event_id for event in failing.seen[fail_at:]]
    assert not set(redelivered) & set(handled_ids)
    proved(esp.id, "webhook:partial-batch")


def test_every_event_has_a_stable_event_id(esp, webhook_settings, mode):
    """The ESP's own id, or a digest of its raw event: the same on every delivery of
    the same post, so receivers can be idempotent."""
    webhook_settings(esp)
    checked = 0
    for fixture in load_fixtures(esp.profile):
        if fixture.expected_status != 200 or not fixture.expected_events:
            continue
        forget_handled_events()
        request = esp.profile.prepare_webhook(fixture.data["request"])
        _, first = post(esp, fixture.data, request=request)
        forget_handled_events()
        _, second = post(esp, fixture.data, request=request)
        first_ids = [captured.event.event_id for captured in first]
        assert all(isinstance(i, str) and i for i in first_ids), (fixture.name, first_ids)
        assert first_ids == [captured.event.event_id for captured in second], fixture.name
        checked += 1
    assert checked
    proved(esp.id, "webhook:event-ids")


def test_in_background_a_raising_receiver_is_retried_and_only_the_rest_resent(
    esp, webhook_settings, settings
):
    """Background mode: the ESP gets 200 at once; a receiver that raises makes the
    task retry later, and the retry signals only the events not handled before."""
    from datetime import timedelta

    from django.utils import timezone

    from anymail.models import WebhookDelivery
    from anymail.webhooks import background

    webhook_settings(esp)
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_PROCESSING": "background",
        "TASKS_BACKEND": "dummy",  # the test runs the task itself
    }
    fixture = _largest_distinct_batch(esp)
    count = len(fixture.expected_events)
    with _Failing(fail_at={count - 1}) as failing:
        response, signals = post(esp, fixture.data)
        assert (response.status_code, signals) == (200, [])  # stored; nothing ran yet
        [delivery] = WebhookDelivery.objects.all()
        assert background.process(delivery.pk) == "pending"
    handled = [event.event_id for event in failing.seen[: count - 1]]
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=5)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    with _Failing() as retry:
        assert background.process(delivery.pk) == "delivered"
    assert [event.event_id for event in retry.seen] == [
        event.event_id for event in failing.seen[count - 1 :]
    ]
    assert not {event.event_id for event in retry.seen} & set(handled)
    proved(esp.id, "webhook:background")
