"""Webhooks processed in the background (``ANYMAIL["WEBHOOK_PROCESSING"] = "background"``).

The view does only what needs the request -- basic auth, the ESP's signature and
replay checks, a size limit -- then :func:`accept` stores the verified request in one
write (a :class:`~anymail.models.WebhookDelivery`, whose unique key is also the
duplicate claim), enqueues :func:`anymail.tasks.deliver_webhook` through Django's
Tasks framework, and the view answers 200. The ESP never waits for a receiver.

The task (:func:`process`) rebuilds the request, runs the ESP's converter and sends
the signals, each event once (:func:`~anymail.webhooks.delivery.deliver_events`). A
receiver that raises: the delivery is retried with exponential backoff and jitter, up
to ``WEBHOOK_MAX_ATTEMPTS``, then kept as failed with its error. A worker killed in
the middle of an attempt leaves a lease that expires; :func:`recover` (run after
every attempt, and by ``manage.py anymail_webhooks --recover``) enqueues it again.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailWebhookUnavailable,
    AnymailWebhookValidationFailure,
)
from anymail.settings import get_anymail_setting
from anymail.taskutils import backoff, error_text
from anymail.taskutils import enqueue as enqueue_task

if TYPE_CHECKING:
    from django.http import HttpRequest

    from anymail.models import WebhookDelivery

__all__ = ["enqueue", "lease_seconds", "max_attempts", "process", "retry_delay"]

logger = logging.getLogger("anymail.webhooks")


def setting(name: str, default: Any) -> Any:
    return get_anymail_setting(name, default=default)


def max_attempts() -> int:
    return int(setting("webhook_max_attempts", 10))


def lease_seconds() -> float:
    """How long an attempt may run before another worker may take it over."""
    return float(setting("webhook_task_lease", 300))


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter (WEBHOOK_RETRY_DELAY doubled per attempt, capped
    at WEBHOOK_RETRY_MAX_DELAY)."""
    return backoff(
        attempt,
        float(setting("webhook_retry_delay", 30)),
        float(setting("webhook_retry_max_delay", 6 * 3600)),
    )


# --- the task's half -----------------------------------------------------------


def enqueue(delivery: WebhookDelivery, delay: float = 0.0, watchdog: bool = False) -> None:
    """Enqueue the delivery's task (see :func:`anymail.taskutils.enqueue`)."""
    enqueue_task("deliver_webhook", delivery.pk, delay=delay, watchdog=watchdog)


def process(delivery_id: int) -> str:
    """One attempt at a delivery (the task's body); returns its state afterwards.
    Safe to run twice at once, or after the delivery finished: only the worker that
    takes the lease runs the attempt."""
    from django.db.models import F, Q
    from django.utils import timezone

    from anymail.models import WebhookDelivery

    now = timezone.now()
    taken = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1)
    )
    if not taken:
        return "skipped"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    watchdog(delivery)
    try:
        state = _attempt(delivery)
    finally:
        from anymail.webhooks.maintenance import recover

        recover()
    return state


def _attempt(delivery: WebhookDelivery) -> str:
    from django.utils import timezone
    from django.utils.module_loading import import_string

    from anymail.webhooks.delivery import Outcome, deliver_events

    try:
        view = import_string(delivery.view)()
        if view.configuration_error is not None:
            raise view.configuration_error
        request = rebuild_request(delivery)
        view.setup(request)
        view.pending_tokens = []
        payload = view.read_payload(request)
        events = list(view.parse_events(request, payload))
        for index, event in enumerate(events):
            if not event.event_id:
                event.event_id = view.derive_event_id(request, event, index)
    except (ValueError, AnymailWebhookValidationFailure) as err:
        # Verified when it arrived, yet the converter refuses it: retrying can't help.
        return _finish(delivery, "failed", error=err, reason="the payload can't be converted")
    except (AnymailWebhookUnavailable, AnymailConfigurationError, Exception) as err:
        return _retry_or_fail(delivery, err, "converting the events failed")
    outcome = deliver_events(view, events, finish_each=True)
    if outcome.kind in (Outcome.DELIVERED, Outcome.DUPLICATE):
        delivery.events = outcome.signalled
        return _finish(delivery, "delivered")
    if outcome.kind == Outcome.BUSY:
        delivery.last_error = outcome.reason
        return _schedule(delivery, delay=min(lease_seconds(), 30.0), count=False)
    assert outcome.error is not None or outcome.reason
    delivery.events = outcome.signalled
    return _retry_or_fail(delivery, outcome.error, outcome.reason, when=timezone.now())


def watchdog(delivery: WebhookDelivery) -> None:
    """Enqueue the same task again, deferred to just after this attempt's lease: if
    the worker dies mid-attempt, that task finds the lease expired and runs the
    delivery again; if the attempt ended, it finds nothing to do. (Only on backends
    that can defer; elsewhere :func:`recover` and the command do it.)"""
    try:
        enqueue(delivery, delay=lease_seconds() + 1, watchdog=True)
    except Exception:
        logger.exception("Anymail couldn't enqueue the watchdog of delivery %s", delivery.pk)


def rebuild_request(delivery: WebhookDelivery) -> HttpRequest:
    """The stored request as the ESP's parser reads it (a WSGIRequest, as served)."""
    from django.core.handlers.wsgi import WSGIRequest

    meta = delivery.request_meta
    body = bytes(delivery.body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": meta.get("path", "/"),
        "QUERY_STRING": meta.get("query", ""),
        "CONTENT_TYPE": meta.get("content_type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "anymail-background",
        "SERVER_PORT": "443",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        **meta.get("headers", {}),
    }
    request = WSGIRequest(environ)
    request._body = body  # type: ignore[attr-defined]  (however large: it was accepted)
    request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
    return request


def _finish(
    delivery: WebhookDelivery, state: str, error: BaseException | None = None, reason: str = ""
) -> str:
    from django.utils import timezone

    delivery.state = state
    delivery.finished_at = timezone.now()
    delivery.lease_until = None
    if state == "failed":
        delivery.last_error = error_text(error, reason)
        logger.error(
            "Anymail %s webhook delivery %s failed after %s attempt(s): %s",
            delivery.esp_id,
            delivery.pk,
            delivery.attempts,
            delivery.last_error,
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        )
    delivery.save(update_fields=["state", "finished_at", "lease_until", "last_error", "events"])
    return state


def _retry_or_fail(
    delivery: WebhookDelivery, err: BaseException | None, reason: str, when: Any = None
) -> str:
    if delivery.attempts >= max_attempts():
        return _finish(delivery, "failed", error=err, reason=reason)
    delivery.last_error = error_text(err, reason)
    logger.warning(
        "Anymail %s webhook delivery %s: attempt %s failed (%s); retrying",
        delivery.esp_id,
        delivery.pk,
        delivery.attempts,
        delivery.last_error,
        exc_info=(type(err), err, err.__traceback__) if err is not None else None,
    )
    return _schedule(delivery, delay=retry_delay(delivery.attempts))


def _schedule(delivery: WebhookDelivery, delay: float, count: bool = True) -> str:
    from django.db.models import F
    from django.utils import timezone

    from anymail.models import WebhookDelivery as Model

    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.lease_until = None
    update: dict[str, Any] = {
        "next_attempt_at": delivery.next_attempt_at,
        "lease_until": None,
        "last_error": delivery.last_error,
        "events": delivery.events,
    }
    if not count:
        update["attempts"] = F("attempts") - 1  # (waiting on another worker isn't a try)
    Model.objects.filter(pk=delivery.pk).update(**update)
    try:
        enqueue(delivery, delay=delay)
    except Exception:
        # The row is due; recover() (after any attempt, or the command) enqueues it.
        logger.exception("Anymail couldn't enqueue the retry of delivery %s", delivery.pk)
    return "pending"
