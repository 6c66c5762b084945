"""Operations on background webhook deliveries (``manage.py anymail_webhooks``, the admin):\nre-enqueue stalled ones, retry failed ones, prune delivered ones."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from anymail.webhooks.background import enqueue, setting

if TYPE_CHECKING:
    pass


# --- operations ---------------------------------------------------------------


logger = logging.getLogger("anymail.webhooks")


def recover(limit: int = 100) -> int:
    """Enqueue again the deliveries nobody is running: an attempt whose worker died
    (its lease expired), or one due for a while with no task (its enqueue failed).
    Returns how many. Cheap: one indexed query when there's nothing to do."""
    from django.db.models import Q
    from django.utils import timezone

    from anymail.models import WebhookDelivery

    now = timezone.now()
    grace = timedelta(seconds=float(setting("webhook_recover_after", 60)))
    stale = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, next_attempt_at__lt=now - grace)
    )
    count = 0
    for delivery in stale.order_by("next_attempt_at")[:limit]:
        # Claim the re-enqueue, so concurrent recoveries enqueue it once.
        pushed = (
            WebhookDelivery.objects.filter(pk=delivery.pk, state=WebhookDelivery.State.PENDING)
            .filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True))
            .update(lease_until=None, next_attempt_at=now)
        )
        if pushed:
            try:
                enqueue(delivery)
                count += 1
            except Exception:
                logger.exception("Anymail couldn't re-enqueue delivery %s", delivery.pk)
    if count:
        logger.warning("Anymail re-enqueued %s stalled webhook deliveries", count)
    return count


def retry(deliveries: Any) -> int:
    """Make failed (or pending) deliveries due now, with a fresh set of attempts, and
    enqueue them. Returns how many."""
    from django.utils import timezone

    from anymail.models import WebhookDelivery

    count = 0
    for delivery in deliveries.exclude(state=WebhookDelivery.State.DELIVERED):
        delivery.state = WebhookDelivery.State.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.lease_until = None
        delivery.finished_at = None
        delivery.save(
            update_fields=["state", "attempts", "next_attempt_at", "lease_until", "finished_at"]
        )
        enqueue(delivery)
        count += 1
    return count


def prune(older_than: timedelta | None = None) -> int:
    """Delete delivered deliveries finished more than the retention period ago
    (``WEBHOOK_RETENTION``, seconds; default 7 days). Returns how many."""
    from django.utils import timezone

    from anymail.models import WebhookDelivery

    if older_than is None:
        older_than = timedelta(seconds=float(setting("webhook_retention", 7 * 24 * 3600)))
    cutoff = timezone.now() - older_than
    deleted, _ = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.DELIVERED, finished_at__lt=cutoff
    ).delete()
    return deleted
