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


class FailingTaskBackend:
    """Stands for a task queue that is down: every enqueue fails (a task backend
    class for TASKS; tests)."""

    def __new__(cls, alias, params):
        import django

        if django.VERSION >= (6, 0):
            from django.tasks.backends.dummy import DummyBackend
        else:
            from django_tasks.backends.dummy import DummyBackend

        class _Failing(DummyBackend):
            def enqueue(self, task, args, kwargs):
                raise ConnectionError("the task queue is unreachable")

        return _Failing(alias, params)
