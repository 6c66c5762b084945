"""Replay protection for webhooks: a signed request is accepted once, and only while
its timestamp is within the ESP's tolerance window.

The accepted tokens live in a store shared by every process that serves webhooks
(``WEBHOOK_REPLAY_STORE``):

- ``"database"`` (the default): the ``WebhookReplayToken`` table (run ``migrate``).
  A unique key makes "accept once" atomic across processes and servers, and nothing
  is evicted before it expires, however many other webhooks arrive.
- ``"cache"``: the Django cache ``WEBHOOK_REPLAY_CACHE`` (default "default"), through
  its atomic ``add()``. Only as safe as the cache: shared by every process (Redis,
  Memcached), and big enough to hold a tolerance window of tokens (a local-memory
  cache is neither; the system check ``anymail.W004`` says so).

A store that fails raises :class:`ReplayStoreUnavailable`: the webhook then answers
503, so the ESP retries later, rather than mistake the failure for a replay.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from anymail.exceptions import AnymailWebhookUnavailable, AnymailWebhookValidationFailure

__all__ = [
    "CacheReplayStore",
    "DatabaseReplayStore",
    "ReplayProtection",
    "ReplayStoreUnavailable",
    "get_replay_store",
]

#: How long a token is kept when the ESP has no tolerance window.
DEFAULT_TOKEN_LIFETIME = 24 * 3600


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


class ReplayStoreUnavailable(AnymailWebhookUnavailable):
    """The replay store failed (a database or cache error): a fault on our side."""


class DatabaseReplayStore:
    """Tokens in the ``WebhookReplayToken`` table (``anymail`` app's migration)."""

    #: purge expired rows on about one claim in this many
    purge_every = 200

    def __init__(self) -> None:
        self._claims = 0

    def claim(self, key: str, esp_id: str, lifetime: float) -> bool:
        """Record ``key``; False if it is already recorded and not expired."""
        from django.db import IntegrityError, connections, router, transaction
        from django.utils import timezone

        from anymail.models import WebhookReplayToken

        now = timezone.now()
        expires_at = now + timedelta(seconds=lifetime)
        try:
            database = router.db_for_write(WebhookReplayToken)
            tokens = WebhookReplayToken.objects.using(database)
            # Inside a transaction (ATOMIC_REQUESTS), a failed INSERT must not break it:
            # a savepoint. In autocommit (the usual case), a savepoint would only cost.
            in_transaction = not connections[database].get_autocommit()
            try:
                with transaction.atomic(using=database) if in_transaction else _nothing():
                    tokens.create(key=key, esp_id=esp_id, expires_at=expires_at)
            except IntegrityError:
                # Already there: free to claim again only if it has expired.
                return (
                    tokens.filter(key=key, expires_at__lte=now).update(expires_at=expires_at) == 1
                )
            self._claims += 1
            if self._claims % self.purge_every == 0:
                tokens.filter(expires_at__lte=now).delete()
            return True
        except Exception as err:  # the database is down, the table is missing, ...
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (the database) failed: {type(err).__name__}: "
                f"{err}. (Has `manage.py migrate` created the anymail tables?)"
            ) from err

    def release(self, key: str) -> None:
        from anymail.models import WebhookReplayToken

        try:
            WebhookReplayToken.objects.filter(key=key).delete()
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err


class CacheReplayStore:
    """Tokens in a Django cache, through its atomic ``add()``."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def claim(self, key: str, esp_id: str, lifetime: float) -> bool:
        from django.core.cache import caches

        try:
            return bool(caches[self.alias].add(f"anymail:webhook-token:{key}", True, lifetime))
        except Exception as err:
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (cache {self.alias!r}) failed: {err}"
            ) from err

    def release(self, key: str) -> None:
        from django.core.cache import caches

        try:
            caches[self.alias].delete(f"anymail:webhook-token:{key}")
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
    says whether a token was already accepted."""

    def __init__(self, esp_id: str, tolerance: float | None, store: Any) -> None:
        self.esp_id = esp_id
        self.tolerance = tolerance
        self.store = store

    def key(self, token: str) -> str:
        data = f"{self.esp_id}\n{token}".encode("utf-8", errors="surrogatepass")
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

    def release(self, key: str) -> None:
        self.store.release(key)
