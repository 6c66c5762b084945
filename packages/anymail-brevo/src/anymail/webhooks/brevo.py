"""SendinBlue's (Brevo's) transactional webhook, as an Anymail tracking webhook view.

Brevo posts one JSON object per event, or (for a webhook created with
``"batched": true``) a JSON array of them. The format is documented at
https://developers.brevo.com/docs/transactional-webhooks. Brevo doesn't sign its
webhooks: authenticate them with Anymail's ``WEBHOOK_SECRET`` basic auth, which
Brevo sends when it is in the webhook URL (``https://user:pass@host/...``).

Brevo retries a post only when the answer is 429 or there is none
(https://developers.brevo.com/docs/retry-mechanism): the ESP description declares
429 as the answer to a fault on our side, and every malformed payload must raise
ValueError (answered 400, which Brevo doesn't retry).

SendinBlue has no inbound webhook in Anymail (6.0 docs): only the tracking route.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest

from anymail.esps.sendinblue import ESP
from anymail.events import AnymailTrackingEvent
from anymail.features import EventType, RejectReason
from anymail.webhooks.base import AnymailBaseWebhookView, AnymailTrackingWebhookView

__all__ = [
    "EVENT_TYPE_MAP",
    "REJECT_REASON_MAP",
    "SendinBlueTrackingWebhookView",
    "tracking_events",
]

#: Brevo's ``event`` values (snake_case; not the camelCase names used to subscribe)
#: → normalized event types.
EVENT_TYPE_MAP = {
    "request": EventType.QUEUED,  # "Sent": Brevo accepted the message
    "delivered": EventType.DELIVERED,
    "hard_bounce": EventType.BOUNCED,
    "soft_bounce": EventType.BOUNCED,
    "deferred": EventType.DEFERRED,
    "blocked": EventType.REJECTED,
    "invalid_email": EventType.REJECTED,
    "error": EventType.FAILED,  # "An error occurred during the mail transfer"
    "spam": EventType.COMPLAINED,
    # "First opening" and "Opened" both fire on a message's first open (6.0 docs:
    # enable only one of them); proxy opens (mail privacy proxies) came later.
    "unique_opened": EventType.OPENED,
    "opened": EventType.OPENED,
    "unique_proxy_open": EventType.OPENED,
    "proxy_open": EventType.OPENED,
    "click": EventType.CLICKED,
    # Brevo's posts (and its changelog) say "unsubscribe"; its samples "unsubscribed".
    "unsubscribe": EventType.UNSUBSCRIBED,
    "unsubscribed": EventType.UNSUBSCRIBED,
}

#: Brevo events → normalized reject reasons (bounces, rejections and complaints).
REJECT_REASON_MAP = {
    "hard_bounce": RejectReason.BOUNCED,
    "soft_bounce": RejectReason.BOUNCED,
    "blocked": RejectReason.BLOCKED,
    "invalid_email": RejectReason.INVALID,
    "spam": RejectReason.SPAM,
}

#: The fields that may carry the event's time, most reliable first. Only ``ts_epoch``
#: (milliseconds) has been reliably UTC: ``ts`` and ``ts_event`` (seconds) have
#: followed the account's time zone and daylight saving time, hours off, though
#: Brevo documents ``ts_event`` as UTC. (``date``, local time as text, isn't used.)
TIMESTAMP_FIELDS = ("ts_epoch", "ts_event", "ts")

#: ``ts_epoch`` is documented in milliseconds but some of Brevo's samples give
#: seconds: a value above this (in 1973 as seconds) is milliseconds.
_MILLISECONDS_FROM = 10**11


# --- tracking: payload in, events out


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The normalized events of one post: a single event object, or a batched array.

    Raises ValueError for anything else (the view answers 400)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise ValueError("SendinBlue webhook post has no events")
    return [tracking_event(item) for item in items]


def tracking_event(data: Any) -> AnymailTrackingEvent:
    if not isinstance(data, Mapping) or not isinstance(data.get("event"), str):
        raise ValueError("a SendinBlue webhook event is a JSON object with an 'event' field")
    brevo_event = data["event"]
    return AnymailTrackingEvent(
        event_type=EVENT_TYPE_MAP.get(brevo_event, EventType.UNKNOWN),
        timestamp=event_timestamp(data),
        # Brevo's "id" is the webhook's id, the same for every event: not an event id.
        # The view gives the event a digest of its raw JSON, the same when Brevo
        # posts it again.
        event_id=None,
        esp_event=data,
        message_id=bracketed(_text(data.get("message-id"), "message-id")),
        recipient=_text(data.get("email"), "email"),
        reject_reason=REJECT_REASON_MAP.get(brevo_event),
        # Brevo's explanation of a bounce or deferral; it gives no raw SMTP response.
        description=_text(data.get("reason"), "reason"),
        mta_response=None,
        metadata=event_metadata(data),
        tags=event_tags(data),
        click_url=_text(data.get("link"), "link"),
        user_agent=_text(data.get("user_agent"), "user_agent"),
    )


def event_timestamp(data: Mapping[str, Any]) -> datetime | None:
    """When the event happened, in UTC: ``ts_epoch`` (milliseconds), the one field
    that is reliably UTC; else ``ts_event``, else ``ts`` (seconds)."""
    for field in TIMESTAMP_FIELDS:
        value = data.get(field)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"SendinBlue webhook {field} is not a timestamp: {value!r}")
        try:
            seconds = float(value)
            if field == "ts_epoch" and abs(seconds) > _MILLISECONDS_FROM:
                seconds /= 1000
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError) as err:  # infinite, or no such year
            raise ValueError(f"SendinBlue webhook {field} is out of range: {value!r}") from err
    return None


def bracketed(message_id: str | None) -> str | None:
    """Brevo's send API gives message ids as "<id@host>", its webhooks without the
    brackets: normalize to the send API's form, so events match
    ``anymail_status.message_id``. (An id that isn't an address-like "x@y", such as
    the "an#..." ids of some newer events, is left as it is.)"""
    if not message_id:
        return None
    message_id = message_id.strip()
    if message_id.startswith("<") or "@" not in message_id:
        return message_id
    return f"<{message_id}>"


def event_metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    """The message's metadata: the X-Mailin-custom header Anymail sent, a JSON object.

    Brevo returns the header as it was sent; a value that isn't a JSON object (set
    by other software) gives no metadata, and stays in ``esp_event``."""
    raw = next(
        (value for name, value in data.items() if str(name).lower() == "x-mailin-custom"), None
    )
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        metadata = json.loads(raw)
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def event_tags(data: Mapping[str, Any]) -> list[str]:
    """The message's tags: the ``tags`` array, else ``tag``, which some events give as
    a JSON-encoded array in a string (and older ones as a single tag)."""
    tags = data.get("tags")
    if tags is None or tags == "":
        tags = data.get("tag")
        if isinstance(tags, str) and tags.startswith("["):
            with contextlib.suppress(ValueError):  # else a tag that starts with "["
                tags = json.loads(tags)
    if tags is None or tags == "":
        return []
    if isinstance(tags, str):
        return [tags]
    if not isinstance(tags, list):
        raise ValueError(f"SendinBlue webhook tags are not a list: {tags!r}")
    return [str(tag) for tag in tags if isinstance(tag, str | int | float) and tag != ""]


def _text(value: Any, field: str) -> str | None:
    """A string field of the event ("" means absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"SendinBlue webhook {field} is not a string: {value!r}")


# ---------------------------------------------------------------------------
# Views


class SendinBlueWebhookView(AnymailBaseWebhookView):
    """Reading a Brevo post: a JSON body (no signature; basic auth is the base's)."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> Any:
        """The JSON value Brevo posted (an object, or an array when batched)."""
        if request.content_type != "application/json":
            raise ValueError(f"SendinBlue posts JSON, not {request.content_type!r}")
        try:
            return json.loads(request.body.decode("utf-8"))
        except RecursionError as err:
            raise ValueError("SendinBlue webhook JSON is nested too deeply") from err

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        items = payload if isinstance(payload, list) else [payload]
        if items and all(isinstance(item, dict) and "event" not in item for item in items):
            return (
                "This is not a SendinBlue (Brevo) transactional webhook event (it has no "
                "'event' field). Anymail handles only Brevo's transactional webhooks "
                "(Transactional > Settings > Webhook), not its marketing or inbound webhooks."
            )
        return None


class SendinBlueTrackingWebhookView(SendinBlueWebhookView, AnymailTrackingWebhookView):
    """Brevo's transactional webhook (every event type), single or batched."""

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailTrackingEvent]:
        return tracking_events(payload)
