"""The replay store in a Django cache (``WEBHOOK_REPLAY_STORE = "cache"``): claims\nthrough the cache's atomic ``add()``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from anymail.webhooks.replay import Claims, ReplayStoreUnavailable

__all__ = ["CacheReplayStore"]


class CacheReplayStore:
    """Keys in a Django cache, through its atomic ``add()``; a refused ``add()`` is
    confirmed by reading the key back (the database cache's ``add()`` can return
    False under write contention without anything stored)."""

    prefix = "anymail:webhook-token:"

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    #: the value of a key whose events were handled
    DONE = "done"

    def claim_many(
        self, keys: Sequence[str], esp_id: str, lease: float, owner: str | None = None
    ) -> Claims:
        from django.core.cache import caches

        claims = Claims(owner=owner or uuid.uuid4().hex)
        try:
            cache = caches[self.alias]
            for key in dict.fromkeys(keys):
                cache_key = self.prefix + key
                if cache.add(cache_key, claims.owner, lease):
                    claims.mine.add(key)
                    continue
                holder = cache.get(cache_key)
                if holder is None:
                    raise ReplayStoreUnavailable(
                        f"Anymail's webhook replay store (cache {self.alias!r}) refused a claim "
                        "nobody holds: the ESP will retry."
                    )
                if holder == claims.owner:  # pragma: no cover - an add() that stored, yet said no
                    claims.mine.add(key)
                elif holder in (self.DONE, True):  # (True: stored by Anymail before 0.3)
                    claims.done.add(key)
                else:
                    claims.busy.add(key)
        except ReplayStoreUnavailable:
            raise
        except Exception as err:
            raise ReplayStoreUnavailable(
                f"Anymail's webhook replay store (cache {self.alias!r}) failed: {err}"
            ) from err
        return claims

    def finish_many(self, keys: Iterable[str], owner: str, lifetime: float) -> None:
        from django.core.cache import caches

        try:
            caches[self.alias].set_many(
                {self.prefix + key: self.DONE for key in keys}, timeout=lifetime
            )
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err

    def release(self, key: str) -> None:
        self.release_many([key])

    def release_many(self, keys: Iterable[str]) -> None:
        from django.core.cache import caches

        try:
            caches[self.alias].delete_many([self.prefix + key for key in keys])
        except Exception as err:
            raise ReplayStoreUnavailable(f"Anymail's webhook replay store failed: {err}") from err
