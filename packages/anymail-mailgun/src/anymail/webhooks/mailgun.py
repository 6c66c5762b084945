"""Mailgun's tracking webhooks and inbound routes, as Anymail webhook views.

Mailgun signs every post the same way: ``signature`` is the hex HMAC-SHA256 of
``timestamp + token``, keyed with the domain's HTTP webhook signing key. Tracking
webhooks post it inside a JSON body (``{"signature": {...}, "event-data": {...}}``);
legacy tracking webhooks and inbound routes post it as form fields.

Replay protection: a token is accepted once, and a timestamp only within
:data:`TIMESTAMP_TOLERANCE`. Mailgun retries a failed post for about 8 hours with
the signature of the first attempt, so a shorter window would refuse its retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

from anymail.esps.mailgun import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.features import EventType, RejectReason
from anymail.inbound import AnymailInboundMessage
from anymail.utils import UNSET, get_anymail_setting
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)

__all__ = [
    "TIMESTAMP_TOLERANCE",
    "MailgunInboundWebhookView",
    "MailgunTrackingWebhookView",
    "inbound_events",
    "tracking_events",
]

#: Seconds a signed timestamp stays acceptable: Mailgun's retry schedule (about
#: 8 hours, each retry carrying the first attempt's signature), plus an hour of slack.
TIMESTAMP_TOLERANCE = 9 * 3600


class MailgunWebhookView(AnymailBaseWebhookView):
    """Reading a Mailgun post: the signing key, the JSON or form payload, Mailgun's
    signature and replay protection."""

    esp = ESP
    # Mailgun signs its posts, so WEBHOOK_SECRET basic auth is optional.
    warn_if_no_basic_auth = False

    # as_view() overrides of the settings
    webhook_signing_key: Any = UNSET
    api_key: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        signing_key = get_anymail_setting(
            "webhook_signing_key", esp_name=self.esp_id, kwargs=kwargs, default=None
        )
        api_key = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, default=None, allow_bare=True
        )
        # Mailgun accounts created before 2020 signed webhooks with the API key.
        key = signing_key or api_key
        if not key:
            raise AnymailConfigurationError(
                "Mailgun webhooks need your HTTP webhook signing key (Mailgun dashboard: "
                'Sending > Webhooks): set ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": ...} or '
                "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY. (Anymail falls back to MAILGUN_API_KEY.)"
            )
        self.signing_key = str(key).encode("utf-8")
        return {}

    # --- reading the request ---

    def read_payload(self, request: HttpRequest) -> dict[str, Any] | QueryDict:
        """The JSON object (current tracking webhooks) or the form fields (legacy
        webhooks and inbound routes) Mailgun posted."""
        if request.content_type == "application/json":
            payload = json.loads(request.body.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("Mailgun posts a JSON object")
            return payload
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.POST
        raise ValueError(f"unexpected content type {request.content_type!r}")

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        # (A QueryDict is also a dict: test for it first.)
        fields: Any = payload if isinstance(payload, QueryDict) else payload.get("signature")
        if not hasattr(fields, "get"):
            fields = {}
        timestamp, token, signature = (
            fields.get("timestamp"),
            fields.get("token"),
            fields.get("signature"),
        )
        if not all(
            isinstance(value, str | int) and value for value in (timestamp, token, signature)
        ):
            raise AnymailWebhookValidationFailure(
                "Mailgun webhook called without Mailgun's signature (timestamp, token, signature)"
            )
        expected = hmac.new(
            self.signing_key, f"{timestamp}{token}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(str(signature).encode(), expected.encode()):
            raise AnymailWebhookValidationFailure(
                "Mailgun webhook called with an invalid signature "
                "(check MAILGUN_WEBHOOK_SIGNING_KEY is your domain's HTTP webhook signing key)"
            )
        try:
            when = float(timestamp)
        except ValueError:
            raise AnymailWebhookValidationFailure("Mailgun webhook timestamp is invalid") from None
        self.check_replay(when, str(token), tolerance=TIMESTAMP_TOLERANCE)


# ---------------------------------------------------------------------------
# Tracking

#: Mailgun event names (current and legacy webhooks) → normalized event types.
EVENT_TYPE_MAP = {
    "accepted": EventType.QUEUED,
    "rejected": EventType.REJECTED,
    "delivered": EventType.DELIVERED,
    "failed": EventType.BOUNCED,  # or deferred, or rejected: see tracking_event_type
    "opened": EventType.OPENED,
    "clicked": EventType.CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
    "complained": EventType.COMPLAINED,
    # legacy webhooks
    "dropped": EventType.REJECTED,
    "bounced": EventType.BOUNCED,
}

#: Mailgun failure reasons → normalized reject reasons.
REJECT_REASON_MAP = {
    # current webhooks' "reason"
    "bounce": RejectReason.BOUNCED,
    "suppress-bounce": RejectReason.BOUNCED,
    "suppress-unsubscribe": RejectReason.UNSUBSCRIBED,
    "suppress-complaint": RejectReason.SPAM,
    "espblock": RejectReason.BLOCKED,
    "old": RejectReason.TIMED_OUT,
    "generic": RejectReason.OTHER,
    "greylisted": RejectReason.OTHER,
    # legacy "dropped" reasons
    "hardfail": RejectReason.BOUNCED,
    "maxfails": RejectReason.TIMED_OUT,
}

#: Legacy "dropped" codes that say which suppression list refused the recipient.
LEGACY_SUPPRESSION_CODES = {
    "605": RejectReason.BOUNCED,
    "606": RejectReason.UNSUBSCRIBED,
    "607": RejectReason.SPAM,
}

#: Fields of legacy webhook posts that are not the sender's custom variables.
LEGACY_FIELDS = frozenset(
    {
        "event", "recipient", "domain", "timestamp", "token", "signature",
        "message-headers", "Message-Id", "message-id", "tag", "X-Mailgun-Tag",
        "X-Mailgun-Variables", "campaign-id", "campaign-name", "mailing-list",
        "ip", "country", "region", "city", "user-agent", "device-type", "client-type",
        "client-name", "client-os", "url", "h", "body-plain", "code", "error",
        "notification", "reason", "description", "attachment-count",
    }
)  # fmt: skip


def _bracketed(message_id: str | None) -> str | None:
    """Mailgun's send API gives ids as "<id>", its webhooks without the brackets:
    normalize to the send API's form, so events match ``anymail_status.message_id``."""
    if not message_id:
        return None
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _signed_time(fields: Any) -> tuple[datetime, str]:
    """The (already verified) signature's timestamp and token of a form post."""
    return datetime.fromtimestamp(float(fields["timestamp"]), tz=UTC), str(fields["token"])


# --- tracking: payload in, events out


def tracking_events(payload: dict[str, Any] | QueryDict) -> list[AnymailTrackingEvent]:
    """The normalized events of one tracking webhook post: a current webhook's JSON
    object, or a legacy webhook's form fields (a QueryDict)."""
    if isinstance(payload, QueryDict):
        return [event_from_legacy(payload)]
    return [event_from_json(payload)]


def event_from_json(payload: dict[str, Any]) -> AnymailTrackingEvent:
    data = payload["event-data"]
    mailgun_event = data["event"]
    reason = data.get("reason")
    event_type = EVENT_TYPE_MAP.get(mailgun_event, EventType.UNKNOWN)
    reject_reason = None
    delivery_status = data.get("delivery-status") or {}
    description = delivery_status.get("description") or None
    if mailgun_event == "failed":
        if isinstance(reason, str) and reason.startswith("suppress-"):
            # Mailgun didn't try: the recipient is on a suppression list.
            event_type = EventType.REJECTED
        elif data.get("severity") == "temporary":
            event_type = EventType.DEFERRED
        if event_type != EventType.DEFERRED:
            reject_reason = REJECT_REASON_MAP.get(reason, RejectReason.OTHER)
    elif mailgun_event == "rejected":
        reject = data.get("reject") or {}
        reject_reason = REJECT_REASON_MAP.get(reject.get("reason"), RejectReason.OTHER)
        description = reject.get("description") or reject.get("reason") or description
    headers = (data.get("message") or {}).get("headers") or {}
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=datetime.fromtimestamp(float(data["timestamp"]), tz=UTC),
        # Mailgun's event-data id is only unique within a day; the token is unique.
        event_id=payload["signature"]["token"],
        esp_event=payload,
        message_id=_bracketed(headers.get("message-id")),
        recipient=data.get("recipient"),
        reject_reason=reject_reason,
        description=description,
        mta_response=delivery_status.get("message") or None,
        metadata=dict(data.get("user-variables") or {}),
        tags=list(data.get("tags") or []),
        click_url=data.get("url"),
        user_agent=(data.get("client-info") or {}).get("user-agent"),
    )


def event_from_legacy(fields: QueryDict) -> AnymailTrackingEvent:
    mailgun_event = fields["event"]
    event_type = EVENT_TYPE_MAP.get(mailgun_event, EventType.UNKNOWN)
    header_list = legacy_header_list(fields)
    headers = dict(header_list)
    reject_reason = description = mta_response = None
    if mailgun_event == "dropped":
        reject_reason = LEGACY_SUPPRESSION_CODES.get(
            fields.get("code", ""),
            REJECT_REASON_MAP.get(fields.get("reason", ""), RejectReason.OTHER),
        )
        description = fields.get("description") or None
        mta_response = fields.get("error") or None
    elif mailgun_event == "bounced":
        reject_reason = RejectReason.BOUNCED
        description = fields.get("notification") or None
        mta_response = fields.get("error") or None

    # Delivered, dropped, bounced and complained events carry the sent message's
    # headers (with X-Mailgun-Variables); opened, clicked and unsubscribed carry
    # the variables as fields of their own.
    if "X-Mailgun-Variables" in headers:
        metadata = json.loads(headers["X-Mailgun-Variables"])
    else:
        metadata = {key: fields[key] for key in fields if key not in LEGACY_FIELDS}
    tags = (
        fields.getlist("tag")
        or fields.getlist("X-Mailgun-Tag")
        or [value for name, value in header_list if name == "X-Mailgun-Tag"]
    )
    timestamp, token = _signed_time(fields)
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=timestamp,
        event_id=token,
        esp_event=fields,
        message_id=_bracketed(
            fields.get("Message-Id") or fields.get("message-id") or headers.get("Message-Id")
        ),
        recipient=fields.get("recipient"),
        reject_reason=reject_reason,
        description=description,
        mta_response=mta_response,
        metadata=metadata,
        tags=tags,
        click_url=fields.get("url"),
        user_agent=fields.get("user-agent"),
    )


def legacy_header_list(fields: QueryDict) -> list[tuple[str, str]]:
    """The sent message's headers, from the JSON list of [name, value] pairs."""
    return [
        (str(name), str(value)) for name, value in json.loads(fields.get("message-headers") or "[]")
    ]


# --- inbound: payload in, events out


def inbound_events(
    fields: QueryDict, files: MultiValueDict[str, Any], esp_event: Any = None
) -> list[AnymailInboundEvent]:
    """The inbound event of a route's forward(): the fully parsed format, or raw MIME
    (``body-mime``). ``files`` holds the parsed format's attachments."""
    if "body-mime" in fields:
        # Django decoded the field as UTF-8; the parser wants the message's bytes
        # (8bit parts parsed from a str lose their charset).
        message = AnymailInboundMessage.parse_raw_mime_bytes(
            fields["body-mime"].encode("utf-8", "surrogateescape")
        )
    else:
        message = message_from_fields(fields, files)
    message.envelope_sender = fields.get("sender") or None
    message.envelope_recipient = fields.get("recipient") or None
    # Present when the domain's spam filter is set to "deliver spam, but add
    # X-Mailgun-SFlag and X-Mailgun-SScore headers".
    spam_flag = message.get("X-Mailgun-Sflag")
    if spam_flag is not None:
        message.spam_detected = str(spam_flag).strip().lower() == "yes"
    spam_score = message.get("X-Mailgun-Sscore")
    if spam_score is not None:
        with contextlib.suppress(ValueError):
            message.spam_score = float(str(spam_score))
    timestamp, token = _signed_time(fields)
    return [
        AnymailInboundEvent(
            timestamp=timestamp, event_id=token, esp_event=esp_event, message=message
        )
    ]


def message_from_fields(
    fields: QueryDict, files: MultiValueDict[str, Any]
) -> AnymailInboundMessage:
    """Rebuild the message from Mailgun's parsed fields."""
    headers = json.loads(fields.get("message-headers") or "[]")
    content_ids = {
        name: cid for cid, name in json.loads(fields.get("content-id-map") or "{}").items()
    }
    attachments = []
    for index in range(1, int(fields.get("attachment-count") or 0) + 1):
        name = f"attachment-{index}"
        upload = files.get(name)
        if upload is None:
            raise ValueError(f"Mailgun inbound post is missing {name}")
        attachments.append(
            AnymailInboundMessage.construct_attachment_from_uploaded_file(
                upload, content_id=content_ids.get(name)
            )
        )
    message = AnymailInboundMessage.construct(
        headers=[(str(name), str(value)) for name, value in headers],
        from_email=fields.get("from"),
        subject=fields.get("subject"),
        text=fields.get("body-plain"),
        html=fields.get("body-html"),
        attachments=attachments,
    )
    message.stripped_text = fields.get("stripped-text")
    message.stripped_html = fields.get("stripped-html")
    return message


# ---------------------------------------------------------------------------
# Views


class MailgunTrackingWebhookView(MailgunWebhookView, AnymailTrackingWebhookView):
    """Mailgun's tracking webhooks, current (JSON) and legacy (form) formats."""

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if (
            isinstance(payload, QueryDict)
            and "event" not in payload
            and ("body-mime" in payload or "body-plain" in payload)
        ):
            return (
                "This is a Mailgun inbound route's message, posted to Anymail's Mailgun "
                "tracking webhook URL. Point the route's forward() at "
                "/anymail/mailgun/inbound/ (or inbound_mime/) instead."
            )
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailTrackingEvent]:
        return tracking_events(payload)


class MailgunInboundWebhookView(MailgunWebhookView, AnymailInboundWebhookView):
    """A Mailgun route's forward() action: the fully parsed format (at ``inbound/``)
    or raw MIME (at ``inbound_mime/``: Mailgun posts raw MIME to URLs ending "mime")."""

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if "event-data" in payload or "event" in payload:
            return (
                "This is a Mailgun tracking webhook event, posted to Anymail's Mailgun "
                "inbound URL. Give Mailgun's webhooks /anymail/mailgun/tracking/ instead."
            )
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailInboundEvent]:
        if not isinstance(payload, QueryDict):
            raise ValueError("Mailgun inbound posts are form data")
        return inbound_events(payload, request.FILES, esp_event=request)
