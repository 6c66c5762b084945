"""What Anymail's two background jobs share (webhook deliveries and outbox sends):
enqueueing on the configured task backend (deferred where it can defer), the
watchdog of an attempt, exponential backoff with jitter, and error summaries.

Kept apart from :mod:`anymail.tasks`, which imports ``django.tasks`` (or the backport)
and defines the tasks: importing this module needs neither.
"""

from __future__ import annotations

import functools
import random
import traceback
from datetime import timedelta
from typing import Any

__all__ = ["backoff", "enqueue", "error_text"]


def enqueue(task_name: str, row_id: int, delay: float = 0.0, watchdog: bool = False) -> None:
    """Enqueue ``anymail.tasks.<task_name>(row_id)`` on ``ANYMAIL["TASKS_BACKEND"]``,
    after ``delay`` seconds where the backend can defer (at once where it can't). A
    ``watchdog`` (the same task, deferred past an attempt's lease, to run it again if
    its worker died) is only enqueued where the backend can defer."""
    from django.utils import timezone

    from anymail import tasks

    backend = tasks.task_backend()
    can_defer = getattr(backend, "supports_defer", False)
    if watchdog and not can_defer:
        return
    task = _task_on(task_name, backend.alias, type(backend))
    if delay > 0 and can_defer:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    task.enqueue(row_id)


@functools.lru_cache(maxsize=32)
def _task_on(task_name: str, alias: str, backend_class: type) -> Any:
    """The task bound to a backend: made (and validated by the tasks framework) once per
    backend, not per enqueue. (The class is in the key: settings can change the
    backend an alias names, in tests.)"""
    from anymail import tasks

    return getattr(tasks, task_name).using(backend=alias)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempt + 1``: about ``base * 2**(attempt - 1)``,
    capped, spread over its upper half (jitter) so a burst's retries don't arrive
    together."""
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not security)


def error_text(err: BaseException | None, reason: str, limit: int = 4000) -> str:
    """``reason``, and the exception's one-line summary (no traceback, no locals)."""
    if err is None:
        return reason
    summary = "".join(traceback.format_exception_only(type(err), err)).strip()
    return f"{reason}: {summary}"[:limit]
