"""A cache backend whose every call fails, like a cache server that is down (tests)."""

from django.core.cache.backends.base import BaseCache


class FailingCache(BaseCache):
    def add(self, *args, **kwargs):
        raise ConnectionError("cache server unreachable")

    get = set = delete = add
