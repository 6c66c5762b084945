"""Webhooks lose no event and repeat none: who is at fault decides the answer, every
event has a stable id, and a redelivery signals only what wasn't handled (issue 24).
Exercised through the real URL configuration with the test-only fake ESP."""

import json
import logging
from dataclasses import replace

import pytest

from anymail.events import AnymailTrackingEvent, event_digest
from anymail.exceptions import AnymailConfigurationError
from anymail.settings import get_anymail_setting
from anymail_conformance.package_checks import BrokenReceiver

pytestmark = pytest.mark.usefixtures("fake_esp_installed")

TRACKING = "anymail:fake_tracking_webhook"


def batch(*recipients, tokens=True):
    return {
        "events": [
            {
                "event": "delivered",
                "ts": 1700000000 + n,
                "id": f"msg-{n}",
                "to": to,
                **({"token": f"tok-{to}"} if tokens else {}),
            }
            for n, to in enumerate(recipients)
        ]
    }


def authorized_post(rf, settings, *recipients):
    """A post of ``batch(*recipients)`` for a view called directly, with the basic auth
    of the WEBHOOK_SECRET it sets."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    return rf.post(
        "/",
        json.dumps(batch(*recipients)),
        content_type="application/json",
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )


@pytest.fixture
def failing_on():
    """Connect a tracking receiver that raises for the given recipients."""
    failures = set()
    with BrokenReceiver.failing_for(failures) as receiver:
        yield failures, receiver


def test_identical_redelivery_is_acknowledged_and_not_signalled_again(
    webhook_client, webhook_secret
):
    body = batch("a@example.com", "b@example.com")
    first, signals = webhook_client.post(TRACKING, body)
    assert first.status_code == 200
    assert len(signals) == 2
    again, signals = webhook_client.post(TRACKING, body)
    assert again.status_code == 200
    assert again.content == b"Already received"
    assert signals == []


def test_events_without_an_esp_id_are_recognized_by_their_digest(webhook_client, webhook_secret):
    body = batch("a@example.com", "b@example.com", tokens=False)
    _, first = webhook_client.post(TRACKING, body)
    ids = [s.event.event_id for s in first]
    assert all(i.startswith("sha256:") and len(i) == 39 for i in ids)
    assert len(set(ids)) == 2  # different events, different ids
    assert ids[0] == event_digest(body["events"][0])  # the documented digest
    _, again = webhook_client.post(TRACKING, body)
    assert again == []  # the same events, recognized


def test_a_batch_that_failed_part_way_signals_only_the_rest_on_redelivery(
    webhook_client, webhook_secret, failing_on
):
    failures, receiver = failing_on
    body = batch("a@example.com", "b@example.com", "c@example.com")
    failures.add("b@example.com")
    failed, _ = webhook_client.post(TRACKING, body)
    assert failed.status_code == 503
    assert receiver.recipients == ["a@example.com", "b@example.com"]
    failures.clear()
    receiver.events.clear()
    retried, _ = webhook_client.post(TRACKING, body)
    assert retried.status_code == 200
    assert receiver.recipients == ["b@example.com", "c@example.com"]  # a was handled the first time


def test_retry_answer_is_the_one_the_esp_declares(fake_esp_installed, failing_on, rf, settings):
    """Brevo retries only 429: an ESP that declares it gets it."""
    from testproject.fake_esp import FakeTrackingWebhookView

    class BrevoLikeView(FakeTrackingWebhookView):
        esp = replace(fake_esp_installed, webhook_retry_status=429)

    failures, _ = failing_on
    failures.add("a@example.com")
    request = authorized_post(rf, settings, "a@example.com")
    response = BrevoLikeView.as_view()(request)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"


def test_missing_setting_is_a_retry_answer_not_a_500(rf, settings, caplog):
    """A key the ESP only issues after it has reached the URL (Mandrill's) isn't set
    yet: the ESP keeps the events and retries, and nothing is signalled."""
    from testproject.fake_esp import FakeTrackingWebhookView

    class KeyedView(FakeTrackingWebhookView):
        def read_esp_settings(self, kwargs):
            self.signing_key = get_anymail_setting(
                "webhook_signing_key", esp_name=self.esp_id, kwargs=kwargs
            )
            return {}

    request = authorized_post(rf, settings, "a@example.com")
    with caplog.at_level(logging.ERROR, logger="anymail.webhooks"):
        response = KeyedView.as_view()(request)
    assert response.status_code == 503
    assert "FAKE_WEBHOOK_SIGNING_KEY" in caplog.text
    with pytest.raises(AnymailConfigurationError):
        get_anymail_setting("webhook_signing_key", esp_name="fake")


def test_a_converter_bug_is_our_fault_and_a_malformed_payload_is_not(
    webhook_client, webhook_secret, monkeypatch
):
    import testproject.fake_esp as fake

    # A payload of the wrong shape: the typed readers refuse it (ValueError) → 400.
    malformed, _ = webhook_client.post(TRACKING, {"events": [{"event": "delivered"}]})
    assert malformed.status_code == 400

    # Our converter failing on a well-formed payload (a bug): the ESP must retry.
    def buggy(data):
        return [AnymailTrackingEvent("delivered", esp_event=None)][data["nope"]]

    monkeypatch.setattr(fake, "tracking_events", buggy)
    response, signals = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 503
    assert signals == []


def test_a_cache_that_refuses_a_claim_it_does_not_hold_is_not_a_duplicate(
    webhook_client, webhook_secret, settings
):
    """Django's database cache's add() can return False under write contention with
    nothing stored: that must be a retry answer, never a 200 with no signal."""
    settings.CACHES = {
        **settings.CACHES,
        "contended": {"BACKEND": "testproject.failing_cache.ContendedCache"},
    }
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "user:pass",
        "WEBHOOK_REPLAY_STORE": "cache",
        "WEBHOOK_REPLAY_CACHE": "contended",
    }
    response, signals = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 503
    assert signals == []


def test_the_cache_store_recognizes_duplicates_too(webhook_client, settings):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "d"},
    }
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "user:pass",
        "WEBHOOK_REPLAY_STORE": "cache",
        "WEBHOOK_REPLAY_CACHE": "shared",
    }
    body = batch("a@example.com", "b@example.com")
    assert len(webhook_client.post(TRACKING, body)[1]) == 2
    response, signals = webhook_client.post(TRACKING, body)
    assert (response.status_code, signals) == (200, [])


def test_events_are_claimed_in_one_write(webhook_client, webhook_secret):
    """However many events a post carries, the store takes one insert and one read
    (issue 28: bulk claims, not a write per event)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = batch(*(f"r{n}@example.com" for n in range(200)))
    with CaptureQueriesContext(connection) as queries:
        response, signals = webhook_client.post(TRACKING, body)
    assert response.status_code == 200
    assert len(signals) == 200
    writes = [
        q for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")
    ]
    assert len(writes) <= 2, [q["sql"][:80] for q in writes]


def test_event_digest_is_documented_and_canonical():
    from django.http import QueryDict

    assert event_digest({"b": 1, "a": [1, "x"]}) == event_digest({"a": [1, "x"], "b": 1})
    assert event_digest({"a": 1}) != event_digest({"a": 2})
    form = QueryDict("a=1&a=2&b=3")
    assert event_digest(form) == event_digest({"a": ["1", "2"], "b": ["3"]})
    import hashlib

    expected = hashlib.sha256(b'{"a":1,"b":"\xc3\xa9"}').hexdigest()[:32]
    assert event_digest({"b": "é", "a": 1}) == "sha256:" + expected
    with pytest.raises(TypeError):
        event_digest(object())


@pytest.mark.parametrize(
    "anymail",
    [
        {"WEBHOOK_SECRET": {"not": "a string"}},
        {"WEBHOOK_SECRET": "user:pass", "WEBHOOK_REPLAY_STORE": "redis?"},
    ],
)
def test_a_wrong_general_setting_is_a_retry_answer_too(webhook_client, settings, anymail):
    settings.ANYMAIL = anymail
    response, signals = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 503
    assert signals == []


@pytest.mark.parametrize("depth", [900, 5000])
def test_deeply_nested_json_is_malformed_not_our_fault(webhook_client, webhook_secret, depth):
    body = b'{"events": ' + b"[" * depth + b"]" * depth + b"}"
    response, signals = webhook_client.post(TRACKING, body)
    assert response.status_code == 400
    assert signals == []
