"""Operations on the outbox (``manage.py anymail_outbox``, the admin): queue failed\nmessages again, prune sent ones."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from anymail.outbox import setting
from anymail.outbox_queue import enqueue

if TYPE_CHECKING:
    pass


# --- operations ------------------------------------------------------------------


def retry(queryset: Any) -> int:
    """Queue failed (or review) messages again, with a fresh set of attempts."""
    from django.utils import timezone

    from anymail.models import OutboxMessage

    count = 0
    for outbox in queryset.exclude(
        state__in=[OutboxMessage.State.SENT, OutboxMessage.State.SENDING]
    ):
        outbox.state = OutboxMessage.State.QUEUED
        outbox.attempts = 0
        outbox.created_at = timezone.now()  # (a fresh maximum age)
        outbox.next_attempt_at = timezone.now()
        outbox.lease_until = None
        outbox.finished_at = None
        outbox.save()
        enqueue(outbox)
        count += 1
    return count


def prune(older_than: timedelta | None = None) -> int:
    """Delete sent messages finished more than ``SEND_RETENTION`` ago (7 days)."""
    from django.utils import timezone

    from anymail.models import OutboxMessage

    if older_than is None:
        older_than = timedelta(seconds=float(setting("send_retention", 7 * 24 * 3600)))
    deleted, _ = OutboxMessage.objects.filter(
        state=OutboxMessage.State.SENT, finished_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
