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
    DatabaseReplayStore,
    ReplayProtection,
    ReplayStoreUnavailable,
)
from anymail.webhooks.replay_cache import CacheReplayStore

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


def handled(store, key, lifetime=600):
    """Claim a key and mark it handled, as a request that signalled its events does."""
    claims = store.claim_many([key], "fake", lease=60)
    store.finish_many(claims.mine, claims.owner, lifetime)
    return claims


def test_a_replay_is_refused_after_10000_other_tokens():
    """The default store keeps every key until it expires: no eviction."""
    store = DatabaseReplayStore()
    assert handled(store, "first").mine == {"first"}
    claims = store.claim_many([f"other-{n}" for n in range(10_000)], "fake", lease=60)
    store.finish_many(claims.mine, claims.owner, 600)
    assert len(claims.mine) == 10_000
    assert store.claim_many(["first"], "fake", lease=60).done == {"first"}
    assert WebhookReplayToken.objects.count() == 10_001


def test_expired_keys_are_purged_though_each_request_has_a_store_of_its_own():
    """A webhook view makes a store per request: the purge (one claim in
    ``purge_every``) counts every store's claims, so expired rows don't pile up."""
    handled(DatabaseReplayStore(), "old", lifetime=-1)  # (already expired)
    handled(DatabaseReplayStore(), "kept", lifetime=600)
    for n in range(DatabaseReplayStore.purge_every):
        DatabaseReplayStore().claim_many([f"new-{n}"], "fake", lease=60)
    remaining = set(WebhookReplayToken.objects.values_list("key", flat=True))
    assert "old" not in remaining
    assert "kept" in remaining
    assert len(remaining) == 1 + DatabaseReplayStore.purge_every


def test_an_expired_key_may_be_claimed_again():
    store = DatabaseReplayStore()
    handled(store, "k", lifetime=-1)  # (already expired)
    assert store.claim_many(["k"], "fake", lease=60).mine == {"k"}


def test_a_claim_in_progress_is_busy_not_a_duplicate_and_a_crashed_one_expires():
    """A request that claimed events and died before handling them must not make the
    ESP's retry look like a duplicate: the claim is "busy" until its lease ends, then
    the retry takes it over."""
    store = DatabaseReplayStore()
    crashed = store.claim_many(["e1", "e2"], "fake", lease=-1)  # its lease has ended
    assert crashed.mine == {"e1", "e2"}
    retry = store.claim_many(["e1", "e2"], "fake", lease=60)
    assert (retry.mine, retry.done, retry.busy) == ({"e1", "e2"}, set(), set())
    concurrent = store.claim_many(["e1", "e2"], "fake", lease=60)
    assert (concurrent.mine, concurrent.done, concurrent.busy) == (set(), set(), {"e1", "e2"})
    store.finish_many(retry.mine, retry.owner, 600)
    after = store.claim_many(["e1", "e2"], "fake", lease=60)
    assert (after.mine, after.done, after.busy) == (set(), {"e1", "e2"}, set())


@pytest.mark.parametrize("alias", ["locmem"])
def test_the_cache_store_has_the_same_three_states(settings, alias):
    settings.CACHES = {
        **settings.CACHES,
        "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r"},
    }
    store = CacheReplayStore(alias)
    first = store.claim_many(["a"], "fake", lease=60)
    assert first.mine == {"a"}
    assert store.claim_many(["a"], "fake", lease=60).busy == {"a"}
    store.finish_many(first.mine, first.owner, 600)
    assert store.claim_many(["a"], "fake", lease=60).done == {"a"}


def test_the_token_itself_is_not_stored():
    protection = ReplayProtection("fake", 300, DatabaseReplayStore())
    handled(protection.store, protection.token_key("secret-token-value"))
    [row] = WebhookReplayToken.objects.all()
    assert "secret-token-value" not in row.key
    assert len(row.key) == 64


def test_a_request_that_dies_mid_signal_is_processed_again_after_the_lease(
    signed_fake, webhook_client, settings
):
    """The ESP's retry of a request whose process died after claiming: busy (retry
    answer) while the lease runs, then processed."""
    from testproject.fake_esp import FakeTrackingWebhookView

    headers = signed_headers("crash-token")
    protection = ReplayProtection("fake", 300, DatabaseReplayStore())
    from anymail.events import event_digest  # noqa: F401 (the fake's events have ids)

    # What a dead request leaves: its token and event claimed, in progress.
    keys = [protection.token_key("crash-token"), protection.event_key("m0-token")]
    protection.store.claim_many(keys, "fake", lease=600)
    FakeTrackingWebhookView.claim_wait = 0.1
    try:
        b = body()
        b["events"][0]["token"] = "m0-token"
        busy, signals = webhook_client.post(TRACKING, b, headers=headers)
        assert (busy.status_code, signals) == (503, [])
        WebhookReplayToken.objects.update(expires_at="2000-01-01T00:00:00Z")  # lease ends
        retried, signals = webhook_client.post(TRACKING, b, headers=headers)
        assert (retried.status_code, len(signals)) == (200, 1)
    finally:
        del FakeTrackingWebhookView.claim_wait


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
        store.claim_many(["k"], "fake", 60)


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
