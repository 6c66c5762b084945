"""Mailjet's Event API (tracking) and Parse API (inbound), as Anymail webhook views.

Mailjet doesn't sign its posts: both webhooks rely on Anymail's WEBHOOK_SECRET
basic auth, which you put in the URL you give Mailjet
(``https://user:pass@yoursite.example.com/anymail/mailjet/tracking/``).

Event API posts are JSON: one event object per post, or, with "group events"
(Event API version 2), an array of the events of the last second, of mixed types
(https://dev.mailjet.com/email/guides/webhooks/). Mailjet retries any answer but
200 every 30 seconds for 24 hours. Parse API posts are one JSON object per
received message (https://dev.mailjet.com/email/guides/parse-api/).

The converters raise ValueError for every payload they can't read (a malformed
post gets a 400); any other exception would be a bug here, answered so that
Mailjet retries. Mailjet's events carry no id of their own: they leave
``event_id`` None, and the base view gives each event the digest of its raw event.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
from email import policy
from email.message import Message
from email.parser import HeaderParser
from typing import Any

from django.http import HttpRequest

from anymail.esps.mailjet import ESP
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
    "EVENT_TYPE_MAP",
    "REJECT_REASON_MAP",
    "MailjetInboundWebhookView",
    "MailjetTrackingWebhookView",
    "inbound_events",
    "tracking_events",
]

# ---------------------------------------------------------------------------
# Tracking

#: Mailjet's ``event`` names → normalized event types.
EVENT_TYPE_MAP = {
    # "sent": the receiving mail server accepted the message
    "sent": EventType.DELIVERED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "bounce": EventType.BOUNCED,  # or deferred, when hard_bounce is false
    # "blocked": Mailjet didn't try to deliver it
    "blocked": EventType.REJECTED,
    "spam": EventType.COMPLAINED,
    "unsub": EventType.UNSUBSCRIBED,
}

#: Mailjet's ``error`` values ("Possible values for errors" in the Event API guide)
#: → normalized reject reasons.
REJECT_REASON_MAP = {
    "user unknown": RejectReason.BOUNCED,
    "mailbox inactive": RejectReason.BOUNCED,
    "quota exceeded": RejectReason.BOUNCED,
    "blacklisted": RejectReason.BLOCKED,
    "spam reporter": RejectReason.SPAM,
    "invalid domain": RejectReason.INVALID,
    "typofix": RejectReason.INVALID,
    "no mail host": RejectReason.BOUNCED,
    "relay/access denied": RejectReason.BLOCKED,
    "greylisted": RejectReason.OTHER,
    "sender blocked": RejectReason.BLOCKED,
    "content blocked": RejectReason.SPAM,
    "policy issue": RejectReason.BLOCKED,
    "system issue": RejectReason.OTHER,
    "protocol issue": RejectReason.OTHER,
    "connection issue": RejectReason.OTHER,
    # not sent because the address recently or repeatedly bounced
    "preblocked": RejectReason.BOUNCED,
    "duplicate in campaign": RejectReason.OTHER,
    "bad or empty template": RejectReason.OTHER,
    "error in template language": RejectReason.OTHER,
}

#: For an ``error`` not in REJECT_REASON_MAP: its ``error_related_to``.
REJECT_REASON_BY_RELATED_TO = {
    "recipient": RejectReason.BOUNCED,
    "domain": RejectReason.BOUNCED,
    "spam": RejectReason.SPAM,
}


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The normalized events of one Event API post: a single event object, or a
    (grouped) array of them. Raises ValueError (MalformedPayload) for anything else."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise readers.MalformedPayload("Mailjet posted an empty list of events")
    return [mailjet_tracking_event(item) for item in items]


def mailjet_tracking_event(item: Any) -> AnymailTrackingEvent:
    """One Mailjet event object as an AnymailTrackingEvent (``esp_event`` is the object)."""
    data = readers.mapping(item, "a Mailjet event", allow_none=False)
    mailjet_event = readers.text(readers.required(data, "event", "a Mailjet event"), "event")
    event_type = EVENT_TYPE_MAP.get(mailjet_event, EventType.UNKNOWN)
    if mailjet_event == "bounce" and data.get("hard_bounce", True) in (False, "false"):
        # A soft bounce: Mailjet tries again.
        event_type = EventType.DEFERRED
    error = readers.optional_text(data.get("error"), "error")
    reject_reason = None
    if event_type in (EventType.BOUNCED, EventType.REJECTED):
        reject_reason = REJECT_REASON_MAP.get(
            (error or "").lower(),
            REJECT_REASON_BY_RELATED_TO.get(
                str(data.get("error_related_to") or "").lower(), RejectReason.OTHER
            ),
        )
    timestamp = readers.epoch_timestamp(data.get("time"), "time")
    if timestamp is None:
        raise readers.MalformedPayload("a Mailjet event has a numeric 'time'")
    # MessageID (a number) is what the Send API returned; events of grouped posts
    # may carry only the older string mj_message_id.
    message_id = readers.optional_text(
        data.get("MessageID", data.get("mj_message_id")), "MessageID", numbers=True
    )
    campaign = data.get("customcampaign")
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=timestamp,
        event_id=None,  # Mailjet's events have no id: the view fills in a digest
        esp_event=data,
        message_id=message_id,
        recipient=readers.optional_text(data.get("email"), "email"),
        reject_reason=reject_reason,
        description=error,
        # "smtp_reply" on sent events; "comment" (the raw SMTP error) on bounces
        mta_response=readers.optional_text(
            data.get("smtp_reply") or data.get("comment"), "smtp_reply"
        ),
        metadata=event_metadata(data.get("Payload")),
        tags=[campaign] if isinstance(campaign, str) and campaign else [],
        click_url=readers.optional_text(data.get("url"), "url"),
        user_agent=readers.optional_text(data.get("agent"), "agent"),
    )


def event_metadata(payload: Any) -> dict[str, Any]:
    """The metadata Anymail sent as EventPayload / Mj-EventPayLoad (a JSON object). A
    payload that isn't one (set by some other tool) is left in esp_event, and
    metadata is {}."""
    metadata = readers.lenient(readers.json_text, payload, "Payload")
    return metadata if isinstance(metadata, dict) else {}


# ---------------------------------------------------------------------------
# Inbound


def inbound_events(payload: Any) -> list[AnymailInboundEvent]:
    """The inbound event of one Parse API post (``esp_event`` is the parsed JSON)."""
    data = readers.mapping(payload, "a Mailjet Parse API post", allow_none=False)
    message = message_from_parse(data)
    return [AnymailInboundEvent(EventType.INBOUND, esp_event=payload, message=message)]


def message_from_parse(payload: Any) -> AnymailInboundMessage:
    """Rebuild the received message from the Parse API's fields.

    ``Headers`` holds the message's headers (a value is a string, or a list of
    strings for a repeated header); ``Parts`` lists the MIME leaf parts, each with
    its own headers and a ``ContentRef``: "Text-part" and "Html-part" name fields
    holding the decoded bodies, "Attachment<N>" fields hold base64 content. The
    message is built from these parts, not from the original Content-Type (whose
    boundary no longer matches anything).
    """
    headers = readers.mapping(readers.required(payload, "Headers"), "Headers")
    parts = readers.list_of(readers.required(payload, "Parts"), "Parts")
    text_body = html_body = None
    attachments = []
    for index, item in enumerate(parts):
        part = readers.mapping(item, f"Parts[{index}]", allow_none=False)
        ref = readers.text(readers.required(part, "ContentRef", f"Parts[{index}]"), "ContentRef")
        if ref not in payload:
            raise readers.MalformedPayload(
                f"the Mailjet Parse API post has no {ref!r} for its part"
            )
        content = payload[ref]
        if ref == "Text-part" and text_body is None:
            text_body = str(content)
        elif ref == "Html-part" and html_body is None:
            html_body = str(content)
        else:
            attachments.append(attachment_from_part(part.get("Headers"), content))
    message = AnymailInboundMessage.construct(
        headers=header_items(headers),
        from_email=readers.optional_text(payload.get("From"), "From"),
        subject=readers.optional_text(payload.get("Subject"), "Subject"),
        text=text_body,
        html=html_body,
        attachments=attachments,
    )
    message.envelope_sender = readers.optional_text(payload.get("Sender"), "Sender")
    message.envelope_recipient = readers.optional_text(payload.get("Recipient"), "Recipient")
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        message.spam_score = float(payload.get("SpamAssassinScore"))
    return message


def header_items(headers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs, a repeated header once per value."""
    items = []
    for name, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            items.append((str(name), str(item)))
    return items


def attachment_from_part(headers: Any, content: Any) -> AnymailInboundMessage:
    """An attachment (or inline part) from its Parse API headers and base64 content.
    (The part's Content-Transfer-Encoding names the original encoding: Mailjet always
    posts attachments in base64.)"""
    part = part_headers(headers if isinstance(headers, dict) else {})
    try:
        data = base64.b64decode(str(content))
    except binascii.Error as err:
        raise readers.MalformedPayload(
            "a Mailjet Parse API attachment is not valid base64"
        ) from err
    content_id = part.get("Content-ID")
    return AnymailInboundMessage.construct_attachment(
        content_type=part.get_content_type() if "Content-Type" in part else "",
        content=data,
        charset=part.get_content_charset(),
        filename=part.get_filename(),
        content_id=str(content_id) if content_id else None,
        inline=part.get_content_disposition() == "inline",
    )


def part_headers(headers: Mapping[str, Any]) -> Message:
    """A part's headers, parsed (for its content type, charset, filename and cid)."""
    lines = "".join(
        f"{name}: {' '.join(value.splitlines())}\n" for name, value in header_items(headers)
    )
    return HeaderParser(policy=policy.default).parsestr(lines + "\n")


# ---------------------------------------------------------------------------
# Views


class MailjetWebhookView(AnymailBaseWebhookView):
    """Reading a Mailjet post: a JSON body (basic auth is the base view's)."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> Any:
        # Mailjet documents JSON bodies; parse them whatever Content-Type says.
        return readers.read_json(request.body)


class MailjetTrackingWebhookView(MailjetWebhookView, AnymailTrackingWebhookView):
    """Mailjet's Event API: grouped (array) and ungrouped (one object) posts."""

    converter = staticmethod(tracking_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if isinstance(payload, dict) and "event" not in payload and "Parts" in payload:
            return self.wrong_url("inbound", "the Parse API parseroute")
        return None


class MailjetInboundWebhookView(MailjetWebhookView, AnymailInboundWebhookView):
    """Mailjet's Parse API: one received message per post."""

    converter = staticmethod(inbound_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if isinstance(payload, list) or (isinstance(payload, dict) and "event" in payload):
            return self.wrong_url("tracking", "Mailjet's Event API triggers")
        return None
