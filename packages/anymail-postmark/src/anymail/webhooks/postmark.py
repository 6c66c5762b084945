"""Postmark's tracking and inbound webhooks, as Anymail webhook views.

Postmark posts one JSON object per event (tracking) or per received message
(inbound). It doesn't sign its webhooks: Anymail's WEBHOOK_SECRET basic auth, in
the URL you give Postmark, is what authenticates them.

Tracking payloads name their kind in ``RecordType`` (Delivery, Bounce,
SpamComplaint, Open, Click, SubscriptionChange); a bounce's ``Type`` says what
kind of bounce it is (https://postmarkapp.com/developer/api/bounce-api#bounce-types).

Event ids: a bounce or spam complaint has its bounce ``ID``, an inbound message its
``MessageID``. Delivery, Open, Click and SubscriptionChange events have no id of
their own: the converters leave ``event_id`` None, and the base view gives them a
digest of the event (the same for Postmark's retries of the post).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from anymail.addresses import EmailAddress
from anymail.esps.postmark import ESP
from anymail.events import (
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
)
from anymail.inbound import AnymailInboundMessage
from anymail.webhooks import readers
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

logger = logging.getLogger(__name__)

#: Postmark's payloads nest a few levels (Geo, Client, the inbound address lists);
#: anything much deeper is not Postmark's, and is refused before it is read.
MAX_DEPTH = 32

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


def postmark_text(data: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
    """An optional text field of a Postmark object (a JSON number, which Postmark sends
    for some ids and codes, read as its text)."""
    return readers.optional_text(data.get(key), name or key, numbers=True)


# --- tracking: payload in, events out


def tracking_events(payload: dict[str, Any]) -> list[AnymailTrackingEvent]:
    """The normalized event of one Postmark tracking webhook post."""
    record_type = payload.get("RecordType")
    if not isinstance(record_type, str):
        raise readers.MalformedPayload("Postmark tracking payload has no RecordType")
    reject_reason = None
    description = None
    if record_type in ("Bounce", "SpamComplaint"):
        # Postmark's own SpamComplaint example carries TypeCode 512 (which its bounce
        # table gives to SpamNotification): go by RecordType, then Type, never TypeCode.
        if record_type == "SpamComplaint":
            event_type: EventType = EventType.COMPLAINED
        else:
            event_type, reject_reason = BOUNCE_TYPES.get(
                postmark_text(payload, "Type") or "",
                (EventType.UNKNOWN, None),
            )
        recipient = payload.get("Email")
        description = postmark_text(payload, "Description")
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
        description = postmark_text(payload, "SuppressionReason")
    else:
        event_type = EVENT_TYPE_MAP.get(record_type, EventType.UNKNOWN)
        recipient = payload.get("Recipient")
    timestamp_field = TIMESTAMP_FIELDS.get(record_type)
    # Only bounces and spam complaints have an id of their own (the bounce ID). The
    # others (Delivery, Open, Click, SubscriptionChange) have none: their event_id is
    # left None here, and Anymail's webhook view gives them a digest of the event.
    event_id = postmark_text(payload, "ID") if record_type in ("Bounce", "SpamComplaint") else None
    tag = postmark_text(payload, "Tag")
    return [
        AnymailTrackingEvent(
            event_type=event_type,
            timestamp=readers.iso_timestamp(payload.get(timestamp_field), timestamp_field)
            if timestamp_field
            else None,
            event_id=event_id,
            esp_event=payload,
            message_id=postmark_text(payload, "MessageID"),
            recipient=readers.optional_text(recipient, "recipient", numbers=True),
            reject_reason=reject_reason,
            description=description,
            # Delivery: the receiving server's response; bounces: the bounce details.
            mta_response=postmark_text(payload, "Details"),
            metadata=dict(readers.mapping(payload.get("Metadata"), "Metadata")),
            tags=[tag] if tag else [],
            click_url=postmark_text(payload, "OriginalLink") if record_type == "Click" else None,
            user_agent=postmark_text(payload, "UserAgent"),
        )
    ]


# --- inbound: payload in, events out

# The sender's MAIL FROM, from the Received-SPF header Postmark's inbound servers add.
_ENVELOPE_FROM = re.compile(r"\benvelope-from=\"?(?P<address>[^\s;\"]+)")
# Line breaks and other whitespace, allowed in an attachment's base64 Content.
_WHITESPACE = re.compile(r"\s+")


def inbound_events(payload: dict[str, Any]) -> list[AnymailInboundEvent]:
    """The inbound event of one Postmark inbound webhook post."""
    message_id = postmark_text(payload, "MessageID")
    if not message_id or not (payload.get("FromFull") or payload.get("From")):
        raise readers.MalformedPayload("not a Postmark inbound message (no MessageID or From)")
    message = message_from_payload(payload)
    return [
        AnymailInboundEvent(
            timestamp=None,  # Postmark gives only the sender's Date header
            # Postmark's id for the inbound message: the same in every retry of its post.
            event_id=message_id,
            esp_event=payload,
            message=message,
        )
    ]


def message_from_payload(payload: dict[str, Any]) -> AnymailInboundMessage:
    """Rebuild the message from Postmark's parsed JSON (Postmark doesn't post the raw
    MIME): its headers list, the address fields, the bodies and the attachments."""
    headers = [_header(header) for header in readers.list_of(payload.get("Headers"), "Headers")]
    present = {name.lower() for name, _ in headers}
    for name, field in (("Date", "Date"), ("Reply-To", "ReplyTo")):
        value = postmark_text(payload, field)
        if value and name.lower() not in present:
            headers.append((name, value))
    message_id = str(payload.get("MessageID"))
    message = AnymailInboundMessage.construct(
        headers=headers,
        from_email=_full_address(readers.mapping(payload.get("FromFull"), "FromFull"), "FromFull")
        or postmark_text(payload, "From"),
        to=_address_header(payload, "To"),
        cc=_address_header(payload, "Cc"),
        subject=postmark_text(payload, "Subject"),
        text=postmark_text(payload, "TextBody"),
        html=postmark_text(payload, "HtmlBody"),
        attachments=[
            _attachment(attachment, position, message_id)
            for position, attachment in enumerate(
                readers.list_of(payload.get("Attachments"), "Attachments"), start=1
            )
        ],
    )
    message.envelope_recipient = postmark_text(payload, "OriginalRecipient")
    spf = message.get("Received-SPF")
    if spf is not None:
        match = _ENVELOPE_FROM.search(str(spf))
        message.envelope_sender = match["address"] if match else None
    stripped = payload.get("StrippedTextReply")
    # (An empty StrippedTextReply stays "": Postmark found no reply text.)
    message.stripped_text = (
        None
        if stripped is None
        else readers.optional_text(stripped, "StrippedTextReply", numbers=True) or ""
    )
    # SpamAssassin's results, as headers (when the inbound server checks for spam).
    spam_status = message.get("X-Spam-Status")
    if spam_status is not None:
        message.spam_detected = str(spam_status).strip().lower().startswith("yes")
    spam_score = message.get("X-Spam-Score")
    if spam_score is not None:
        with contextlib.suppress(ValueError):
            message.spam_score = float(str(spam_score))
    return message


def _header(header: Any) -> tuple[str, str]:
    """One of the inbound ``Headers``: {"Name": ..., "Value": ...}."""
    header = readers.mapping(header, "Headers item")
    name = postmark_text(header, "Name", "header Name")
    if not name:
        raise readers.MalformedPayload("Postmark header has no Name")
    return name, postmark_text(header, "Value", "header Value") or ""


def _full_address(full: Mapping[str, Any], field: str) -> str | None:
    """An address ("Name <addr>") from one of Postmark's {"Email", "Name"} objects."""
    email = postmark_text(full, "Email", f"{field} Email")
    if not email:
        return None
    return EmailAddress(postmark_text(full, "Name", f"{field} Name") or "", email).address


def _address_header(payload: dict[str, Any], field: str) -> str | None:
    """A To or Cc header value, from the parsed ``<field>Full`` list (display names
    kept, properly quoted), else Postmark's own string."""
    full = readers.list_of(payload.get(f"{field}Full"), f"{field}Full")
    addresses = [
        address
        for address in (
            _full_address(readers.mapping(item, f"{field}Full item"), f"{field}Full")
            for item in full
        )
        if address
    ]
    if addresses:
        return ", ".join(addresses)
    return postmark_text(payload, field)


def _attachment(attachment: Any, position: int, message_id: str) -> AnymailInboundMessage:
    attachment = readers.mapping(attachment, "attachment")
    return AnymailInboundMessage.construct_attachment(
        content_type=postmark_text(attachment, "ContentType", "attachment ContentType")
        or "application/octet-stream",
        content=_attachment_content(attachment.get("Content"), position, message_id),
        filename=postmark_text(attachment, "Name", "attachment Name"),
        # Set for a part the message refers to (an inline image); "" otherwise.
        content_id=postmark_text(attachment, "ContentID", "attachment ContentID"),
    )


def _attachment_content(content: Any, position: int, message_id: str) -> bytes:
    """An attachment's ``Content``: base64 (line breaks allowed), decoded.

    Content that isn't base64 doesn't cost the whole message (Postmark would retry
    the post and then give up on it): the attachment keeps the text Postmark sent,
    and a warning names the message and the attachment, never the content.
    """
    if content is None:
        return b""
    if not isinstance(content, str):
        raise readers.MalformedPayload(f"Postmark attachment {position} Content is not a string")
    try:
        return base64.b64decode(_WHITESPACE.sub("", content), validate=True)
    except (binascii.Error, ValueError):
        logger.warning(
            "Postmark inbound message %r: attachment %d's Content is not base64 "
            "(%d characters); kept as the text Postmark sent",
            message_id,
            position,
            len(content),
        )
        return content.encode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# Views


class PostmarkWebhookView(AnymailBaseWebhookView):
    """Reading a Postmark post: a JSON object, authenticated by basic auth only."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ValueError(f"unexpected content type {request.content_type!r}")
        payload = super().read_payload(request)
        if not isinstance(payload, dict):
            raise ValueError("Postmark posts a JSON object")
        self.check_depth(payload)
        return payload

    @staticmethod
    def check_depth(payload: Any) -> None:
        """Refuse (ValueError) JSON nested deeper than MAX_DEPTH, without recursing."""
        level: list[Any] = [payload]
        for _ in range(MAX_DEPTH):
            level = [
                child
                for item in level
                for child in (item.values() if isinstance(item, dict) else item)
                if isinstance(child, dict | list)
            ]
            if not level:
                return
        raise ValueError(f"Postmark payload nested more than {MAX_DEPTH} levels deep")


class PostmarkTrackingWebhookView(PostmarkWebhookView, AnymailTrackingWebhookView):
    """Postmark's outbound webhooks: delivery, bounce, spam complaint, open, click and
    subscription change."""

    converter = staticmethod(tracking_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        record_type = payload.get("RecordType")
        if record_type == "Inbound" or (
            record_type is None and ("FromFull" in payload or "TextBody" in payload)
        ):
            return self.wrong_url("inbound", "the inbound stream's webhook (InboundHookUrl)")
        return None


class PostmarkInboundWebhookView(PostmarkWebhookView, AnymailInboundWebhookView):
    """Postmark's inbound webhook: one received message per post."""

    converter = staticmethod(inbound_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if "RecordType" in payload and payload.get("RecordType") != "Inbound":
            return self.wrong_url("tracking", "Postmark's webhooks")
        return None
