"""The caller's half of background sending: ``send_messages`` validates each message as\na direct send would, stores it as an :class:`~anymail.models.OutboxMessage` (without\nsecrets) and enqueues its task."""

from __future__ import annotations

import pickle
import uuid
from typing import TYPE_CHECKING, Any

from anymail.taskutils import enqueue as enqueue_task

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

    from anymail.backends.base import AnymailBaseBackend
    from anymail.models import OutboxMessage


# --- the caller's half ----------------------------------------------------------


#: option names never stored (read from settings in the worker instead)
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "auth", "params")


def storable_options(options: dict[str, Any]) -> dict[str, Any]:
    """The backend options that may be stored: not secret, JSON-able."""
    import json

    kept = {}
    for name, value in options.items():
        if name == "background" or any(word in name.lower() for word in _SECRET_WORDS):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[name] = value
    return kept


def enqueue_messages(backend: AnymailBaseBackend, messages: Any) -> int:
    """Validate, store and enqueue each message; returns how many were queued."""
    from anymail.message import AnymailRecipientStatus, AnymailStatus

    queued = 0
    for message in messages:
        message.anymail_status = AnymailStatus()
        if not message.recipients():
            continue
        try:
            validate(backend, message)
            outbox = store(backend, message)
            enqueue(outbox)
        except Exception:
            if backend.fail_silently:
                continue
            raise
        status = message.anymail_status
        status.outbox_id = str(outbox.anymail_id)
        status.set_recipient_status(
            {email: AnymailRecipientStatus(None, "queued") for email in outbox.recipients}
        )
        queued += 1
    return queued


def validate(backend: AnymailBaseBackend, message: EmailMessage) -> None:
    """Everything a direct send checks before the API call: the payload is built
    (enforcement, addresses, attributes) and serialized."""
    payload = backend.build_message_payload(message, backend.send_defaults)
    serialize = getattr(payload, "get_request_params", None)
    if callable(serialize):
        serialize(getattr(backend, "api_url", ""))


def store(backend: AnymailBaseBackend, message: EmailMessage) -> OutboxMessage:
    import copy

    from django.utils import timezone

    from anymail.addresses import parse_address_list
    from anymail.models import OutboxMessage

    stored = copy.copy(message)
    # Drop the backend the message holds (and so its credentials): Django 6.1 keeps it
    # in _connection behind a deprecated connection property; earlier, in connection.
    for attribute in ("_connection", "connection"):
        if attribute in vars(stored):
            vars(stored)[attribute] = None
    if hasattr(stored, "anymail_status"):
        del stored.anymail_status
    now = timezone.now()
    return OutboxMessage.objects.create(
        anymail_id=uuid.uuid4(),
        esp_id=backend.esp_id,
        backend=f"{type(backend).__module__}.{type(backend).__qualname__}",
        mailer=getattr(backend, "alias", None) or "",
        options=storable_options(getattr(backend, "background_options", {})),
        message=pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL),
        subject=str(message.subject or "")[:255],
        recipients=[a.addr_spec for a in parse_address_list(message.recipients())],
        created_at=now,
        next_attempt_at=now,
    )


def enqueue(outbox: OutboxMessage, delay: float = 0.0, watchdog: bool = False) -> None:
    """Enqueue the message's task (see :func:`anymail.taskutils.enqueue`)."""
    enqueue_task("send_outbox_message", outbox.pk, delay=delay, watchdog=watchdog)
