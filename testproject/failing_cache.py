"""A cache backend whose every call fails, like a cache server that is down (tests)."""

from django.core.cache.backends.base import BaseCache


class FailingCache(BaseCache):
    def add(self, *args, **kwargs):
        raise ConnectionError("cache server unreachable")

    get = set = delete = add


class ContendedCache(BaseCache):
    """A cache whose ``add()`` says "already there" without anything stored, as
    Django's database cache does under write contention."""

    def add(self, *args, **kwargs):
        return False

    def get(self, *args, **kwargs):
        return kwargs.get("default")

    def delete(self, *args, **kwargs):
        return False

    def delete_many(self, *args, **kwargs):
        return None
