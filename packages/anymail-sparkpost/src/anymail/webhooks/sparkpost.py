"""SparkPost's event webhooks (tracking) and relay webhooks (inbound), as Anymail
webhook views.

SparkPost posts a JSON array, a batch, whose items each wrap one event:
``{"msys": {"<event class>": {...}}}`` (``message_event``, ``track_event``,
``gen_event``, ``unsubscribe_event``, ``relay_event``, ...; a relay webhook's items
are ``relay_message``). Anymail sends one signal per event, with the wrapped item as
``esp_event``. When a webhook is created or validated, SparkPost posts the test batch
``[{"msys": {}}]``, which must get a 200: it gives no events.

SparkPost doesn't sign its posts: Anymail checks the basic auth credentials
(WEBHOOK_SECRET) that you put in the webhook's settings (event webhooks) or target
URL (relay webhooks).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from django.http import HttpRequest

from anymail.esps.sparkpost import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent, EventType, RejectReason
from anymail.inbound import AnymailInboundMessage
from anymail.webhooks import readers
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)

__all__ = [
    "BOUNCE_CLASS_EVENT_TYPES",
    "EVENT_TYPE_MAP",
    "REJECT_REASON_MAP",
    "SparkPostInboundWebhookView",
    "SparkPostTrackingWebhookView",
    "batch_items",
    "inbound_events",
    "tracking_events",
]

#: The event class of a relay webhook's (inbound) items.
RELAY_MESSAGE = "relay_message"

#: SparkPost event ``type`` → normalized event type.
#: https://developers.sparkpost.com/api/webhooks/ ("Event Types"); bounce and
#: out_of_band events may become another type by their bounce_class (below).
EVENT_TYPE_MAP = {
    "injection": EventType.QUEUED,
    "delivery": EventType.DELIVERED,
    "bounce": EventType.BOUNCED,
    "out_of_band": EventType.BOUNCED,
    "delay": EventType.DEFERRED,
    "policy_rejection": EventType.REJECTED,
    "generation_rejection": EventType.REJECTED,
    # "failed": an error rendering an ESP template (Anymail docs 1.3.4)
    "generation_failure": EventType.FAILED,
    "spam_complaint": EventType.COMPLAINED,
    "open": EventType.OPENED,
    "initial_open": EventType.OPENED,
    "amp_open": EventType.OPENED,
    "amp_initial_open": EventType.OPENED,
    "click": EventType.CLICKED,
    "amp_click": EventType.CLICKED,
    "list_unsubscribe": EventType.UNSUBSCRIBED,
    "link_unsubscribe": EventType.UNSUBSCRIBED,
    # sms_status, relay_* events, A/B test and ingest events: "unknown"
}

#: SparkPost's Bounce Classification Codes that aren't a bounce to Anymail
#: (https://support.sparkpost.com/docs/deliverability/bounce-classification-codes).
BOUNCE_CLASS_EVENT_TYPES = {
    "25": EventType.REJECTED,  # Admin Failure: SparkPost's configured policies
    "26": EventType.REJECTED,  # Smart Send Suppression
    "60": EventType.AUTORESPONDED,  # Auto-Reply
    "70": EventType.DEFERRED,  # Transient Failure: temporarily delayed
    "80": EventType.SUBSCRIBED,  # Subscribe: the message is a subscribe request
    "90": EventType.UNSUBSCRIBED,  # Unsubscribe: the message is an unsubscribe request
    "100": EventType.AUTORESPONDED,  # Challenge-Response probe
}

#: bounce_class → reject reason, for the bounce and out_of_band events of these
#: classes: those that are bounced or rejected to Anymail, and the challenge-response
#: probe (autoresponded, but the message wasn't delivered: it waits for the sender to
#: answer the challenge). The reason follows the class's category on SparkPost's page:
#: Hard → invalid, Soft → bounced (Timeout → timed_out), Block → blocked or spam,
#: Admin → blocked, Undetermined → other. An auto-reply (60) was delivered, and the
#: deferred, subscribe and unsubscribe classes aren't rejections: no reason.
REJECT_REASON_MAP = {
    "1": RejectReason.OTHER,  # Undetermined
    "10": RejectReason.INVALID,  # Invalid Recipient
    "20": RejectReason.BOUNCED,  # Soft Bounce
    "21": RejectReason.BOUNCED,  # DNS Failure
    "22": RejectReason.BOUNCED,  # Mailbox Full
    "23": RejectReason.BOUNCED,  # Too Large
    "24": RejectReason.TIMED_OUT,  # Timeout
    "25": RejectReason.BLOCKED,  # Admin Failure
    "26": RejectReason.BLOCKED,  # Smart Send Suppression
    "30": RejectReason.INVALID,  # Generic Bounce: No RCPT
    "40": RejectReason.BOUNCED,  # Generic Bounce
    "50": RejectReason.BLOCKED,  # Mail Block
    "51": RejectReason.SPAM,  # Spam Block
    "52": RejectReason.SPAM,  # Spam Content
    "53": RejectReason.BLOCKED,  # Prohibited Attachment
    "54": RejectReason.BLOCKED,  # Relaying Denied
    "100": RejectReason.BOUNCED,  # Challenge-Response (category Soft)
}


# ---------------------------------------------------------------------------
# The batch


def batch_items(payload: Any) -> list[dict[str, Any]]:
    """The batch's items, each ``{"msys": {...}}``; MalformedPayload (a ValueError)
    if it isn't a batch."""
    if not isinstance(payload, list) or not payload:
        raise readers.MalformedPayload("SparkPost posts a non-empty JSON array of events")
    for item in payload:
        if not isinstance(item, dict) or not isinstance(item.get("msys"), dict):
            raise readers.MalformedPayload('each item of a SparkPost batch is {"msys": {...}}')
    return payload


def event_classes(payload: list[dict[str, Any]]) -> set[str]:
    """The event classes in a batch (empty for the test batch)."""
    return {event_class for item in payload for event_class in item["msys"]}


def sparkpost_timestamp(value: Any) -> datetime | None:
    """SparkPost's timestamp, which comes in either form: Unix seconds (a number or a
    numeric string) or ISO 8601 ("2016-04-18T14:25:07.000+00:00"); None if it is
    missing or is neither (an event's time is not worth refusing its batch for)."""
    seconds = readers.lenient(readers.epoch_timestamp, value, "timestamp")
    return seconds or readers.lenient(readers.iso_timestamp, value, "timestamp")


# ---------------------------------------------------------------------------
# Tracking: payload in, events out


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The normalized events of an event webhook batch, one per event, in order."""
    events = []
    for item in batch_items(payload):
        for event_class, data in item["msys"].items():
            data = readers.mapping(data, f"SparkPost {event_class}", allow_none=False)
            events.append(msys_event(item, event_class, data))
    return events


def msys_event(item: dict[str, Any], event_class: str, data: Any) -> AnymailTrackingEvent:
    """One SparkPost event (the ``data`` of any event class); ``item`` is its wrapped
    form ({"msys": {class: data}}), the esp_event."""

    def field(key: str) -> str | None:
        # SparkPost's fields are strings; an id may come as a JSON number.
        return readers.optional_text(data.get(key), f"{event_class}.{key}", numbers=True)

    event_type = EVENT_TYPE_MAP.get(field("type") or "", EventType.UNKNOWN)
    bounce_class = field("bounce_class") or ""
    reject_reason = None
    if event_type == EventType.BOUNCED:  # a bounce or out_of_band event
        event_type = BOUNCE_CLASS_EVENT_TYPES.get(bounce_class, EventType.BOUNCED)
        reject_reason = REJECT_REASON_MAP.get(bounce_class)
        if event_type == EventType.BOUNCED and reject_reason is None:
            reject_reason = RejectReason.OTHER  # Undetermined, or a class new to Anymail
    elif event_type == EventType.REJECTED:
        # policy and generation rejections: SparkPost's policy refused the recipient
        reject_reason = REJECT_REASON_MAP.get(bounce_class, RejectReason.BLOCKED)
    metadata = data.get("rcpt_meta")
    campaign_id = field("campaign_id")
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=sparkpost_timestamp(data.get("timestamp")),
        event_id=field("event_id"),
        esp_event=item,
        # Anymail's message_id is SparkPost's transmission_id (not its message_id).
        message_id=field("transmission_id"),
        # raw_rcpt_to is the address as it was sent (SparkPost lowercases rcpt_to);
        # some events (opens and clicks, say) may carry only one of the two.
        recipient=field("raw_rcpt_to") or field("rcpt_to"),
        reject_reason=reject_reason,
        description=field("reason"),
        mta_response=field("raw_reason"),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        # Anymail sends a message's (single) tag as its campaign_id. (rcpt_tags are
        # a stored recipient list's tags, not the message's.)
        tags=[campaign_id] if campaign_id else [],
        click_url=field("target_link_url"),
        user_agent=field("user_agent"),
    )


# ---------------------------------------------------------------------------
# Inbound: payload in, events out


def inbound_events(payload: Any) -> list[AnymailInboundEvent]:
    """The inbound events of a relay webhook batch: one per relay_message."""
    events = []
    for item in batch_items(payload):
        data = item["msys"].get(RELAY_MESSAGE)
        if data is None:
            continue  # the test batch: nothing relayed
        events.append(relay_message_event(item, readers.mapping(data, RELAY_MESSAGE)))
    return events


def relay_message_event(item: dict[str, Any], data: Any) -> AnymailInboundEvent:
    """One relayed message, parsed from its raw MIME (``content.email_rfc822``, which
    SparkPost base64-encodes whole when it holds anything that isn't UTF-8). The
    other ``content`` fields are conveniences, not the message."""
    content = readers.mapping(data.get("content"), "relay_message.content", allow_none=False)
    raw = readers.text(
        readers.required(content, "email_rfc822", "relay_message.content"),
        "relay_message.content.email_rfc822",
    )
    if content.get("email_rfc822_is_base64"):
        message = AnymailInboundMessage.parse_raw_mime_bytes(base64.b64decode(raw))
    else:
        message = AnymailInboundMessage.parse_raw_mime(raw)
    message.envelope_sender = readers.optional_text(data.get("msg_from"), "relay_message.msg_from")
    message.envelope_recipient = readers.optional_text(data.get("rcpt_to"), "relay_message.rcpt_to")
    # A relay message has no event id or timestamp of its own.
    return AnymailInboundEvent(esp_event=item, message=message)


# ---------------------------------------------------------------------------
# Views


class SparkPostWebhookView(AnymailBaseWebhookView):
    """Reading a SparkPost post: a JSON batch, authenticated by basic auth."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> list[dict[str, Any]]:
        return batch_items(super().read_payload(request))


class SparkPostTrackingWebhookView(SparkPostWebhookView, AnymailTrackingWebhookView):
    """SparkPost event webhooks (Webhooks in SparkPost's settings)."""

    converter = staticmethod(tracking_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if RELAY_MESSAGE in event_classes(payload):
            return self.wrong_url("inbound", "your relay webhook")
        return None


class SparkPostInboundWebhookView(SparkPostWebhookView, AnymailInboundWebhookView):
    """SparkPost relay webhooks (inbound email)."""

    converter = staticmethod(inbound_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if event_classes(payload) - {RELAY_MESSAGE}:
            return self.wrong_url("tracking", "your event webhook")
        return None
