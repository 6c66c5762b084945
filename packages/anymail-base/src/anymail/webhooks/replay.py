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
import itertools
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from anymail.exceptions import AnymailWebhookUnavailable, AnymailWebhookValidationFailure
from anymail.webhooks.replay_sql import finish_claims, insert_claims

__all__ = [
    "Claims",
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


@dataclass
class Claims:
    """What a claim found, key by key."""

    owner: str  #: this claim's random id
    mine: set[str] = field(default_factory=set)  #: now held by this claim (in progress)
    done: set[str] = field(default_factory=set)  #: handled already: duplicates
    busy: set[str] = field(default_factory=set)  #: in progress elsewhere, lease not expired


class ReplayStore(Protocol):
    """What the webhook views need of a store.

    A key is first claimed *in progress* for a short lease, then marked *done* (kept
    for the ESP's retry window) once its events were handled. A request that dies in
    between leaves a claim that expires with its lease, so the ESP's retry is
    processed: a claim never outlives a crash as a false "already handled".
    """

    def claim_many(
        self, keys: Sequence[str], esp_id: str, lease: float, owner: str | None = None
    ) -> Claims: ...

    def finish_many(self, keys: Iterable[str], owner: str, lifetime: float) -> None: ...

    def release_many(self, keys: Iterable[str]) -> None: ...


#: claims made by this process's database stores, for the purge
_CLAIMS = itertools.count(1)


class DatabaseReplayStore:
    """Keys in the ``WebhookReplayToken`` table (``anymail`` app's migrations)."""

    #: purge expired rows on about one claim in this many (counted per process: a
    #: webhook view makes a store for each request)
    purge_every = 200

    def claim_many(
        self, keys: Sequence[str], esp_id: str, lease: float, owner: str | None = None
    ) -> Claims:
        claims = Claims(owner=owner or uuid.uuid4().hex)
        if not keys:
            return claims
        from django.db import connections, router, transaction
        from django.utils import timezone

        from anymail.models import WebhookReplayToken

        now = timezone.now()
        lease_until = now + timedelta(seconds=lease)
        keys = list(dict.fromkeys(keys))
        try:
            database = router.db_for_write(WebhookReplayToken)

            def tokens() -> Any:  # (made only where used: most claims never need it)
                return WebhookReplayToken.objects.using(database)

            # One write: insert every key (in progress, ours), ignoring those already
            # there. (Inside ATOMIC_REQUESTS no IntegrityError can break the
            # transaction: no savepoint needed.) Where the insert returns what it
            # inserted, only the other keys need the read.
            inserted = insert_claims(connections[database], keys, esp_id, lease_until, claims.owner)
            if inserted is None:
                tokens().bulk_create(
                    [
                        WebhookReplayToken(
                            key=key, esp_id=esp_id, expires_at=lease_until, owner=claims.owner
                        )
                        for key in keys
                    ],
                    ignore_conflicts=True,
                )
                unsettled = keys
            else:
                claims.mine |= inserted
                unsettled = [key for key in keys if key not in inserted]
            # One read (none when every key was inserted): who holds each, until when.
            held = (
                {
                    key: (owner, expires)
                    for key, owner, expires in tokens()
                    .filter(key__in=unsettled)
                    .values_list("key", "owner", "expires_at")
                }
                if unsettled
                else {}
            )
            expired = []
            for key, (owner, expires) in held.items():
                if owner == claims.owner:
                    claims.mine.add(key)
                elif expires <= now:
                    expired.append(key)
                elif owner:
                    claims.busy.add(key)
                else:
                    claims.done.add(key)
            if expired:
                # Past its window (or a crashed claim's lease): ours to take over.
                in_transaction = not connections[database].get_autocommit()
                with transaction.atomic(using=database) if in_transaction else _nothing():
                    tokens().filter(key__in=expired, expires_at__lte=now).update(
                        owner=claims.owner, expires_at=lease_until
                    )
                taken = set(
                    tokens()
                    .filter(key__in=expired, owner=claims.owner)
                    .values_list("key", flat=True)
                )
                claims.mine |= taken
                claims.busy |= set(expired) - taken  # taken over by a concurrent claim
            vanished = set(unsettled) - set(held)
            if vanished:
                # Refused by the insert, yet not there: released by another request
                # between the two statements. Not a confirmed duplicate.
                raise ReplayStoreUnavailable(
                    f"Anymail's webhook replay store couldn't confirm {len(vanished)} claim(s); "
                    "the ESP will retry."
                )
            if next(_CLAIMS) % self.purge_every == 0:
                tokens().filter(expires_at__lte=now).delete()
            return claims
        except ReplayStoreUnavailable:
            raise
        except Exception as err:  # the database is down, the table is missing, ...
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (the database) failed: {type(err).__name__}: "
                f"{err}. (Has `manage.py migrate` created the anymail tables?)"
            ) from err

    def finish_many(self, keys: Iterable[str], owner: str, lifetime: float) -> None:
        """Mark keys this claim holds as handled (one write), kept ``lifetime`` seconds."""
        from django.utils import timezone

        from anymail.models import WebhookReplayToken

        keys = list(keys)
        if not keys:
            return
        try:
            from django.db import connections, router

            database = router.db_for_write(WebhookReplayToken)
            expires_at = timezone.now() + timedelta(seconds=lifetime)
            finish_claims(connections[database], keys, owner, expires_at)
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err

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


def get_replay_store(store: str = "database", cache_alias: str = "default") -> Any:
    if store == "database":
        return DatabaseReplayStore()
    if store == "cache":
        from anymail.webhooks.replay_cache import CacheReplayStore

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

    def token_key(self, token: str) -> str:
        """The store key of a signed request's one-time token."""
        return self.key(token)

    def event_key(self, event_id: str) -> str:
        """The store key of an event, by its ``event_id``."""
        return self.key(event_id, kind="event\n")

    @property
    def token_lifetime(self) -> float:
        """How long a handled token is kept: twice the tolerance window."""
        return self.tolerance * 2 if self.tolerance else DEFAULT_TOKEN_LIFETIME

    def release_many(self, keys: Iterable[str]) -> None:
        self.store.release_many(keys)
