"""Mailgun's tracking webhooks and inbound routes, as Anymail webhook views.

Mailgun signs every post the same way: ``signature`` is the hex HMAC-SHA256 of
``timestamp + token``, keyed with the domain's HTTP webhook signing key. Tracking
webhooks post it inside a JSON body (``{"signature": {...}, "event-data": {...}}``);
legacy tracking webhooks and inbound routes post it as form fields.
``MAILGUN_WEBHOOK_SIGNING_KEY`` may be one key or a list (to rotate a key: list the
new one beside the old, then drop the old).

Replay protection: a timestamp is accepted only within
``MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE`` seconds (default
:data:`DEFAULT_TIMESTAMP_TOLERANCE`, 9 hours), and a token once (a post with a token
already accepted is a redelivery: acknowledged, not signalled again). Mailgun retries
a failed post for up to 8 hours, and a retry can carry the first attempt's signature,
so a shorter window would refuse its retries.

Everything a client can post gets a 2xx or a 4xx: a field of the wrong JSON type, a
missing field, a lone surrogate, a timestamp that isn't a finite number are refused
(400), never passed to receivers and never a 5xx. The converters raise ``ValueError``
(the readers' ``MalformedPayload``) for every payload they can't read (the base view
answers it with 400); any other exception is a bug on our side, answered so Mailgun
retries.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

from anymail.esps.mailgun import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent, EventType, RejectReason
from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.inbound import AnymailInboundMessage
from anymail.settings import UNSET, get_anymail_setting
from anymail.webhooks import readers
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)
from anymail.webhooks.signing import HmacScheme, read_signing_keys, signed_text

__all__ = [
    "DEFAULT_TIMESTAMP_TOLERANCE",
    "TIMESTAMP_TOLERANCE",
    "MailgunInboundWebhookView",
    "MailgunTrackingWebhookView",
    "inbound_events",
    "tracking_events",
]

#: Seconds a signed timestamp stays acceptable unless MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE
#: says otherwise: Mailgun's retry schedule (up to 8 hours; a retry can carry the first
#: attempt's signature), plus an hour of slack.
DEFAULT_TIMESTAMP_TOLERANCE = 9 * 3600
#: The older name of DEFAULT_TIMESTAMP_TOLERANCE.
TIMESTAMP_TOLERANCE = DEFAULT_TIMESTAMP_TOLERANCE

#: Mailgun's signature: hex HMAC-SHA256 of timestamp + token.
MAILGUN_SIGNATURE = HmacScheme("sha256", "hex")

#: Mailgun event names (current and legacy webhooks) → normalized event types.
EVENT_TYPE_MAP = {
    "accepted": EventType.QUEUED,
    "rejected": EventType.REJECTED,
    "delivered": EventType.DELIVERED,
    "failed": EventType.BOUNCED,  # or deferred, or rejected: see event_from_json
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
        "X-Mailgun-Variables", "X-Mailgun-Sid", "campaign-id", "campaign-name",
        "mailing-list", "ip", "country", "region", "city", "user-agent", "device-type",
        "client-type", "client-name", "client-os", "url", "h", "body-plain", "code",
        "error", "notification", "reason", "description", "attachment-count",
    }
)  # fmt: skip

#: Legacy fields that may repeat: every value is Mailgun's.
LEGACY_LIST_FIELDS = frozenset({"tag", "X-Mailgun-Tag"})


# ---------------------------------------------------------------------------
# Converters: payload in, events out (no request, no settings)

# --- reading Mailgun's formats: a wrongly typed or missing field is a ValueError (the
# view answers 400), never a wrong event and never another exception (a 5xx: a bug)


def _first(fields: QueryDict, name: str) -> str | None:
    """A form field's first value. Mailgun writes its own fields before the sender's
    custom variables, so when a variable has the same name (``event``, ``recipient``,
    ``token``...) the first value is Mailgun's. (``QueryDict.get`` gives the last.)"""
    values = fields.getlist(name)
    return values[0] if values else None


def _mailgun_object(value: Any, name: str) -> Any:
    """A JSON object that may be absent. Mailgun writes an empty one as ``[]`` (its
    published samples have ``"user-variables": []``), so an empty list is one too."""
    return readers.mapping(None if value == [] else value, name)


def _unix_time(value: Any, name: str) -> datetime:
    """Mailgun's timestamps: Unix seconds (a JSON number, or its text in a form post)."""
    try:
        when = readers.epoch_timestamp(value, name)
    except readers.MalformedPayload:
        when = None
    if when is None:
        raise readers.MalformedPayload(
            f"Mailgun's {name} {repr(value)[:40]} is not a time: missing, not a finite "
            "number of seconds, or out of range"
        )
    return when


def _signed_time(fields: QueryDict) -> tuple[datetime, str]:
    """The (already verified) signature's timestamp and token of a form post."""
    timestamp, token = _first(fields, "timestamp"), _first(fields, "token")
    if not token:
        raise readers.MalformedPayload("Mailgun post has no token")
    return _unix_time(timestamp, "timestamp"), token


def _bracketed(message_id: str | None) -> str | None:
    """Mailgun's send API gives ids as "<id>", its webhooks without the brackets:
    normalize to the send API's form, so events match ``anymail_status.message_id``."""
    if not message_id:
        return None
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _first_address(header: str | None) -> str | None:
    """The first addr-spec in an address header ("Alice <alice@example.com>, ...")."""
    if not header:
        return None
    for _name, addr_spec in getaddresses([header]):
        if addr_spec:
            return addr_spec
    return None


def _header_pairs(encoded: str | None) -> list[tuple[str, str]]:
    """Mailgun's ``message-headers``: a JSON list of [name, value] string pairs."""
    pairs = readers.json_text(encoded or "[]", "message-headers")
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
        for pair in pairs
    ):
        raise readers.MalformedPayload(
            "Mailgun's message-headers must be a JSON list of [name, value] pairs"
        )
    return [(name, value) for name, value in pairs]


def _is_legacy_field(name: str) -> bool:
    """Whether a legacy post's field is Mailgun's own (not a custom variable)."""
    return (
        name in LEGACY_FIELDS
        or name.startswith("X-Mailgun-")  # X-Mailgun-Sid and the like
        or name.startswith("attachment-")  # bounced and complained: the original message
    )


# --- tracking


def tracking_events(payload: dict[str, Any] | QueryDict) -> list[AnymailTrackingEvent]:
    """The normalized events of one tracking webhook post: a current webhook's JSON
    object, or a legacy webhook's form fields (a QueryDict). Raises ValueError for a
    payload that isn't Mailgun's: the view answers 400."""
    if isinstance(payload, QueryDict):
        return [event_from_legacy(payload)]
    return [event_from_json(payload)]


def event_from_json(payload: dict[str, Any]) -> AnymailTrackingEvent:
    """A current (JSON) webhook post: ``{"signature": {...}, "event-data": {...}}``."""
    data = _mailgun_object(readers.required(payload, "event-data"), "event-data")
    mailgun_event = readers.text(readers.required(data, "event", "event-data"), "event-data.event")
    reason = readers.optional_text(data.get("reason"), "reason")
    severity = readers.optional_text(data.get("severity"), "severity")
    event_type = EVENT_TYPE_MAP.get(mailgun_event, EventType.UNKNOWN)
    reject_reason = None
    delivery_status = _mailgun_object(data.get("delivery-status"), "delivery-status")
    description = readers.optional_text(delivery_status.get("description"), "description")
    mta_response = readers.optional_text(delivery_status.get("message"), "delivery-status.message")
    if mailgun_event == "failed":
        if reason is not None and reason.startswith("suppress-"):
            # Mailgun didn't try: the recipient is on a suppression list.
            event_type = EventType.REJECTED
        elif severity == "temporary":
            event_type = EventType.DEFERRED
        if event_type != EventType.DEFERRED:
            reject_reason = REJECT_REASON_MAP.get(reason or "", RejectReason.OTHER)
    elif mailgun_event == "rejected":
        reject = _mailgun_object(data.get("reject"), "reject")
        reject_reason_text = readers.optional_text(reject.get("reason"), "reject.reason")
        reject_description = readers.optional_text(reject.get("description"), "reject.description")
        reject_reason = REJECT_REASON_MAP.get(reject_reason_text or "", RejectReason.OTHER)
        description = reject_description or reject_reason_text or description
    message = _mailgun_object(data.get("message"), "message")
    headers = _mailgun_object(message.get("headers"), "message.headers")
    signature = _mailgun_object(payload.get("signature"), "signature")
    client_info = _mailgun_object(data.get("client-info"), "client-info")
    recipient = readers.optional_text(data.get("recipient"), "recipient")
    if recipient is None:
        # Mailgun's rejected event has no recipient field: the message's To header
        # is all it says about where the message was going.
        recipient = _first_address(readers.optional_text(headers.get("to"), "message.headers.to"))
    metadata = _mailgun_object(data.get("user-variables"), "user-variables")
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=_unix_time(
            readers.required(data, "timestamp", "event-data"), "event-data.timestamp"
        ),
        # Mailgun's event-data id is only unique within a day; the token is unique.
        event_id=readers.optional_text(signature.get("token"), "signature.token"),
        esp_event=payload,
        message_id=_bracketed(readers.optional_text(headers.get("message-id"), "message-id")),
        recipient=recipient,
        reject_reason=reject_reason,
        description=description,
        mta_response=mta_response,
        metadata=dict(metadata),
        tags=list(readers.text_list(data.get("tags"), "tags")),
        click_url=readers.optional_text(data.get("url"), "url"),
        user_agent=readers.optional_text(client_info.get("user-agent"), "client-info.user-agent"),
    )


def event_from_legacy(fields: QueryDict) -> AnymailTrackingEvent:
    """A legacy (form-encoded) webhook post. Custom variables arrive as fields of their
    own, after Mailgun's: where one has the name of a Mailgun field, the first value is
    Mailgun's and the last the variable's."""
    mailgun_event = _first(fields, "event")
    if not mailgun_event:
        raise readers.MalformedPayload("Mailgun legacy webhook post has no event field")
    event_type = EVENT_TYPE_MAP.get(mailgun_event, EventType.UNKNOWN)
    header_list = _header_pairs(_first(fields, "message-headers"))
    headers = dict(header_list)
    reject_reason = description = mta_response = None
    if mailgun_event == "dropped":
        reject_reason = LEGACY_SUPPRESSION_CODES.get(
            _first(fields, "code") or "",
            REJECT_REASON_MAP.get(_first(fields, "reason") or "", RejectReason.OTHER),
        )
        description = _first(fields, "description") or None
        mta_response = _first(fields, "error") or None
    elif mailgun_event == "bounced":
        reject_reason = RejectReason.BOUNCED
        description = _first(fields, "notification") or None
        mta_response = _first(fields, "error") or None

    # Delivered, dropped, bounced and complained events carry the sent message's
    # headers (with X-Mailgun-Variables); opened, clicked and unsubscribed carry
    # the variables as fields of their own.
    if "X-Mailgun-Variables" in headers:
        metadata = readers.json_text(headers["X-Mailgun-Variables"], "X-Mailgun-Variables")
        if not isinstance(metadata, dict):
            raise readers.MalformedPayload("Mailgun's X-Mailgun-Variables must be a JSON object")
    else:
        metadata = {}
        for name, values in fields.lists():
            if not _is_legacy_field(name):
                metadata[name] = values[-1]
            elif len(values) > 1 and name not in LEGACY_LIST_FIELDS:
                metadata[name] = values[-1]  # a variable named like a Mailgun field
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
            _first(fields, "Message-Id")
            or _first(fields, "message-id")
            or headers.get("Message-Id")
        ),
        recipient=_first(fields, "recipient"),
        reject_reason=reject_reason,
        description=description,
        mta_response=mta_response,
        metadata=metadata,
        tags=tags,
        click_url=_first(fields, "url"),
        user_agent=_first(fields, "user-agent"),
    )


# --- inbound


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
        message = message_from_parsed_route(fields, files)
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


def message_from_parsed_route(
    fields: QueryDict, files: MultiValueDict[str, Any]
) -> AnymailInboundMessage:
    """Rebuild the message from a route's "fully parsed" post: Mailgun's
    ``message-headers``, ``body-plain``/``body-html``, ``stripped-*`` fields,
    ``attachment-<n>`` uploads and ``content-id-map``."""
    headers = _header_pairs(fields.get("message-headers"))
    content_id_map = readers.json_text(fields.get("content-id-map") or "{}", "content-id-map")
    if not isinstance(content_id_map, dict) or not all(
        isinstance(name, str) for name in content_id_map.values()
    ):
        raise readers.MalformedPayload("Mailgun's content-id-map must be a JSON object of strings")
    content_ids = {name: cid for cid, name in content_id_map.items()}
    attachments = []
    attachment_count = readers.integer(fields.get("attachment-count"), "attachment-count") or 0
    for index in range(1, attachment_count + 1):
        name = f"attachment-{index}"
        upload = files.get(name)
        if upload is None:
            raise readers.MalformedPayload(f"Mailgun inbound post is missing {name}")
        attachments.append(
            AnymailInboundMessage.construct_attachment_from_uploaded_file(
                upload, content_id=content_ids.get(name)
            )
        )
    message = AnymailInboundMessage.construct(
        headers=headers,
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


class MailgunWebhookView(AnymailBaseWebhookView):
    """Reading a Mailgun post: the signing keys, the JSON or form payload, Mailgun's
    signature and replay protection. (Mailgun signs every post, so WEBHOOK_SECRET
    basic auth is optional: the description says ``signed_webhooks=True``.)"""

    esp = ESP

    # as_view() overrides of the settings
    webhook_signing_key: Any = UNSET
    api_key: Any = UNSET
    webhook_timestamp_tolerance: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> None:
        tolerance = get_anymail_setting(
            "webhook_timestamp_tolerance",
            esp_name=self.esp_id,
            kwargs=kwargs,
            default=DEFAULT_TIMESTAMP_TOLERANCE,
        )
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not math.isfinite(tolerance)
            or tolerance <= 0
        ):
            raise AnymailConfigurationError(
                "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE must be a positive number of seconds "
                f"(default {DEFAULT_TIMESTAMP_TOLERANCE}, 9 hours), not {tolerance!r}."
            )
        self.timestamp_tolerance = float(tolerance)
        signing_keys = read_signing_keys("webhook_signing_key", self.esp_id, kwargs)
        api_key = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, default=None, allow_bare=True
        )
        # Mailgun accounts created before 2020 signed webhooks with the API key.
        self.signing_keys = signing_keys or ([str(api_key)] if api_key else [])
        if not self.signing_keys:
            raise AnymailConfigurationError(
                "Mailgun webhooks need your HTTP webhook signing key (Mailgun dashboard: "
                'Sending > Webhooks): set ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": ...} or '
                "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY (one key, or a list of them). "
                "(Anymail falls back to MAILGUN_API_KEY.)"
            )

    def read_payload(self, request: HttpRequest) -> dict[str, Any] | QueryDict:
        """The JSON object (current tracking webhooks) or the form fields (legacy
        webhooks and inbound routes) Mailgun posted."""
        payload = super().read_payload(request)
        if not isinstance(payload, dict):  # (a QueryDict is a dict too)
            raise ValueError("Mailgun posts a JSON object")
        return payload

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        # (A QueryDict is also a dict: test for it first.)
        if isinstance(payload, QueryDict):
            fields: Any = {
                name: _first(payload, name) for name in ("timestamp", "token", "signature")
            }
        else:
            fields = payload.get("signature")
            if not isinstance(fields, dict):
                fields = {}
        timestamp, token, signature = (
            fields.get("timestamp"),
            fields.get("token"),
            fields.get("signature"),
        )
        if not (
            isinstance(timestamp, str | int)
            and not isinstance(timestamp, bool)
            and isinstance(token, str)
            and isinstance(signature, str)
            and timestamp != ""
            and token
            and signature
        ):
            raise AnymailWebhookValidationFailure(
                "Mailgun webhook called without Mailgun's signature (timestamp, token, signature)"
            )
        # A lone surrogate (a JSON "\ud800" escape) can't be encoded: not from Mailgun.
        signed = signed_text(f"{timestamp}{token}", "Mailgun webhook signature fields")
        if not MAILGUN_SIGNATURE.verify(self.signing_keys, signed, [signature]):
            raise AnymailWebhookValidationFailure(
                "Mailgun webhook called with an invalid signature "
                "(check MAILGUN_WEBHOOK_SIGNING_KEY is your domain's HTTP webhook signing key)"
            )
        # (A timestamp that isn't a finite number is refused here too.)
        self.check_replay(timestamp, token, tolerance=self.timestamp_tolerance)


class MailgunTrackingWebhookView(MailgunWebhookView, AnymailTrackingWebhookView):
    """Mailgun's tracking webhooks, current (JSON) and legacy (form) formats."""

    converter = staticmethod(tracking_events)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if (
            isinstance(payload, QueryDict)
            and "event" not in payload
            and ("body-mime" in payload or "body-plain" in payload)
        ):
            return self.wrong_url("inbound", "the route's forward()")
        return None


class MailgunInboundWebhookView(MailgunWebhookView, AnymailInboundWebhookView):
    """A Mailgun route's forward() action: the fully parsed format (at ``inbound/``)
    or raw MIME (at ``inbound_mime/``: Mailgun posts raw MIME to URLs ending "mime")."""

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if "event-data" in payload or "event" in payload:
            return self.wrong_url("tracking", "Mailgun's webhooks")
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailInboundEvent]:
        if not isinstance(payload, QueryDict):
            raise ValueError("Mailgun inbound posts are form data")
        return inbound_events(payload, request.FILES, esp_event=request)
