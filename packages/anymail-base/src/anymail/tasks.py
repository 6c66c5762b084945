"""Anymail's background tasks, on Django's Tasks framework (``django.tasks`` on
Django 6.0+, the ``django-tasks`` backport on 5.2).

Imported only when background processing is used: a site that never turns it on
needs no task backend. The tasks run on ``ANYMAIL["TASKS_BACKEND"]`` (default: the
``"default"`` backend of Django's ``TASKS`` setting). Their only argument is a row id:
no request data and no secret is ever in a task's payload.
"""

from __future__ import annotations

from typing import Any

from anymail.exceptions import AnymailImproperlyInstalled

try:  # Django 6.0+
    from django.tasks import task, task_backends
except ImportError:  # Django 5.2, with the backport
    try:
        from django_tasks import task, task_backends  # type: ignore[no-redef]
    except ImportError:
        task = None  # type: ignore[assignment]

__all__ = ["deliver_webhook", "send_outbox_message", "task_backend"]


def _not_installed(*args: Any, **kwargs: Any) -> Any:
    raise AnymailImproperlyInstalled(
        missing_package="django-tasks", install_extra="anymail-base[background]"
    )


if task is None:
    # Django 5.2 without the backport: the module imports (a site that never turns
    # background processing on needs nothing), and using it says what to install.
    task_backend = deliver_webhook = send_outbox_message = _not_installed  # type: ignore[assignment]
else:

    def task_backend() -> Any:
        """The task backend Anymail enqueues on (``ANYMAIL["TASKS_BACKEND"]``)."""
        from anymail.settings import get_anymail_setting

        return task_backends[get_anymail_setting("tasks_backend", default="default")]

    @task()
    def deliver_webhook(delivery_id: int) -> str:
        """One attempt at a stored webhook delivery: convert, signal, or schedule a retry."""
        from anymail.webhooks.background import process

        return process(delivery_id)

    @task()
    def send_outbox_message(outbox_id: int) -> str:
        """One attempt at sending a message stored by a background send."""
        from anymail.outbox import process

        return process(outbox_id)
