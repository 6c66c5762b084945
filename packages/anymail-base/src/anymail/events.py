"""Normalized webhook events and their vocabulary (event types, reject reasons); the
event classes are also importable from ``anymail.signals``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from anymail.inbound import AnymailInboundMessage

__all__ = [
    "EVENT_TYPES",
    "REJECT_REASONS",
    "AnymailEvent",
    "AnymailEventFieldError",
    "AnymailInboundEvent",
    "AnymailTrackingEvent",
    "EventType",
    "RejectReason",
    "event_digest",
]


class EventType(StrEnum):
    """Normalized tracking and inbound event types."""

    QUEUED = "queued"
    SENT = "sent"
    REJECTED = "rejected"
    FAILED = "failed"
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    AUTORESPONDED = "autoresponded"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIBED = "subscribed"
    INBOUND = "inbound"
    INBOUND_FAILED = "inbound_failed"
    UNKNOWN = "unknown"


class RejectReason(StrEnum):
    """Normalized reasons for 'bounced' and 'rejected' events."""

    INVALID = "invalid"
    BOUNCED = "bounced"
    TIMED_OUT = "timed_out"
    BLOCKED = "blocked"
    SPAM = "spam"
    UNSUBSCRIBED = "unsubscribed"
    OTHER = "other"


EVENT_TYPES: Final = frozenset(EventType)
REJECT_REASONS: Final = frozenset(RejectReason)


class AnymailEventFieldError(TypeError, ValueError):
    """An event field of the wrong type: the ESP's payload carried a value that isn't
    what the field documents. A ValueError (a malformed payload: the webhook answers
    400) and, as before, a TypeError."""


def _optional_str(name: str, value: Any) -> str | None:
    """A documented ``str | None`` field: anything else (a payload field of the wrong
    JSON type) is refused, so a webhook answers 400 instead of signalling it."""
    if value is None or isinstance(value, str):
        return value
    raise AnymailEventFieldError(f"Event {name} must be a str or None, not {type(value).__name__}")


#: the values, for a membership test per event that doesn't walk the enum
_EVENT_TYPES: Final = frozenset(member.value for member in EventType)
_REJECT_REASONS: Final = frozenset(member.value for member in RejectReason)

#: The prefix of an ``event_id`` Anymail derived from the raw event (the ESP gave none).
DIGEST_PREFIX = "sha256:"


def _canonical(raw: Any) -> Any:
    """``raw`` as plain JSON-able data: mappings (a QueryDict's lists of values
    included) with sorted keys, sequences as lists, bytes as latin-1 text."""
    if isinstance(raw, Mapping):
        getlist = getattr(raw, "getlist", None)
        return {
            str(key): _canonical(getlist(key) if getlist is not None else raw[key])
            for key in sorted(raw, key=str)
        }
    if isinstance(raw, (list, tuple)):
        return [_canonical(item) for item in raw]
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw).decode("latin-1")
    if raw is None or isinstance(raw, (str, int, float, bool)):
        return raw
    as_bytes = getattr(raw, "as_bytes", None)  # an email.message.Message
    if callable(as_bytes):
        return as_bytes().decode("latin-1")
    raise TypeError(f"can't digest a {type(raw).__name__}")


def event_digest(raw: Any) -> str:
    """A stable ``event_id`` for an event whose ESP gives it none: ``"sha256:"`` and
    the first 32 hex digits of the SHA-256 of the raw event (the ESP's own data for
    that one event, as JSON with sorted keys and no spaces, UTF-8).

    The ESP redelivers the same raw event, so every redelivery gets the same id, and
    two different events (a different recipient, time, or type) get different ones.
    Raises TypeError for data that has no canonical form.
    """
    text = json.dumps(_canonical(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return DIGEST_PREFIX + digest[:32]


class AnymailEvent:
    """Base of the normalized events: ``event_type``, ``timestamp``, ``event_id``, ``esp_event``."""

    #: the attributes that make up the event (for repr, comparison and as_dict)
    fields: tuple[str, ...] = ("event_type", "timestamp", "event_id")

    def __init__(
        self,
        event_type: str,
        timestamp: datetime | None = None,
        event_id: str | None = None,
        esp_event: Any = None,
    ) -> None:
        if not isinstance(event_type, str) or event_type not in _EVENT_TYPES:
            raise ValueError(
                f"Unknown event_type {event_type!r}; expected one of {[e.value for e in EventType]}"
            )
        if timestamp is not None and not isinstance(timestamp, datetime):
            raise AnymailEventFieldError(
                f"Event timestamp must be a datetime, not {type(timestamp).__name__}"
            )
        if timestamp is not None and (timestamp.tzinfo is None or timestamp.utcoffset() is None):
            raise ValueError(f"Event timestamps must be aware datetimes, not {timestamp!r}")
        self.event_type = str(event_type)
        self.timestamp = timestamp
        self.event_id = _optional_str("event_id", event_id)
        self.esp_event = esp_event

    def as_dict(self) -> dict[str, Any]:
        """The normalized fields (not esp_event), for logging and comparison."""
        return {name: getattr(self, name) for name in self.fields}

    def __repr__(self) -> str:
        details = ", ".join(
            f"{name}={value!r}"
            for name, value in self.as_dict().items()
            if value not in (None, [], {})
        )
        return f"{type(self).__name__}({details})"


class AnymailTrackingEvent(AnymailEvent):
    """A normalized tracking event (the ``event`` of the ``tracking`` signal)."""

    fields = (
        "event_type",
        "timestamp",
        "event_id",
        "message_id",
        "recipient",
        "reject_reason",
        "description",
        "mta_response",
        "metadata",
        "tags",
        "click_url",
        "user_agent",
    )

    def __init__(
        self,
        event_type: str,
        timestamp: datetime | None = None,
        event_id: str | None = None,
        esp_event: Any = None,
        *,
        message_id: str | None = None,
        recipient: str | None = None,
        reject_reason: str | None = None,
        description: str | None = None,
        mta_response: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        click_url: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(event_type, timestamp, event_id, esp_event)
        if reject_reason is not None and (
            not isinstance(reject_reason, str) or reject_reason not in _REJECT_REASONS
        ):
            raise ValueError(
                f"Unknown reject_reason {reject_reason!r}; expected one of {[r.value for r in RejectReason]}"
            )
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(key, str) for key in metadata)
        ):
            raise AnymailEventFieldError("Event metadata must be a dict with str keys")
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)
        ):
            raise AnymailEventFieldError("Event tags must be a list of str")
        self.message_id = _optional_str("message_id", message_id)
        self.recipient = _optional_str("recipient", recipient)
        self.reject_reason = None if reject_reason is None else str(reject_reason)
        self.description = _optional_str("description", description)
        self.mta_response = _optional_str("mta_response", mta_response)
        self.metadata = metadata if metadata is not None else {}
        self.tags = tags if tags is not None else []
        self.click_url = _optional_str("click_url", click_url)
        self.user_agent = _optional_str("user_agent", user_agent)


class AnymailInboundEvent(AnymailEvent):
    """A normalized inbound event (the ``event`` of the ``inbound`` signal)."""

    fields = ("event_type", "timestamp", "event_id")

    def __init__(
        self,
        event_type: str = EventType.INBOUND,
        timestamp: datetime | None = None,
        event_id: str | None = None,
        esp_event: Any = None,
        *,
        message: AnymailInboundMessage | None = None,
    ) -> None:
        super().__init__(event_type, timestamp, event_id, esp_event)
        self.message = message
