"""Sending in the background (the backend option ``background``).

``send_messages`` validates each message exactly as a direct send would (unsupported
features, bad addresses, serialization errors raise at once, in the caller), stores
it as an :class:`~anymail.models.OutboxMessage`, enqueues
:func:`anymail.tasks.send_outbox_message` and returns: ``message.anymail_status`` says
``queued``, with the ``outbox_id`` the outbox record keeps.

The task (:func:`process`) sends it through the same configured backend (the same
``MAILERS`` alias or backend class; credentials read from settings, never stored),
with the ``pre_send`` and ``post_send`` signals around the real send. Transient
failures -- a connection that couldn't be made, HTTP 429 and 5xx, SES throttling --
are retried with exponential backoff and jitter, honouring ``Retry-After``, up to
``SEND_MAX_ATTEMPTS`` and ``SEND_MAX_AGE``. Permanent ones (4xx validation, recipients
refused) are not. A failure after the request may have reached the ESP (a read
timeout, a worker killed mid-call) is never retried: the message is marked
``review``, so one message is never sent twice.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from anymail.outbox_queue import enqueue
from anymail.settings import get_anymail_setting
from anymail.taskutils import backoff, error_text

if TYPE_CHECKING:
    from anymail.models import OutboxMessage

__all__ = ["MAYBE_SENT", "PERMANENT", "RETRY", "classify", "process", "retry_delay"]

logger = logging.getLogger("anymail.outbox")


def setting(name: str, default: Any) -> Any:
    return get_anymail_setting(name, default=default)


# --- the worker's half -----------------------------------------------------------

#: classify() verdicts
RETRY, PERMANENT, MAYBE_SENT = "retry", "permanent", "maybe sent"

_THROTTLING = {
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "RequestTimeout",
}  # fmt: skip


def classify(err: BaseException) -> tuple[str, float | None]:
    """(verdict, Retry-After seconds or None) for a send's exception."""
    import requests

    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

    if isinstance(err, AnymailRecipientsRefused):
        return PERMANENT, None
    status = getattr(err, "status_code", None)
    if isinstance(err, AnymailAPIError) and status is not None:
        if status == 429 or status >= 500:
            return RETRY, _retry_after(getattr(err, "response", None))
        return PERMANENT, None
    causes = []
    cause: BaseException | None = err
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = getattr(cause, "orig_err", None) or cause.__cause__ or cause.__context__
    for cause in causes:
        if isinstance(cause, requests.ConnectTimeout):
            return RETRY, None  # never connected: nothing was sent
        if isinstance(cause, requests.ConnectionError):
            text = str(cause)
            if "NewConnectionError" in text or "Failed to establish a new connection" in text:
                return RETRY, None
            return MAYBE_SENT, None  # the connection broke after the request went out
        if isinstance(cause, requests.Timeout):
            return MAYBE_SENT, None  # a read timeout: the ESP may have it
        name = type(cause).__name__
        if name in ("EndpointConnectionError", "ConnectTimeoutError"):
            return RETRY, None
        if name in ("ReadTimeoutError", "ConnectionClosedError"):
            return MAYBE_SENT, None
        error = getattr(cause, "response", None)
        if isinstance(error, dict) and error.get("Error", {}).get("Code") in _THROTTLING:
            return RETRY, None  # botocore's ClientError: SES throttling
    return PERMANENT, None


def _retry_after(response: Any) -> float | None:
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        from django.utils import timezone

        try:
            return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
        except (TypeError, ValueError):
            return None


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter (SEND_RETRY_DELAY doubled per attempt, capped at
    SEND_RETRY_MAX_DELAY)."""
    return backoff(
        attempt,
        float(setting("send_retry_delay", 10)),
        float(setting("send_retry_max_delay", 3600)),
    )


def lease_seconds() -> float:
    return float(setting("send_task_lease", 300))


def process(outbox_id: int) -> str:
    """One attempt at sending an outbox message (the task's body); its state after."""
    from django.db.models import F, Q
    from django.utils import timezone

    from anymail.models import OutboxMessage

    now = timezone.now()
    model = OutboxMessage.objects
    taken = (
        model.filter(pk=outbox_id, state=OutboxMessage.State.QUEUED, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1)
    )
    if not taken:
        # A worker that died in the middle of the API call: the ESP may have the
        # message. Never send it twice: mark it for review.
        stalled = model.filter(
            pk=outbox_id, state=OutboxMessage.State.SENDING, lease_until__lt=now
        ).update(
            state=OutboxMessage.State.REVIEW,
            lease_until=None,
            finished_at=now,
            last_error="The worker stopped during the API call: the ESP may have the message.",
        )
        return "review" if stalled else "skipped"
    outbox = model.get(pk=outbox_id)
    enqueue(outbox, delay=lease_seconds() + 1, watchdog=True)
    return _attempt(outbox)


#: The worker process's open backends, by (class, mailer, options): consecutive sends
#: through the same backend reuse its connection, as one send_messages call would.
_backends: dict[tuple[str, str, str], Any] = {}


def _forget_backends(**kwargs: Any) -> None:
    """Close the cached backends (settings changed: credentials may have)."""
    while _backends:
        _, backend = _backends.popitem()
        with contextlib.suppress(Exception):  # (closing an idle connection)
            backend.close()


def _backend(outbox: OutboxMessage) -> Any:
    import json

    from django.core.signals import setting_changed
    from django.utils.module_loading import import_string

    key = (outbox.backend, outbox.mailer, json.dumps(outbox.options, sort_keys=True))
    backend = _backends.get(key)
    if backend is not None:
        return backend
    if outbox.mailer:
        from django.core import mail

        backend = mail.mailers[outbox.mailer]  # type: ignore[attr-defined]
    else:
        backend = import_string(outbox.backend)(**outbox.options)
    backend.background = False  # (this is the real send)
    backend.fail_silently = False
    backend.open()  # kept open for the process's next sends
    setting_changed.connect(_forget_backends, dispatch_uid="anymail-outbox-backends")
    _backends[key] = backend
    return backend


def _attempt(outbox: OutboxMessage) -> str:
    from django.utils import timezone

    from anymail.models import OutboxMessage

    state = OutboxMessage.State
    max_age = timedelta(seconds=float(setting("send_max_age", 24 * 3600)))
    try:
        message = pickle.loads(bytes(outbox.message))  # noqa: S301 (our own table)
        backend = _backend(outbox)
    except Exception as err:
        return _finish(outbox, state.FAILED, err, "the message or its backend can't be loaded")
    OutboxMessage.objects.filter(pk=outbox.pk).update(state=state.SENDING)
    try:
        sent = backend.send_messages([message])
    except Exception as err:
        _forget_backends()  # (a fresh connection for the next attempt)
        verdict, retry_after = classify(err)
        if verdict == MAYBE_SENT:
            return _finish(outbox, state.REVIEW, err, "the ESP may have the message")
        expired = timezone.now() - outbox.created_at > max_age
        if (
            verdict == RETRY
            and outbox.attempts < int(setting("send_max_attempts", 5))
            and not expired
        ):
            delay = max(retry_delay(outbox.attempts), retry_after or 0.0)
            return _schedule(outbox, err, delay)
        return _finish(outbox, state.FAILED, err, "sending failed")
    status = getattr(message, "anymail_status", None)
    if not sent:
        return _finish(outbox, state.CANCELLED, None, "a pre_send receiver cancelled it")
    outbox.esp_message_id = _message_id(status)
    outbox.recipient_status = (
        {email: recipient.status for email, recipient in (status.recipients or {}).items()}
        if status is not None
        else {}
    )
    return _finish(outbox, state.SENT)


def _message_id(status: Any) -> str:
    message_id = getattr(status, "message_id", None)
    if message_id is None:
        return ""
    if isinstance(message_id, (set, frozenset, list)):
        return ",".join(sorted(str(i) for i in message_id))[:255]
    return str(message_id)[:255]


def _finish(
    outbox: OutboxMessage, state: str, err: BaseException | None = None, reason: str = ""
) -> str:
    from django.utils import timezone

    outbox.state = state
    outbox.lease_until = None
    outbox.finished_at = timezone.now()
    if err is not None or state not in ("sent",):
        outbox.last_error = error_text(err, reason) if (err or reason) else ""
    if state in ("failed", "review"):
        logger.error(
            "Anymail outbox message %s (%s): %s", outbox.anymail_id, state, outbox.last_error
        )
    outbox.save(
        update_fields=[
            "state", "lease_until", "finished_at", "last_error", "esp_message_id",
            "recipient_status",
        ]
    )  # fmt: skip
    return state


def _schedule(outbox: OutboxMessage, err: BaseException | None, delay: float) -> str:
    from django.utils import timezone

    from anymail.models import OutboxMessage

    outbox.last_error = error_text(
        err, f"attempt {outbox.attempts} failed; retrying in {delay:.0f} s"
    )
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        state=OutboxMessage.State.QUEUED,
        lease_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        last_error=outbox.last_error,
    )
    logger.warning("Anymail outbox message %s: %s", outbox.anymail_id, outbox.last_error)
    try:
        enqueue(outbox, delay=delay)
    except Exception:
        logger.exception("Anymail couldn't enqueue the retry of outbox message %s", outbox.pk)
    return "queued"
