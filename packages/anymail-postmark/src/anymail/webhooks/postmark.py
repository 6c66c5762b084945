"""Postmark's tracking and inbound webhooks, as Anymail webhook views.

Postmark posts one JSON object per event (tracking) or per received message
(inbound). It doesn't sign its webhooks: Anymail's WEBHOOK_SECRET basic auth, in
the URL you give Postmark, is what authenticates them.

Tracking payloads name their kind in ``RecordType`` (Delivery, Bounce,
SpamComplaint, Open, Click, SubscriptionChange); a bounce's ``Type`` says what
kind of bounce it is (https://postmarkapp.com/developer/api/bounce-api#bounce-types).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from anymail.esps.postmark import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.features import EventType, RejectReason
from anymail.inbound import AnymailInboundMessage
from anymail.utils import EmailAddress
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)

__all__ = [
    "BOUNCE_TYPES",
    "PostmarkInboundWebhookView",
    "PostmarkTrackingWebhookView",
    "inbound_events",
    "tracking_events",
]


class PostmarkWebhookView(AnymailBaseWebhookView):
    """Reading a Postmark post: a JSON object, authenticated by basic auth only."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ValueError(f"unexpected content type {request.content_type!r}")
        payload = super().read_payload(request)
        if not isinstance(payload, dict):
            raise ValueError("Postmark posts a JSON object")
        return payload


# ---------------------------------------------------------------------------
# Tracking

#: Postmark RecordTypes that map to one event type.
EVENT_TYPE_MAP = {
    "Delivery": EventType.DELIVERED,
    "SpamComplaint": EventType.COMPLAINED,
    "Open": EventType.OPENED,
    "Click": EventType.CLICKED,
}

#: Bounce ``Type`` → (event type, reject reason). From Postmark's table of bounce
#: types; the 6.0 docs make a soft bounce "bounced" and name a template rendering
#: error as "failed". A Type not listed here (a new one) is "unknown".
BOUNCE_TYPES: dict[str, tuple[EventType, RejectReason | None]] = {
    "HardBounce": (EventType.BOUNCED, RejectReason.BOUNCED),
    "Transient": (EventType.DEFERRED, None),  # "Message delayed": Postmark keeps trying
    "Unsubscribe": (EventType.UNSUBSCRIBED, None),
    "Subscribe": (EventType.SUBSCRIBED, None),
    "AutoResponder": (EventType.AUTORESPONDED, None),
    "AddressChange": (EventType.AUTORESPONDED, None),
    "DnsError": (EventType.DEFERRED, None),  # a temporary DNS error
    "SpamNotification": (EventType.BOUNCED, RejectReason.SPAM),
    "OpenRelayTest": (EventType.UNKNOWN, None),  # a probe, not about the message
    "Unknown": (EventType.BOUNCED, RejectReason.OTHER),
    "SoftBounce": (EventType.BOUNCED, RejectReason.BOUNCED),
    "VirusNotification": (EventType.BOUNCED, RejectReason.OTHER),
    "ChallengeVerification": (EventType.AUTORESPONDED, None),  # "prove you're human"
    "BadEmailAddress": (EventType.REJECTED, RejectReason.INVALID),
    "SpamComplaint": (EventType.COMPLAINED, None),
    "ManuallyDeactivated": (EventType.REJECTED, RejectReason.BLOCKED),
    "Unconfirmed": (EventType.REJECTED, RejectReason.OTHER),
    "Blocked": (EventType.BOUNCED, RejectReason.BLOCKED),  # the receiving ISP's block
    "SMTPApiError": (EventType.REJECTED, RejectReason.OTHER),
    "InboundError": (EventType.UNKNOWN, None),  # about inbound processing, not a send
    "DMARCPolicy": (EventType.BOUNCED, RejectReason.BLOCKED),
    "TemplateRenderingFailed": (EventType.FAILED, None),
}

#: Each RecordType's timestamp field.
TIMESTAMP_FIELDS = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def _text(value: Any) -> str | None:
    """A string field, or None for a missing or empty one."""
    return str(value) if value not in (None, "") else None


def _timestamp(value: Any) -> datetime | None:
    """Postmark's ISO 8601 times ("2025-04-05T16:33:54.9070259Z", 7 fractional
    digits, or a local offset), as aware datetimes."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"invalid Postmark timestamp {value!r}")
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"invalid Postmark timestamp {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"Postmark {name} is not an object")
    return value


# --- tracking: payload in, events out


def tracking_events(payload: dict[str, Any]) -> list[AnymailTrackingEvent]:
    """The normalized event of one Postmark tracking webhook post."""
    record_type = payload.get("RecordType")
    if not isinstance(record_type, str):
        raise ValueError("Postmark tracking payload has no RecordType")
    reject_reason = None
    description = None
    if record_type in ("Bounce", "SpamComplaint"):
        # Postmark's own SpamComplaint example carries TypeCode 512 (which its bounce
        # table gives to SpamNotification): go by RecordType, then Type, never TypeCode.
        if record_type == "SpamComplaint":
            event_type: EventType = EventType.COMPLAINED
        else:
            event_type, reject_reason = BOUNCE_TYPES.get(
                str(payload.get("Type")), (EventType.UNKNOWN, None)
            )
        recipient = payload.get("Email")
        description = _text(payload.get("Description"))
    elif record_type == "SubscriptionChange":
        # SuppressSending: true when Postmark stops sending to the recipient (on
        # the message stream), false when it starts again.
        suppress = payload.get("SuppressSending")
        event_type = (
            EventType.UNSUBSCRIBED
            if suppress is True
            else EventType.SUBSCRIBED
            if suppress is False
            else EventType.UNKNOWN
        )
        recipient = payload.get("Recipient")
        # HardBounce, SpamComplaint or ManualSuppression (an unsubscribe, or your own)
        description = _text(payload.get("SuppressionReason"))
    else:
        event_type = EVENT_TYPE_MAP.get(record_type, EventType.UNKNOWN)
        recipient = payload.get("Recipient")
    timestamp_field = TIMESTAMP_FIELDS.get(record_type)
    bounce_id = payload.get("ID") if record_type in ("Bounce", "SpamComplaint") else None
    tag = payload.get("Tag")
    return [
        AnymailTrackingEvent(
            event_type=event_type,
            timestamp=_timestamp(payload.get(timestamp_field)) if timestamp_field else None,
            # Only bounces and spam complaints have an id of their own.
            event_id=str(bounce_id) if bounce_id not in (None, "") else None,
            esp_event=payload,
            message_id=_text(payload.get("MessageID")),
            recipient=_text(recipient),
            reject_reason=reject_reason,
            description=description,
            # Delivery: the receiving server's response; bounces: the bounce details.
            mta_response=_text(payload.get("Details")),
            metadata=dict(_dict(payload.get("Metadata"), "Metadata")),
            tags=[str(tag)] if tag else [],
            click_url=_text(payload.get("OriginalLink")) if record_type == "Click" else None,
            user_agent=_text(payload.get("UserAgent")),
        )
    ]


# --- inbound: payload in, events out

# The sender's MAIL FROM, from the Received-SPF header Postmark's inbound servers add.
_ENVELOPE_FROM = re.compile(r"\benvelope-from=\"?(?P<address>[^\s;\"]+)")


def inbound_events(payload: dict[str, Any]) -> list[AnymailInboundEvent]:
    """The inbound event of one Postmark inbound webhook post."""
    if not payload.get("MessageID") or not (payload.get("FromFull") or payload.get("From")):
        raise ValueError("not a Postmark inbound message (no MessageID or From)")
    message = message_from_payload(payload)
    return [
        AnymailInboundEvent(
            timestamp=None,  # Postmark gives only the sender's Date header
            event_id=_text(payload.get("MessageID")),
            esp_event=payload,
            message=message,
        )
    ]


def message_from_payload(payload: dict[str, Any]) -> AnymailInboundMessage:
    """Rebuild the message from Postmark's parsed JSON (Postmark doesn't post the raw
    MIME): its headers list, the address fields, the bodies and the attachments."""
    headers = [
        (str(header["Name"]), str(header["Value"]))
        for header in _list(payload.get("Headers"), "Headers")
    ]
    present = {name.lower() for name, _ in headers}
    for name, value in (("Date", payload.get("Date")), ("Reply-To", payload.get("ReplyTo"))):
        if value and name.lower() not in present:
            headers.append((name, str(value)))
    message = AnymailInboundMessage.construct(
        headers=headers,
        from_email=_address(_dict(payload.get("FromFull"), "FromFull"))
        or _text(payload.get("From")),
        to=_addresses(payload, "To"),
        cc=_addresses(payload, "Cc"),
        subject=_text(payload.get("Subject")),
        text=_text(payload.get("TextBody")),
        html=_text(payload.get("HtmlBody")),
        attachments=[
            _attachment(attachment)
            for attachment in _list(payload.get("Attachments"), "Attachments")
        ],
    )
    message.envelope_recipient = _text(payload.get("OriginalRecipient"))
    spf = message.get("Received-SPF")
    if spf is not None:
        match = _ENVELOPE_FROM.search(str(spf))
        message.envelope_sender = match["address"] if match else None
    stripped = payload.get("StrippedTextReply")
    message.stripped_text = str(stripped) if stripped is not None else None
    # SpamAssassin's results, as headers (when the inbound server checks for spam).
    spam_status = message.get("X-Spam-Status")
    if spam_status is not None:
        message.spam_detected = str(spam_status).strip().lower().startswith("yes")
    spam_score = message.get("X-Spam-Score")
    if spam_score is not None:
        with contextlib.suppress(ValueError):
            message.spam_score = float(str(spam_score))
    return message


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"Postmark {name} is not a list")
    return value


def _address(full: dict[str, Any]) -> str | None:
    """An address ("Name <addr>") from one of Postmark's {"Email", "Name"} objects."""
    email = full.get("Email")
    if not email:
        return None
    return EmailAddress(str(full.get("Name") or ""), str(email)).address


def _addresses(payload: dict[str, Any], field: str) -> str | None:
    """A To or Cc header value, from the parsed ``<field>Full`` list (display names
    kept, properly quoted), else Postmark's own string."""
    full = _list(payload.get(f"{field}Full"), f"{field}Full")
    addresses = [address for address in (_address(_dict(item, field)) for item in full) if address]
    if addresses:
        return ", ".join(addresses)
    return _text(payload.get(field))


def _attachment(attachment: Any) -> AnymailInboundMessage:
    attachment = _dict(attachment, "attachment")
    try:
        content = base64.b64decode(str(attachment.get("Content") or ""), validate=True)
    except binascii.Error as err:
        raise ValueError(f"Postmark attachment content is not base64: {err}") from err
    return AnymailInboundMessage.construct_attachment(
        content_type=str(attachment.get("ContentType") or "application/octet-stream"),
        content=content,
        filename=_text(attachment.get("Name")),
        # Set for a part the message refers to (an inline image); "" otherwise.
        content_id=_text(attachment.get("ContentID")),
    )


# ---------------------------------------------------------------------------
# Views


class PostmarkTrackingWebhookView(PostmarkWebhookView, AnymailTrackingWebhookView):
    """Postmark's outbound webhooks: delivery, bounce, spam complaint, open, click and
    subscription change."""

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        record_type = payload.get("RecordType")
        if record_type == "Inbound" or (
            record_type is None and ("FromFull" in payload or "TextBody" in payload)
        ):
            return (
                "This is a Postmark inbound message, posted to Anymail's Postmark tracking "
                "webhook URL. Give the inbound server's webhook (InboundHookUrl) "
                "/anymail/postmark/inbound/ instead."
            )
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailTrackingEvent]:
        return tracking_events(payload)


class PostmarkInboundWebhookView(PostmarkWebhookView, AnymailInboundWebhookView):
    """Postmark's inbound webhook: one received message per post."""

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if "RecordType" in payload and payload.get("RecordType") != "Inbound":
            return (
                "This is a Postmark tracking webhook event, posted to Anymail's Postmark "
                "inbound URL. Give Postmark's webhooks /anymail/postmark/tracking/ instead."
            )
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailInboundEvent]:
        return inbound_events(payload)
