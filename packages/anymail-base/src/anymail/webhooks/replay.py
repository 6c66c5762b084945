"""Replay and duplicate protection for webhooks.

Two kinds of keys are claimed in one store:

- a signed request's one-time token, accepted once and only while its timestamp is
  within the ESP's tolerance window (replay protection);
- each event's ``event_id``, kept for the ESP's retry window, so an event that was
  handled is not signalled again when the ESP redelivers it (a retry of a batch that
  failed part way, a duplicate post, a replay of an unsigned body).

The store is shared by every process that serves webhooks (``WEBHOOK_REPLAY_STORE``):

- ``"database"`` (the default): the ``WebhookReplayToken`` table (run ``migrate``).
  A unique key makes "accept once" atomic across processes and servers; a request
  claims all its keys with one bulk insert, and nothing is evicted before it expires.
- ``"cache"``: the Django cache ``WEBHOOK_REPLAY_CACHE`` (default "default"), through
  its atomic ``add()``. Only as safe as the cache: shared by every process (Redis,
  Memcached), and big enough to hold a window of keys (the check ``anymail.W004``).

A claim that is refused is confirmed (the key read back) before it counts as "already
received": a store that can't tell a duplicate from its own failure raises
:class:`ReplayStoreUnavailable`, and the webhook answers so the ESP retries. A store
failure is never taken for a duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from anymail.exceptions import AnymailWebhookUnavailable, AnymailWebhookValidationFailure

__all__ = [
    "CacheReplayStore",
    "DatabaseReplayStore",
    "ReplayProtection",
    "ReplayStore",
    "ReplayStoreUnavailable",
    "get_replay_store",
]

#: How long a token is kept when the ESP has no tolerance window.
DEFAULT_TOKEN_LIFETIME = 24 * 3600


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


class ReplayStoreUnavailable(AnymailWebhookUnavailable):
    """The replay store failed (a database or cache error), or couldn't confirm a
    refused claim: a fault on our side, never a duplicate."""


class ReplayStore(Protocol):
    """What the webhook views need of a store."""

    def claim_many(self, keys: Sequence[str], esp_id: str, lifetime: float) -> set[str]:
        """Claim every key; return those this call now holds (new, or expired and
        taken over). A key not returned is confirmed held by an earlier claim."""
        ...

    def release_many(self, keys: Iterable[str]) -> None:
        """Forget keys this request claimed (it failed, so the ESP's retry is accepted)."""
        ...


class DatabaseReplayStore:
    """Keys in the ``WebhookReplayToken`` table (``anymail`` app's migrations)."""

    #: purge expired rows on about one claim in this many
    purge_every = 200

    def __init__(self) -> None:
        self._claims = 0

    def claim(self, key: str, esp_id: str, lifetime: float) -> bool:
        """Record ``key``; False if it is already recorded and not expired."""
        return key in self.claim_many([key], esp_id, lifetime)

    def claim_many(self, keys: Sequence[str], esp_id: str, lifetime: float) -> set[str]:
        if not keys:
            return set()
        from django.db import connections, router, transaction
        from django.utils import timezone

        from anymail.models import WebhookReplayToken

        owner = uuid.uuid4().hex
        now = timezone.now()
        expires_at = now + timedelta(seconds=lifetime)
        keys = list(dict.fromkeys(keys))
        try:
            database = router.db_for_write(WebhookReplayToken)
            tokens = WebhookReplayToken.objects.using(database)
            # One write: insert every key, ignoring the ones already there. (Inside a
            # transaction, ATOMIC_REQUESTS, no IntegrityError can break it: no savepoint.)
            tokens.bulk_create(
                [
                    WebhookReplayToken(key=key, esp_id=esp_id, expires_at=expires_at, owner=owner)
                    for key in keys
                ],
                ignore_conflicts=True,
            )
            # One read: which keys this claim holds, and which are held elsewhere.
            held = {
                key: (row_owner, row_expires)
                for key, row_owner, row_expires in tokens.filter(key__in=keys).values_list(
                    "key", "owner", "expires_at"
                )
            }
            mine = {key for key, (row_owner, _) in held.items() if row_owner == owner}
            expired = [
                key for key, (row_owner, exp) in held.items() if key not in mine and exp <= now
            ]
            if expired:
                # Kept past its window: free to claim again (rare, so a second write).
                in_transaction = not connections[database].get_autocommit()
                with transaction.atomic(using=database) if in_transaction else _nothing():
                    tokens.filter(key__in=expired, expires_at__lte=now).update(
                        owner=owner, expires_at=expires_at
                    )
                mine |= set(
                    tokens.filter(key__in=expired, owner=owner).values_list("key", flat=True)
                )
            vanished = set(keys) - set(held)
            if vanished:
                # Refused by the insert, yet not there: released by another request
                # between the two statements. Not a confirmed duplicate.
                raise ReplayStoreUnavailable(
                    f"Anymail's webhook replay store couldn't confirm {len(vanished)} claim(s); "
                    "the ESP will retry."
                )
            self._claims += 1
            if self._claims % self.purge_every == 0:
                tokens.filter(expires_at__lte=now).delete()
            return mine
        except ReplayStoreUnavailable:
            raise
        except Exception as err:  # the database is down, the table is missing, ...
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (the database) failed: {type(err).__name__}: "
                f"{err}. (Has `manage.py migrate` created the anymail tables?)"
            ) from err

    def release(self, key: str) -> None:
        self.release_many([key])

    def release_many(self, keys: Iterable[str]) -> None:
        from anymail.models import WebhookReplayToken

        keys = list(keys)
        if not keys:
            return
        try:
            WebhookReplayToken.objects.filter(key__in=keys).delete()
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err


class CacheReplayStore:
    """Keys in a Django cache, through its atomic ``add()``; a refused ``add()`` is
    confirmed by reading the key back (the database cache's ``add()`` can return
    False under write contention without anything stored)."""

    prefix = "anymail:webhook-token:"

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def claim(self, key: str, esp_id: str, lifetime: float) -> bool:
        return key in self.claim_many([key], esp_id, lifetime)

    def claim_many(self, keys: Sequence[str], esp_id: str, lifetime: float) -> set[str]:
        from django.core.cache import caches

        owner = uuid.uuid4().hex
        mine = set()
        try:
            cache = caches[self.alias]
            for key in dict.fromkeys(keys):
                cache_key = self.prefix + key
                if cache.add(cache_key, owner, lifetime):
                    mine.add(key)
                    continue
                holder = cache.get(cache_key)
                if holder is None:
                    raise ReplayStoreUnavailable(
                        f"Anymail's webhook replay store (cache {self.alias!r}) refused a claim "
                        "it doesn't hold: the ESP will retry."
                    )
                if holder == owner:  # pragma: no cover - an add() that stored, yet said no
                    mine.add(key)
        except ReplayStoreUnavailable:
            raise
        except Exception as err:
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (cache {self.alias!r}) failed: {err}"
            ) from err
        return mine

    def release(self, key: str) -> None:
        self.release_many([key])

    def release_many(self, keys: Iterable[str]) -> None:
        from django.core.cache import caches

        try:
            caches[self.alias].delete_many([self.prefix + key for key in keys])
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err


def get_replay_store(store: str = "database", cache_alias: str = "default") -> Any:
    if store == "database":
        return DatabaseReplayStore()
    if store == "cache":
        return CacheReplayStore(cache_alias)
    from anymail.exceptions import AnymailConfigurationError

    raise AnymailConfigurationError(
        f"WEBHOOK_REPLAY_STORE must be 'database' or 'cache', not {store!r}."
    )


class ReplayProtection:
    """One ESP's window and store: refuses timestamps outside the tolerance, and
    says whether a token (or an event) was already accepted."""

    def __init__(self, esp_id: str, tolerance: float | None, store: Any) -> None:
        self.esp_id = esp_id
        self.tolerance = tolerance
        self.store = store

    def key(self, token: str, kind: str = "") -> str:
        data = f"{self.esp_id}\n{kind}{token}".encode("utf-8", errors="surrogatepass")
        return hashlib.sha256(data).hexdigest()

    def check_timestamp(self, timestamp: float | datetime) -> None:
        if self.tolerance is None:
            return
        try:
            seconds = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        except (TypeError, ValueError, OverflowError):
            seconds = math.nan
        if not math.isfinite(seconds):
            raise AnymailWebhookValidationFailure(
                f"{self.esp_id} webhook timestamp is not a time: {str(timestamp)[:40]!r}"
            )
        age = time.time() - seconds
        if abs(age) > self.tolerance:
            raise AnymailWebhookValidationFailure(
                f"{self.esp_id} webhook timestamp is {int(min(abs(age), 1e12))} seconds "
                f"{'old' if age > 0 else 'in the future'}; the tolerance is "
                f"{int(self.tolerance)} seconds (a replayed request, or a server clock "
                "that is wrong)."
            )

    def claim(self, token: str) -> str | None:
        """Record the token; its key if it is new (so a request that then fails can
        release it, and the ESP's retry is accepted), None if it was already accepted."""
        key = self.key(token)
        lifetime = self.tolerance * 2 if self.tolerance else DEFAULT_TOKEN_LIFETIME
        return key if self.store.claim(key, self.esp_id, lifetime) else None

    def claim_events(self, event_ids: Sequence[str], lifetime: float) -> dict[str, str]:
        """Claim each event id (in one store operation); {event id: key} for the ones
        this request now holds. The others were already handled (or are being
        handled by a concurrent delivery of the same events)."""
        keys = {event_id: self.key(event_id, kind="event\n") for event_id in event_ids}
        mine = self.store.claim_many(list(keys.values()), self.esp_id, lifetime)
        return {event_id: key for event_id, key in keys.items() if key in mine}

    def release(self, key: str) -> None:
        self.store.release(key)

    def release_many(self, keys: Iterable[str]) -> None:
        self.store.release_many(keys)
