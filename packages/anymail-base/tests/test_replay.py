"""Replay protection that holds: a signed webhook is accepted once within its ESP's
tolerance window, however many other webhooks arrive in between; a duplicate is
acknowledged without a second signal; a failing store is a 503 (the ESP retries),
never a false "replay"."""

import hashlib
import hmac
import time

import pytest

from anymail.models import WebhookReplayToken
from anymail.webhooks.replay import (
    CacheReplayStore,
    DatabaseReplayStore,
    ReplayProtection,
    ReplayStoreUnavailable,
)

TRACKING = "anymail:fake_tracking_webhook"


def signed_headers(token, key="sign-key"):
    timestamp = str(int(time.time()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"X-Fake-Timestamp": timestamp, "X-Fake-Token": token, "X-Fake-Signature": signature}


def body(n=0):
    return {
        "events": [{"event": "delivered", "ts": 1700000000, "id": f"m{n}", "to": "a@example.com"}]
    }


@pytest.fixture
def signed_fake(settings, fake_esp_installed, webhook_secret):
    settings.ANYMAIL = {**settings.ANYMAIL, "FAKE_WEBHOOK_SIGNING_KEY": "sign-key"}


def test_a_replay_is_refused_after_10000_other_tokens():
    """The default store keeps every token until it expires: no eviction."""
    protection = ReplayProtection("fake", 300, DatabaseReplayStore())
    assert protection.claim("first") is not None
    for n in range(10_000):
        assert protection.claim(f"other-{n}") is not None
    assert protection.claim("first") is None
    assert WebhookReplayToken.objects.count() == 10_001


def test_an_expired_token_may_be_claimed_again():
    store = DatabaseReplayStore()
    assert store.claim("k", "fake", lifetime=-1)  # (already expired)
    assert store.claim("k", "fake", lifetime=60)
    assert not store.claim("k", "fake", lifetime=60)


def test_the_token_itself_is_not_stored():
    ReplayProtection("fake", 300, DatabaseReplayStore()).claim("secret-token-value")
    [row] = WebhookReplayToken.objects.all()
    assert "secret-token-value" not in row.key
    assert len(row.key) == 64


def test_duplicate_delivery_is_acknowledged_once(client, signed_fake, webhook_client):
    headers = signed_headers("dup-token")
    first, signals = webhook_client.post(TRACKING, body(), headers=headers)
    assert (first.status_code, len(signals)) == (200, 1)
    for _ in range(3):  # the ESP retrying, several times
        again, signals = webhook_client.post(TRACKING, body(), headers=headers)
        assert (again.status_code, signals) == (200, [])


def test_a_failing_store_is_a_503_and_no_signal(signed_fake, webhook_client, settings):
    from django.db import connection

    with connection.cursor() as cursor:  # the table is gone (say, migrate never ran)
        cursor.execute("DROP TABLE anymail_webhookreplaytoken")
    response, signals = webhook_client.post(TRACKING, body(), headers=signed_headers("t1"))
    assert response.status_code == 503
    assert signals == []


def test_the_cache_store_too(settings, signed_fake, webhook_client):
    from django.core.cache import cache

    cache.clear()
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_REPLAY_STORE": "cache"}
    headers = signed_headers("cached")
    assert webhook_client.post(TRACKING, body(), headers=headers)[0].status_code == 200
    response, signals = webhook_client.post(TRACKING, body(), headers=headers)
    assert (response.status_code, signals) == (200, [])
    assert WebhookReplayToken.objects.count() == 0


def test_a_failing_cache_is_unavailable_not_a_replay(settings):
    settings.CACHES = {
        **settings.CACHES,
        "broken": {"BACKEND": "testproject.failing_cache.FailingCache"},
    }
    store = CacheReplayStore("broken")
    with pytest.raises(ReplayStoreUnavailable):
        store.claim("k", "fake", 60)


@pytest.mark.parametrize("timestamp", ["nan", "inf", "-inf", "1e400", 10**400, "", "soon"])
def test_timestamps_that_are_not_times_are_refused(timestamp):
    from anymail.exceptions import AnymailWebhookValidationFailure

    protection = ReplayProtection("fake", 300, DatabaseReplayStore())
    with pytest.raises(AnymailWebhookValidationFailure):
        protection.check_timestamp(timestamp)


def test_system_check_warns_about_a_store_that_cannot_hold_the_window(settings):
    from django.core.checks import run_checks

    settings.ANYMAIL = {"WEBHOOK_REPLAY_STORE": "cache"}  # the default cache: local memory
    [warning] = [m for m in run_checks() if m.id == "anymail.W004"]
    assert "local to one process" in warning.msg
    settings.ANYMAIL = {}  # the database store: nothing to say
    assert [m for m in run_checks() if m.id == "anymail.W004"] == []
