"""System checks of Anymail's webhooks: WEBHOOK_SECRET, the replay store and its
table, the task backend background processing uses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

from anymail.checks.configuration import _configured_backends, _routed


@register(Tags.security)
def check_webhook_secret(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when an ESP's webhooks are routed but WEBHOOK_SECRET is not set."""
    from django.urls import NoReverseMatch, reverse

    from anymail.registry import iter_routes
    from anymail.settings import get_anymail_setting

    if get_anymail_setting("webhook_secret", default=None):
        return []
    routed = []
    for esp, route in iter_routes():
        if esp.signed_webhooks is True:
            continue  # the ESP's signature authenticates every post
        url_name = f"anymail:{esp.id}_{route.name}"
        try:
            reverse(url_name)
        except NoReverseMatch:
            continue
        except Exception:  # a broken URLconf is reported by Django's own checks
            return []
        routed.append(url_name)
    if not routed:
        return []
    return [
        Warning(
            "Anymail webhooks are routed but ANYMAIL['WEBHOOK_SECRET'] is not set, so anyone "
            f"can post to them ({', '.join(routed)}).",
            hint="Set ANYMAIL['WEBHOOK_SECRET'] to a random 'user:password' string and include it "
            "in the webhook URLs you give your ESP (https://user:password@example.com/anymail/...).",
            id="anymail.W002",
        )
    ]


@register(Tags.database)
def check_replay_store_table(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[Warning]:
    """The default replay store is a table: without ``migrate``, every webhook would
    answer so the ESP retries. (A database check: it runs when Django is asked to
    check databases, as ``migrate`` and ``check --database`` do.)"""
    from django.db import connections, router

    from anymail.models import WebhookReplayToken
    from anymail.registry import installed_esps
    from anymail.settings import get_anymail_setting

    if not databases:
        return []
    if get_anymail_setting("webhook_replay_store", default="database") != "database":
        return []
    if not any(_routed(esp) for esp in installed_esps().values()):
        return []
    alias = router.db_for_write(WebhookReplayToken)
    if alias not in databases:
        return []
    try:
        with connections[alias].cursor() as cursor:
            tables = connections[alias].introspection.table_names(cursor)
    except Exception:  # the database is down: Django's own checks say so
        return []
    if WebhookReplayToken._meta.db_table in tables:
        return []
    return [
        Warning(
            f"Anymail's webhook replay store table ({WebhookReplayToken._meta.db_table}) is "
            f"missing from the database {alias!r}: every webhook would answer so the ESP "
            "retries.",
            hint="Run `python manage.py migrate anymail` (or set "
            "ANYMAIL['WEBHOOK_REPLAY_STORE'] = 'cache').",
            id="anymail.W007",
        )
    ]


#: Cache backends that can't make replay protection hold across processes.
_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": "local to one process",
    "django.core.cache.backends.dummy.DummyCache": "a dummy cache that stores nothing",
}
#: Below this, a busy site's tokens are evicted before their window ends.
_MIN_CACHE_ENTRIES = 100_000


@register(Tags.security)
def check_replay_store(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """WEBHOOK_REPLAY_STORE = "cache" is only as safe as the cache."""
    from anymail.settings import get_anymail_setting

    if get_anymail_setting("webhook_replay_store", default="database") != "cache":
        return []
    alias = get_anymail_setting("webhook_replay_cache", default="default")
    config = (getattr(settings, "CACHES", {}) or {}).get(alias) or {}
    backend = str(config.get("BACKEND", ""))
    problems = []
    if backend in _LOCAL_CACHES:
        problems.append(_LOCAL_CACHES[backend])
    max_entries = (config.get("OPTIONS") or {}).get("MAX_ENTRIES", 300)
    evicting = backend.endswith(("LocMemCache", "FileBasedCache", "DatabaseCache"))
    if evicting and isinstance(max_entries, int) and max_entries < _MIN_CACHE_ENTRIES:
        problems.append(f"evicts after {max_entries} entries")
    if not problems:
        return []
    return [
        Warning(
            f"Anymail's webhook replay protection uses the cache {alias!r} ({backend}), which "
            f"is {' and '.join(problems)}: a replayed webhook could be accepted.",
            hint="Use WEBHOOK_REPLAY_STORE = 'database' (the default; run migrate), or a "
            "cache shared by every process (Redis, Memcached) for WEBHOOK_REPLAY_CACHE.",
            id="anymail.W004",
        )
    ]


_IMMEDIATE = ("ImmediateBackend",)


@register(Tags.compatibility)
def check_background_task_backend(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Background processing on a task backend that runs tasks in the caller (Django's
    immediate backend) isn't in the background: say so."""
    from anymail.settings import get_anymail_setting

    uses = []
    if get_anymail_setting("webhook_processing", default="inline") == "background":
        uses.append("WEBHOOK_PROCESSING = 'background'")
    if get_anymail_setting("send_in_background", default=False) or any(
        options.get("background") for _, _, options in _configured_backends()
    ):
        uses.append("sending in the background")
    if not uses:
        return []
    alias = get_anymail_setting("tasks_backend", default="default")
    tasks = getattr(settings, "TASKS", None) or {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    }
    backend = str((tasks.get(alias) or {}).get("BACKEND", ""))
    if not backend:
        return [
            Warning(
                f"Anymail's {' and '.join(uses)} enqueue on the task backend {alias!r}, "
                "which TASKS doesn't define.",
                hint="Define it in TASKS, or set ANYMAIL['TASKS_BACKEND'] to one that is.",
                id="anymail.W008",
            )
        ]
    if backend.endswith(_IMMEDIATE):
        return [
            Warning(
                f"Anymail's {' and '.join(uses)} use the task backend {alias!r} "
                f"({backend}), which runs each task at once, in the caller: nothing runs "
                "in the background, and retries don't wait.",
                hint="Use a task backend with workers (django-tasks-db's DatabaseBackend "
                "and `manage.py db_worker`, or django-tasks-redis).",
                id="anymail.W008",
            )
        ]
    return []
