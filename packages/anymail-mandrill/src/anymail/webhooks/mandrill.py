"""Mandrill's webhooks (message events, sync events and inbound routes), as one
Anymail webhook view.

Mandrill posts batches of up to 1,000 events as one form field, ``mandrill_events``
(a JSON array), to the URL of a tracking webhook or an inbound route. Unlike
Anymail's other ESPs, one URL takes both kinds: each event goes to the ``tracking``
or the ``inbound`` signal according to its kind.

Signing (https://mandrill.zendesk.com/hc/en-us/articles/360039232513-How-to-Authenticate-Webhook-Requests):
``X-Mandrill-Signature`` is base64(HMAC-SHA1(webhook key, URL + each POST parameter's
name and value, sorted by name)), where URL is the webhook URL exactly as entered in
Mandrill (with any ``user:password@`` basic auth credentials). Each webhook and each
inbound route has its own key: ``MANDRILL_WEBHOOK_KEY`` may list several.

Replay protection: the signature covers no timestamp or nonce, so there is no
staleness window to enforce. A signature is accepted once: the same signed request
again within 24 hours (the replay store's memory) is acknowledged (200) and not
signalled again. (Anymail's base view also remembers each event, by the digest of its
raw data, for the ESP's retry window: Mandrill gives events no id of their own.)

Malformed input: ``mandrill_events`` that isn't a JSON array of objects, that nests
deeper than :data:`MAX_NESTING` levels (no Mandrill payload comes close; the parser,
and code after it, recurse), or whose events have values of the wrong type, raises
``ValueError``: the view answers 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.dispatch import Signal
from django.http import HttpRequest, QueryDict

from anymail.esps.mandrill import ESP
from anymail.events import AnymailEvent, AnymailInboundEvent, AnymailTrackingEvent
from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.features import EventType, RejectReason
from anymail.inbound import AnymailInboundMessage
from anymail.settings import UNSET, get_anymail_setting
from anymail.signals import inbound, tracking
from anymail.webhooks.base import AnymailBaseWebhookView

__all__ = [
    "EVENT_TYPE_MAP",
    "MANDRILL_TEST_WEBHOOK_KEY",
    "MAX_NESTING",
    "MandrillCombinedWebhookView",
    "inbound_event",
    "inbound_events",
    "load_events",
    "sign",
    "tracking_event",
    "tracking_events",
    "webhook_events",
]

#: Mandrill message event names → normalized event types.
EVENT_TYPE_MAP: Final = {
    "send": EventType.SENT,
    "deferral": EventType.DEFERRED,
    # Anymail 0.9 and later: a soft bounce is a bounce too (Mandrill stops trying).
    "hard_bounce": EventType.BOUNCED,
    "soft_bounce": EventType.BOUNCED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "spam": EventType.COMPLAINED,
    "unsub": EventType.UNSUBSCRIBED,
    "reject": EventType.REJECTED,
}

#: Mandrill events whose reason Anymail can normalize (reject events carry none).
REJECT_REASON_MAP: Final = {
    "hard_bounce": RejectReason.BOUNCED,
    "soft_bounce": RejectReason.BOUNCED,
}

#: Djrill's webhook settings, with the 6.0 docs' migration advice.
DJRILL_WEBHOOK_SETTINGS: Final = {
    "DJRILL_WEBHOOK_SECRET": "Anymail uses HTTP basic auth instead: set ANYMAIL_WEBHOOK_SECRET "
    "and put it in the webhook URL (https://user:password@yoursite.example.com/...).",
    "DJRILL_WEBHOOK_SECRET_NAME": "Anymail uses HTTP basic auth instead: set "
    "ANYMAIL_WEBHOOK_SECRET and put it in the webhook URL.",
    "DJRILL_WEBHOOK_SIGNATURE_KEY": "Use ANYMAIL_MANDRILL_WEBHOOK_KEY instead.",
    "DJRILL_WEBHOOK_URL": "It is usually no longer needed (Anymail builds the URL with "
    "request.build_absolute_uri; adjust SECURE_PROXY_SSL_HEADER, USE_X_FORWARDED_HOST or "
    "USE_X_FORWARDED_PORT for your proxy); if it still is, use ANYMAIL_MANDRILL_WEBHOOK_URL.",
}

#: The key Mandrill signs its URL-check post with (``mandrill_events=[]``, sent when a
#: new webhook URL doesn't answer its HEAD request), before the URL has a key of its own.
MANDRILL_TEST_WEBHOOK_KEY: Final = "test-webhook"

# RFC 3986 userinfo characters that need no percent-encoding.
_USERINFO_SAFE = "!$&'()*+,;=-._~"

#: The deepest nesting of arrays and objects ``mandrill_events`` may have. Mandrill's
#: own payloads nest about six levels (an inbound message's spam report rules); a
#: deeper batch is refused as malformed before anything recurses over it.
MAX_NESTING: Final = 100

# A JSON empty array, with any JSON whitespace around and inside it.
_EMPTY_ARRAY = re.compile(r"[ \t\n\r]*\[[ \t\n\r]*\][ \t\n\r]*")


# ---------------------------------------------------------------------------
# Signing


def sign(key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Mandrill's signature of a POST: base64(HMAC-SHA1(key, url + name + value ...)),
    parameters sorted by name (repeated names keep their order)."""
    signed = url + "".join(name + value for name, value in sorted(params, key=lambda p: p[0]))
    digest = hmac.new(key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def form_params(fields: QueryDict) -> list[tuple[str, str]]:
    """Every (name, value) of a form post."""
    return [(name, value) for name, values in fields.lists() for value in values]


def with_userinfo(url: str, credentials: str) -> list[str]:
    """``url`` with basic auth ``user:password`` put back in (as a user would type it,
    and percent-encoded), unless it has userinfo already."""
    parts = urlsplit(url)
    if not credentials or "@" in parts.netloc:
        return []
    user, sep, password = credentials.partition(":")
    encoded = quote(user, safe=_USERINFO_SAFE) + sep + quote(password, safe=_USERINFO_SAFE + ":")
    return [
        urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
        for userinfo in dict.fromkeys((credentials, encoded))
    ]


def _string_list(value: Any, setting: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return [item for item in value if item]
    raise AnymailConfigurationError(f"{setting} must be a string or a list of strings.")


# ---------------------------------------------------------------------------
# Converters: Mandrill's event dicts in, normalized events out


def _timestamp(value: Any) -> datetime | None:
    """An event's ``ts`` (epoch seconds); ValueError for anything that isn't one."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"Mandrill event ts must be a number, not {type(value).__name__}")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"Mandrill event ts is not a timestamp: {str(value)[:40]!r}") from None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def is_inbound(esp_event: dict[str, Any]) -> bool:
    return esp_event.get("event") == "inbound"


def load_events(value: str) -> Any:
    """Parse a ``mandrill_events`` form value. ValueError for text that isn't JSON, or
    that nests deeper than :data:`MAX_NESTING` levels (the parser's RecursionError
    included: a malformed payload, not a fault of ours)."""
    try:
        payload = json.loads(value)
    except RecursionError:
        raise ValueError(
            f"mandrill_events nests deeper than {MAX_NESTING} levels (too deep to parse)"
        ) from None
    if _nests_deeper_than(payload, MAX_NESTING):
        raise ValueError(f"mandrill_events nests deeper than {MAX_NESTING} levels")
    return payload


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels (walked
    without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def is_empty_batch_text(value: str) -> bool:
    """Whether a ``mandrill_events`` value is an empty JSON array (Mandrill's URL
    check), read without parsing: it is asked before the signature is known good."""
    return _EMPTY_ARRAY.fullmatch(value) is not None


def webhook_events(payload: Any) -> list[AnymailEvent]:
    """The normalized events of one post's ``mandrill_events`` array (parsed), in
    order: inbound events as AnymailInboundEvent, all others as AnymailTrackingEvent."""
    if not isinstance(payload, list):
        raise ValueError("mandrill_events must be a JSON array")
    events: list[AnymailEvent] = []
    for esp_event in payload:
        if not isinstance(esp_event, dict):
            raise ValueError(f"Mandrill event is not an object: {esp_event!r}")
        events.append(
            inbound_event(esp_event) if is_inbound(esp_event) else tracking_event(esp_event)
        )
    return events


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The tracking events of a ``mandrill_events`` array (inbound events left out)."""
    return [event for event in webhook_events(payload) if isinstance(event, AnymailTrackingEvent)]


def inbound_events(payload: Any) -> list[AnymailInboundEvent]:
    """The inbound events of a ``mandrill_events`` array (tracking events left out)."""
    return [event for event in webhook_events(payload) if isinstance(event, AnymailInboundEvent)]


def tracking_event(esp_event: dict[str, Any]) -> AnymailTrackingEvent:
    """One message event ({"event", "ts", "_id", "msg": {...}}) or sync event
    ({"type": "blacklist"|"whitelist", "action", "ts", "reject"|"entry": {...}})."""
    if "event" not in esp_event and "type" in esp_event:
        # Allowlist/denylist changes: not about a message (6.0 docs: "unknown"). The
        # description is the denylist entry's reason ("hard-bounce", "spam", "unsub",
        # "custom", ...), or, for an allowlist entry (which has none), its note.
        entry = _dict(esp_event.get("reject") or esp_event.get("entry"))
        return AnymailTrackingEvent(
            EventType.UNKNOWN,
            timestamp=_timestamp(esp_event.get("ts")),
            esp_event=esp_event,
            recipient=_str_or_none(entry.get("email")),
            description=_str_or_none(entry.get("reason")) or _str_or_none(entry.get("detail")),
        )

    mandrill_event = esp_event.get("event")
    msg = _dict(esp_event.get("msg"))
    event_type = EVENT_TYPE_MAP.get(str(mandrill_event), EventType.UNKNOWN)
    description = mta_response = None
    if mandrill_event in ("hard_bounce", "soft_bounce"):
        description = _str_or_none(msg.get("bounce_description"))
        mta_response = _str_or_none(msg.get("diag"))
    elif mandrill_event == "deferral":
        # The receiving server's latest reply.
        smtp_events = [e for e in _list(msg.get("smtp_events")) if isinstance(e, dict)]
        if smtp_events:
            mta_response = _str_or_none(smtp_events[-1].get("diag"))
    tags = msg.get("tags")
    return AnymailTrackingEvent(
        event_type,
        timestamp=_timestamp(esp_event.get("ts")),
        # Mandrill gives no id of its own to an event.
        event_id=None,
        esp_event=esp_event,
        message_id=_str_or_none(msg.get("_id")) or _str_or_none(esp_event.get("_id")),
        recipient=_str_or_none(msg.get("email")),
        reject_reason=REJECT_REASON_MAP.get(str(mandrill_event)),
        description=description,
        mta_response=mta_response,
        metadata=_dict(msg.get("metadata")),
        tags=[str(tag) for tag in tags] if isinstance(tags, list) else [],
        click_url=_str_or_none(esp_event.get("url")) if mandrill_event == "click" else None,
        user_agent=_str_or_none(esp_event.get("user_agent")),
    )


def inbound_event(esp_event: dict[str, Any]) -> AnymailInboundEvent:
    """One inbound event ({"event": "inbound", "ts", "msg": {...}}). The message is
    parsed from ``msg.raw_msg`` (the whole received message, so every header and
    attachment comes through); Mandrill's parsed fields are the fallback."""
    msg = esp_event.get("msg")
    if not isinstance(msg, dict):
        raise ValueError("Mandrill inbound event has no msg object")
    raw = msg.get("raw_msg")
    message = (
        AnymailInboundMessage.parse_raw_mime(raw)
        if isinstance(raw, str) and raw
        else message_from_fields(msg)
    )
    # The address Mandrill received it at (an inbound domain's mailbox).
    message.envelope_recipient = _str_or_none(msg.get("email"))
    return_path = message.get("Return-Path")
    if return_path:
        message.envelope_sender = (
            str(return_path).strip().removeprefix("<").removesuffix(">") or None
        )
    spam_score = _dict(msg.get("spam_report")).get("score")
    if isinstance(spam_score, int | float) and not isinstance(spam_score, bool):
        message.spam_score = float(spam_score)
    return AnymailInboundEvent(
        timestamp=_timestamp(esp_event.get("ts")), esp_event=esp_event, message=message
    )


def message_from_fields(msg: dict[str, Any]) -> AnymailInboundMessage:
    """Rebuild a message from Mandrill's parsed inbound fields (when there is no raw_msg)."""
    headers = []
    for name, value in _dict(msg.get("headers")).items():
        for item in value if isinstance(value, list) else [value]:
            headers.append((str(name), str(item)))
    from_email = _str_or_none(msg.get("from_email"))
    if from_email and _str_or_none(msg.get("from_name")):
        from_email = f'"{msg["from_name"]}" <{from_email}>'
    to = ", ".join(
        f'"{pair[1]}" <{pair[0]}>' if len(pair) > 1 and pair[1] else str(pair[0])
        for pair in _list(msg.get("to"))
        if isinstance(pair, list | tuple) and pair
    )
    attachments = []
    for kind in ("attachments", "images"):
        for name, item in _dict(msg.get(kind)).items():
            item = _dict(item)
            content = item.get("content") or ""
            if not isinstance(content, str):
                raise ValueError(f"Mandrill inbound {kind}[{name!r}].content must be a string")
            if item.get("base64"):
                content = base64.b64decode(content)
            attachments.append(
                AnymailInboundMessage.construct_attachment(
                    content_type=str(item.get("type") or "application/octet-stream"),
                    content=content,
                    filename=str(item.get("name") or name),
                    content_id=str(item.get("name") or name) if kind == "images" else None,
                )
            )
    return AnymailInboundMessage.construct(
        headers=headers,
        from_email=from_email,
        to=to or None,
        subject=_str_or_none(msg.get("subject")),
        text=_str_or_none(msg.get("text")),
        html=_str_or_none(msg.get("html")),
        attachments=attachments,
    )


# ---------------------------------------------------------------------------
# The view


class MandrillCombinedWebhookView(AnymailBaseWebhookView):
    """Mandrill's tracking webhooks and inbound routes, at ``mandrill/`` (and the
    older ``mandrill/tracking/``)."""

    esp = ESP
    #: (each event goes on the signal for its kind: see signal_for)
    signal = tracking
    # Mandrill signs its posts, so WEBHOOK_SECRET basic auth is optional.

    # as_view() overrides of the settings
    webhook_key: Any = UNSET
    webhook_url: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        for name, advice in DJRILL_WEBHOOK_SETTINGS.items():
            if hasattr(settings, name):
                raise AnymailConfigurationError(
                    f"The Djrill setting {name} is not used by Anymail. {advice} Then remove "
                    "it from your settings. (See 'Migrating from Djrill' in the "
                    "anymail-mandrill README.)"
                )
        # Not required here: HEAD (Mandrill's URL check) works before you have a key.
        self.webhook_keys = _string_list(
            get_anymail_setting("webhook_key", esp_name=self.esp_id, kwargs=kwargs, default=None),
            "MANDRILL_WEBHOOK_KEY",
        )
        self.webhook_urls = _string_list(
            get_anymail_setting("webhook_url", esp_name=self.esp_id, kwargs=kwargs, default=None),
            "MANDRILL_WEBHOOK_URL",
        )
        return {}

    @property
    def signal_name(self) -> str:
        return "tracking/inbound"

    def signal_for(self, event: AnymailEvent) -> Signal:
        """Inbound events on ``anymail.signals.inbound``, every other on ``tracking``."""
        return inbound if isinstance(event, AnymailInboundEvent) else tracking

    # --- reading the request ---

    def read_payload(self, request: HttpRequest) -> QueryDict:
        """The form fields Mandrill posted; ``mandrill_events`` holds the batch."""
        if request.content_type not in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            raise ValueError(f"unexpected content type {request.content_type!r}")
        fields = request.POST
        if "mandrill_events" not in fields:
            raise ValueError("Mandrill posts its events in a mandrill_events field")
        return fields

    def validate_esp(self, request: HttpRequest, payload: QueryDict) -> None:
        # Mailchimp's support has called the header X-Mailchimp-Signature too
        # (reddit.com/r/MailChimp/comments/1lxef33/audience_webhooks_no_signature): take either.
        signature = request.headers.get("X-Mandrill-Signature") or request.headers.get(
            "X-Mailchimp-Signature", ""
        )
        if not signature:
            raise AnymailWebhookValidationFailure(
                "Mandrill webhook called without an X-Mandrill-Signature header"
            )
        params = form_params(payload)
        urls = self.signed_urls(request)
        if self.verify(signature, self.webhook_keys, urls, params):
            pass
        elif self.is_empty_batch(payload) and self.verify(
            signature, [MANDRILL_TEST_WEBHOOK_KEY], urls, params
        ):
            return  # Mandrill's URL check: no events, nothing to protect
        elif not self.webhook_keys:
            raise AnymailConfigurationError(
                "Mandrill webhooks need your webhook key: set ANYMAIL = "
                '{"MANDRILL_WEBHOOK_KEY": "<key>"} (or ANYMAIL_MANDRILL_WEBHOOK_KEY) to the '
                "key Mandrill shows for this webhook or inbound route."
            )
        else:
            shown = self.webhook_urls or [request.build_absolute_uri()]
            raise AnymailWebhookValidationFailure(
                "Mandrill webhook called with an invalid X-Mandrill-Signature. Anymail checked "
                f"it for the URL {' or '.join(map(repr, (_without_userinfo(u) for u in shown)))} "
                "(with and without the request's basic auth credentials) and "
                f"{len(self.webhook_keys)} MANDRILL_WEBHOOK_KEY key(s). If that isn't the URL "
                "you gave Mandrill, check SECURE_PROXY_SSL_HEADER, USE_X_FORWARDED_HOST and "
                "USE_X_FORWARDED_PORT, or set MANDRILL_WEBHOOK_URL to it."
            )
        if not self.is_empty_batch(payload):
            # No staleness window (see the module docstring): a signature is accepted once.
            self.check_replay(0, signature, tolerance=None)

    def signed_urls(self, request: HttpRequest) -> list[str]:
        """The URLs Mandrill may have signed: MANDRILL_WEBHOOK_URL, or the URL this
        request came to; each also with the request's basic auth credentials in it
        (a URL entered as https://user:password@host/... is signed that way)."""
        credentials = self._request_credentials(request)
        urls = []
        for url in self.webhook_urls or [request.build_absolute_uri()]:
            urls += [url, *with_userinfo(url, credentials)]
        return list(dict.fromkeys(urls))

    @staticmethod
    def verify(
        signature: str, keys: Sequence[str], urls: Sequence[str], params: list[tuple[str, str]]
    ) -> bool:
        """Whether any key signed the post for any of the URLs (constant-time
        comparisons, no early exit)."""
        given = signature.strip().encode("utf-8", errors="replace")
        matched = False
        for key in keys:
            for url in urls:
                matched |= hmac.compare_digest(sign(key, url, params).encode("ascii"), given)
        return matched

    @staticmethod
    def is_empty_batch(payload: QueryDict) -> bool:
        return is_empty_batch_text(payload["mandrill_events"])

    # --- converting ---

    def parse_events(self, request: HttpRequest, payload: QueryDict) -> list[AnymailEvent]:
        return webhook_events(load_events(payload["mandrill_events"]))


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
