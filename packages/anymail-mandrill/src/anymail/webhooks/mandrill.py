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
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.dispatch import Signal
from django.http import HttpRequest, QueryDict

from anymail.esps.mandrill import ESP
from anymail.events import (
    AnymailEvent,
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
)
from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.inbound import AnymailInboundMessage
from anymail.settings import UNSET, get_anymail_setting, string_list
from anymail.signals import inbound, tracking
from anymail.webhooks import readers
from anymail.webhooks.base import AnymailBaseWebhookView
from anymail.webhooks.signing import (
    HmacScheme,
    basic_auth_credentials,
    read_signing_keys,
    signature_header,
    signed_text,
)

__all__ = [
    "EVENT_TYPE_MAP",
    "MANDRILL_SIGNATURE",
    "MANDRILL_TEST_WEBHOOK_KEY",
    "MAX_NESTING",
    "MandrillCombinedWebhookView",
    "inbound_events",
    "load_events",
    "sign",
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

#: X-Mandrill-Signature: base64 of an HMAC-SHA1 (see :func:`mandrill_signed_text`).
MANDRILL_SIGNATURE: Final = HmacScheme("sha1", "base64")

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
# Converters: Mandrill's event dicts in, normalized events out


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The tracking events of a ``mandrill_events`` array (inbound events left out)."""
    return [event for event in webhook_events(payload) if isinstance(event, AnymailTrackingEvent)]


def inbound_events(payload: Any) -> list[AnymailInboundEvent]:
    """The inbound events of a ``mandrill_events`` array (tracking events left out)."""
    return [event for event in webhook_events(payload) if isinstance(event, AnymailInboundEvent)]


def webhook_events(payload: Any) -> list[AnymailEvent]:
    """The normalized events of one post's ``mandrill_events`` array (parsed), in
    order: inbound events as AnymailInboundEvent, all others as AnymailTrackingEvent."""
    if not isinstance(payload, list):
        raise readers.MalformedPayload("mandrill_events must be a JSON array")
    events: list[AnymailEvent] = []
    for index, item in enumerate(payload):
        esp_event = readers.mapping(item, f"mandrill_events[{index}]", allow_none=False)
        if esp_event.get("event") == "inbound":
            events.append(mandrill_inbound_event(esp_event))
        elif "event" not in esp_event and "type" in esp_event:
            events.append(mandrill_sync_event(esp_event))
        else:
            events.append(mandrill_message_event(esp_event))
    return events


def mandrill_sync_event(esp_event: Any) -> AnymailTrackingEvent:
    """An allowlist/denylist change ({"type": "blacklist"|"whitelist", "action", "ts",
    "reject"|"entry": {...}}): not about a message (6.0 docs: "unknown"). The
    description is the denylist entry's reason ("hard-bounce", "spam", "unsub",
    "custom", ...), or, for an allowlist entry (which has none), its note."""
    entry = readers.lenient(
        readers.mapping, esp_event.get("reject") or esp_event.get("entry"), "sync entry", {}
    )
    return AnymailTrackingEvent(
        EventType.UNKNOWN,
        timestamp=readers.epoch_timestamp(esp_event.get("ts"), "Mandrill event ts"),
        esp_event=esp_event,
        recipient=readers.lenient(readers.optional_text, entry.get("email"), "email"),
        description=(
            readers.lenient(readers.optional_text, entry.get("reason"), "reason")
            or readers.lenient(readers.optional_text, entry.get("detail"), "detail")
        ),
    )


def mandrill_message_event(esp_event: Any) -> AnymailTrackingEvent:
    """A message event ({"event", "ts", "_id", "msg": {...}})."""
    mandrill_event = esp_event.get("event")
    msg = readers.lenient(readers.mapping, esp_event.get("msg"), "msg", {})

    def msg_text(key: str) -> str | None:
        return readers.lenient(readers.optional_text, msg.get(key), f"msg.{key}")

    event_type = EVENT_TYPE_MAP.get(str(mandrill_event), EventType.UNKNOWN)
    description = mta_response = None
    if mandrill_event in ("hard_bounce", "soft_bounce"):
        description = msg_text("bounce_description")
        mta_response = msg_text("diag")
    elif mandrill_event == "deferral":
        # The receiving server's latest reply.
        smtp_events = [
            item
            for item in readers.lenient(readers.list_of, msg.get("smtp_events"), "smtp_events", [])
            if isinstance(item, dict)
        ]
        if smtp_events:
            mta_response = readers.lenient(
                readers.optional_text, smtp_events[-1].get("diag"), "diag"
            )
    event_text = {
        key: readers.lenient(readers.optional_text, esp_event.get(key), key)
        for key in ("_id", "url", "user_agent")
    }
    return AnymailTrackingEvent(
        event_type,
        timestamp=readers.epoch_timestamp(esp_event.get("ts"), "Mandrill event ts"),
        # Mandrill gives no id of its own to an event.
        event_id=None,
        esp_event=esp_event,
        message_id=msg_text("_id") or event_text["_id"],
        recipient=msg_text("email"),
        reject_reason=REJECT_REASON_MAP.get(str(mandrill_event)),
        description=description,
        mta_response=mta_response,
        metadata=dict(readers.lenient(readers.mapping, msg.get("metadata"), "metadata", {})),
        tags=[str(tag) for tag in readers.lenient(readers.list_of, msg.get("tags"), "tags", [])],
        click_url=event_text["url"] if mandrill_event == "click" else None,
        user_agent=event_text["user_agent"],
    )


def mandrill_inbound_event(esp_event: Any) -> AnymailInboundEvent:
    """An inbound event ({"event": "inbound", "ts", "msg": {...}}). The message is
    parsed from ``msg.raw_msg`` (the whole received message, so every header and
    attachment comes through); Mandrill's parsed fields are the fallback."""
    msg = readers.mapping(esp_event.get("msg"), "Mandrill inbound event msg", allow_none=False)
    raw = msg.get("raw_msg")
    message = (
        AnymailInboundMessage.parse_raw_mime(raw)
        if isinstance(raw, str) and raw
        else message_from_mandrill_fields(msg)
    )
    # The address Mandrill received it at (an inbound domain's mailbox).
    message.envelope_recipient = readers.lenient(readers.optional_text, msg.get("email"), "email")
    return_path = message.get("Return-Path")
    if return_path:
        message.envelope_sender = (
            str(return_path).strip().removeprefix("<").removesuffix(">") or None
        )
    spam_report = readers.lenient(readers.mapping, msg.get("spam_report"), "spam_report", {})
    spam_score = spam_report.get("score")
    if isinstance(spam_score, int | float) and not isinstance(spam_score, bool):
        message.spam_score = float(spam_score)
    return AnymailInboundEvent(
        timestamp=readers.epoch_timestamp(esp_event.get("ts"), "Mandrill event ts"),
        esp_event=esp_event,
        message=message,
    )


def message_from_mandrill_fields(msg: Any) -> AnymailInboundMessage:
    """Rebuild a message from Mandrill's parsed inbound fields (when there is no raw_msg)."""

    def msg_text(key: str) -> str | None:
        return readers.lenient(readers.optional_text, msg.get(key), f"msg.{key}")

    headers = []
    for name, value in readers.lenient(readers.mapping, msg.get("headers"), "headers", {}).items():
        for item in value if isinstance(value, list) else [value]:
            headers.append((str(name), str(item)))
    from_email = msg_text("from_email")
    if from_email and msg_text("from_name"):
        from_email = f'"{msg["from_name"]}" <{from_email}>'
    to = ", ".join(
        f'"{pair[1]}" <{pair[0]}>' if len(pair) > 1 and pair[1] else str(pair[0])
        for pair in readers.lenient(readers.list_of, msg.get("to"), "to", [])
        if isinstance(pair, list | tuple) and pair
    )
    attachments = []
    for kind in ("attachments", "images"):
        for name, entry in readers.lenient(readers.mapping, msg.get(kind), kind, {}).items():
            item = readers.lenient(readers.mapping, entry, f"{kind}[{name!r}]", {})
            content: str | bytes = readers.text(
                item.get("content") or "", f"Mandrill inbound {kind}[{name!r}].content"
            )
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
        subject=msg_text("subject"),
        text=msg_text("text"),
        html=msg_text("html"),
        attachments=attachments,
    )


def load_events(value: str) -> Any:
    """Parse a ``mandrill_events`` form value. ValueError for text that isn't JSON, or
    that nests deeper than :data:`MAX_NESTING` levels (the parser's RecursionError
    included: a malformed payload, not a fault of ours)."""
    payload = readers.json_text(value, "mandrill_events")
    if _nests_deeper_than(payload, MAX_NESTING):
        raise readers.MalformedPayload(f"mandrill_events nests deeper than {MAX_NESTING} levels")
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


# ---------------------------------------------------------------------------
# Signing: what Mandrill signs (the view checks it with MANDRILL_SIGNATURE)


def mandrill_signed_text(url: str, params: Iterable[tuple[str, str]]) -> bytes:
    """What Mandrill signs for a POST: the URL, then each parameter's name and value,
    sorted by name (repeated names keep their order)."""
    return signed_text(
        url + "".join(name + value for name, value in sorted(params, key=lambda p: p[0])),
        "Mandrill's webhook URL and parameters",
    )


def sign(key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Mandrill's X-Mandrill-Signature of a POST to ``url`` (to sign test requests)."""
    return MANDRILL_SIGNATURE.sign(key, mandrill_signed_text(url, params))


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


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` taken out (to show it in an error)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def is_empty_batch_text(value: str) -> bool:
    """Whether a ``mandrill_events`` value is an empty JSON array (Mandrill's URL
    check), read without parsing: it is asked before the signature is known good."""
    return _EMPTY_ARRAY.fullmatch(value) is not None


# ---------------------------------------------------------------------------
# The view


class MandrillCombinedWebhookView(AnymailBaseWebhookView):
    """Mandrill's tracking webhooks and inbound routes, at ``mandrill/`` (and the
    older ``mandrill/tracking/``)."""

    esp = ESP
    #: (each event goes on the signal for its kind: see signal_for)
    signal = tracking

    # as_view() overrides of the settings
    webhook_key: Any = UNSET
    webhook_url: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> None:
        for name, advice in DJRILL_WEBHOOK_SETTINGS.items():
            if hasattr(settings, name):
                raise AnymailConfigurationError(
                    f"The Djrill setting {name} is not used by Anymail. {advice} Then remove "
                    "it from your settings. (See 'Migrating from Djrill' in the "
                    "anymail-mandrill README.)"
                )
        # Not required here: HEAD (Mandrill's URL check) works before you have a key.
        self.webhook_keys = read_signing_keys("webhook_key", self.esp_id, kwargs)
        self.webhook_urls = string_list(
            get_anymail_setting("webhook_url", esp_name=self.esp_id, kwargs=kwargs, default=None),
            "MANDRILL_WEBHOOK_URL",
            "a URL",
        )

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
        signature = signature_header(request, "X-Mandrill-Signature", "X-Mailchimp-Signature")
        if not signature:
            raise AnymailWebhookValidationFailure(
                "Mandrill webhook called without an X-Mandrill-Signature header"
            )
        params = form_params(payload)
        signed = [mandrill_signed_text(url, params) for url in self.signed_urls(request)]
        if MANDRILL_SIGNATURE.verify(self.webhook_keys, signed, [signature]):
            pass
        elif self.is_empty_batch(payload) and MANDRILL_SIGNATURE.verify(
            [MANDRILL_TEST_WEBHOOK_KEY], signed, [signature]
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
                f"it for the URL {' or '.join(map(repr, (without_userinfo(u) for u in shown)))} "
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
        credentials = basic_auth_credentials(request)
        urls = []
        for url in self.webhook_urls or [request.build_absolute_uri()]:
            urls += [url, *with_userinfo(url, credentials)]
        return list(dict.fromkeys(urls))

    @staticmethod
    def is_empty_batch(payload: QueryDict) -> bool:
        return is_empty_batch_text(payload["mandrill_events"])

    # --- converting ---

    def parse_events(self, request: HttpRequest, payload: QueryDict) -> list[AnymailEvent]:
        return webhook_events(load_events(payload["mandrill_events"]))
