"""Brevo's transactional and inbound parsing webhooks, as Anymail webhook views.

Tracking: Brevo's transactional webhook posts one JSON object per event, or (for a
webhook created with ``"batched": true``) a JSON array of them
(https://developers.brevo.com/docs/transactional-webhooks).

Inbound: Brevo's inbound parsing webhook posts ``{"items": [...]}``, one item per
received email, already parsed: headers, bodies, Brevo's Markdown extraction of the
reply, and each attachment's name, type and download token (not its content)
(https://developers.brevo.com/docs/inbound-parse-webhooks). An attachment's content
is downloaded from Brevo's API the first time it is read.

Brevo signs neither: authenticate them with Anymail's ``WEBHOOK_SECRET`` basic auth,
which Brevo sends when it is in the webhook URL (``https://user:pass@host/...``).

Brevo retries a post only when the answer is 429 or there is none
(https://developers.brevo.com/docs/retry-mechanism): the ESP description declares
429 as the answer to a fault on our side, and every malformed payload must raise
ValueError (answered 400, which Brevo doesn't retry).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from datetime import datetime
from email import policy as email_policy
from typing import Any, ClassVar
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from anymail.addresses import EmailAddress
from anymail.backends.brevo import EmailBackend, brevo_setting
from anymail.esps.brevo import ESP, LEGACY_SETTINGS_PREFIX
from anymail.events import (
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
)
from anymail.exceptions import AnymailAPIError, AnymailConfigurationError
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
    "BrevoInboundAttachment",
    "BrevoInboundWebhookView",
    "BrevoTrackingWebhookView",
    "brevo_post_kind",
    "download_inbound_attachment",
    "inbound_events",
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


# --- which kind of post: Brevo's webhooks share nothing but JSON

#: The 400 answer to each kind of post (brevo_post_kind) at a URL that doesn't take
#: it, with the paths of this site's {tracking_url} and {inbound_url}.
MISDIRECTED_POSTS = {
    "inbound": (
        "This is a Brevo inbound parsing post, sent to Anymail's tracking webhook "
        "URL: give Brevo's inbound webhook {inbound_url} instead."
    ),
    "marketing": (
        "This is not a Brevo transactional webhook event (it has no 'event' "
        "field). Anymail's tracking URL handles Brevo's transactional webhooks "
        "(Transactional > Settings > Webhook), not its marketing webhooks."
    ),
    "tracking": (
        "This is a Brevo transactional webhook event, sent to Anymail's inbound "
        "webhook URL: give Brevo's transactional webhook {tracking_url} instead."
    ),
}


def brevo_post_kind(payload: Any) -> str | None:
    """What a post is, from its shape: "inbound" (an inbound parsing post,
    ``{"items": [...]}``), "tracking" (transactional events, each with an ``event``),
    "marketing" (objects without ``event``: Brevo's marketing webhooks), or None
    (none of these: the converter says what is wrong with it)."""
    if isinstance(payload, dict) and "items" in payload and "event" not in payload:
        return "inbound"
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if all("event" in item for item in items):
        return "tracking"
    if not any("event" in item for item in items):
        return "marketing"
    return None


# --- tracking: payload in, events out


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The normalized events of one post: a single event object, or a batched array.

    Raises ValueError for anything else (the view answers 400)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise readers.MalformedPayload("Brevo webhook post has no events")
    return [transactional_event(item) for item in items]


def transactional_event(data: Any) -> AnymailTrackingEvent:
    """One event object of Brevo's transactional webhook, normalized."""
    if not isinstance(data, Mapping) or not isinstance(data.get("event"), str):
        raise readers.MalformedPayload(
            "a Brevo webhook event is a JSON object with an 'event' field"
        )
    brevo_event = data["event"]
    return AnymailTrackingEvent(
        event_type=EVENT_TYPE_MAP.get(brevo_event, EventType.UNKNOWN),
        timestamp=transactional_timestamp(data),
        # Brevo's "id" is the webhook's id, the same for every event: not an event id.
        # The view gives the event a digest of its raw JSON, the same when Brevo
        # posts it again.
        event_id=None,
        esp_event=data,
        message_id=send_api_message_id(
            readers.optional_text(data.get("message-id"), "Brevo webhook message-id", numbers=True)
        ),
        recipient=readers.optional_text(data.get("email"), "Brevo webhook email", numbers=True),
        reject_reason=REJECT_REASON_MAP.get(brevo_event),
        # Brevo's explanation of a bounce or deferral; it gives no raw SMTP response.
        description=readers.optional_text(data.get("reason"), "Brevo webhook reason", numbers=True),
        mta_response=None,
        metadata=mailin_custom_metadata(data),
        tags=transactional_tags(data),
        click_url=readers.optional_text(data.get("link"), "Brevo webhook link", numbers=True),
        user_agent=readers.optional_text(
            data.get("user_agent"), "Brevo webhook user_agent", numbers=True
        ),
    )


def transactional_timestamp(data: Mapping[str, Any]) -> datetime | None:
    """When the event happened, in UTC: ``ts_epoch`` (milliseconds), the one field
    that is reliably UTC; else ``ts_event``, else ``ts`` (seconds)."""
    for field in TIMESTAMP_FIELDS:
        value = data.get(field)
        if value is None or value == "":
            continue
        scale = 1000 if field == "ts_epoch" and _beyond_seconds(value) else 1
        return readers.epoch_timestamp(value, f"Brevo webhook {field}", scale=scale)
    return None


def _beyond_seconds(value: Any) -> bool:
    """Whether a ``ts_epoch`` is too large for seconds (so it is milliseconds).
    (Something that isn't a number is left to epoch_timestamp to refuse.)"""
    try:
        return abs(float(value)) > _MILLISECONDS_FROM
    except (TypeError, ValueError, OverflowError):
        return False


def send_api_message_id(message_id: str | None) -> str | None:
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


def mailin_custom_metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    """The message's metadata: the X-Mailin-custom header Anymail sent, a JSON object.

    Brevo returns the header as it was sent; a value that isn't a JSON object (set
    by other software) gives no metadata, and stays in ``esp_event``."""
    raw = next(
        (value for name, value in data.items() if str(name).lower() == "x-mailin-custom"), None
    )
    metadata = readers.lenient(readers.json_text, raw, "X-Mailin-custom")
    return metadata if isinstance(metadata, dict) else {}


def transactional_tags(data: Mapping[str, Any]) -> list[str]:
    """The message's tags: the ``tags`` array, else ``tag``, which some events give as
    a JSON-encoded array in a string (and older ones as a single tag)."""
    tags = data.get("tags")
    if tags is None or tags == "":
        tags = data.get("tag")
        if isinstance(tags, str) and tags.startswith("["):
            # (else a tag that starts with "[")
            tags = readers.lenient(readers.json_text, tags, "tag", default=tags)
    if tags is None or tags == "":
        return []
    if isinstance(tags, str):
        return [tags]
    if not isinstance(tags, list):
        raise readers.MalformedPayload(f"Brevo webhook tags are not a list: {str(tags)[:40]!r}")
    return [str(tag) for tag in tags if isinstance(tag, str | int | float) and tag != ""]


# --- inbound: payload in, events out

#: A header field name as RFC 5322 allows it (printable ASCII but the colon).
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")
#: A MIME type, "type/subtype".
_MIME_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$", re.ASCII)


def inbound_events(payload: Any) -> list[AnymailInboundEvent]:
    """The inbound events of one inbound parsing post, ``{"items": [...]}``: one per
    received email, in order. Raises ValueError for anything else (a 400)."""
    post = readers.mapping(payload, "Brevo inbound post", allow_none=False)
    items = readers.list_of(post.get("items"), "Brevo inbound items")
    if not items:
        raise readers.MalformedPayload("Brevo inbound post has no items")
    return [inbound_item_event(item) for item in items]


def inbound_item_event(item: Any) -> AnymailInboundEvent:
    """One item of an inbound parsing post (one received email), as an event."""
    item = readers.mapping(item, "Brevo inbound item", allow_none=False)
    # "A list of recipients UUID": Brevo's id for this received email (one UUID per
    # recipient on the receiving domain), the same when Brevo posts it again.
    uuids = item.get("Uuid")
    if isinstance(uuids, str):
        uuids = [uuids]
    event_id = ",".join(
        readers.text(uuid, "Uuid") for uuid in readers.list_of(uuids, "Uuid") if uuid
    )
    return AnymailInboundEvent(
        timestamp=None,  # Brevo gives no time of receipt, only the sender's Date header
        event_id=event_id or None,
        esp_event=item,
        message=message_from_item(item),
    )


def message_from_item(item: Mapping[str, Any]) -> AnymailInboundMessage:
    """Rebuild the message from Brevo's parsed item (Brevo doesn't post the raw MIME):
    its ``Headers``, the address and date fields where the headers lack them, the raw
    bodies and the attachments (downloaded when read)."""
    headers = item_headers(item.get("Headers"))
    present = {name.lower() for name, _ in headers}
    for name, value in (
        ("Reply-To", mailbox_address(item.get("ReplyTo"), "ReplyTo")),
        ("Date", readers.optional_text(item.get("SentAtDate"), "SentAtDate")),
        ("Message-ID", readers.optional_text(item.get("MessageId"), "MessageId")),
        ("In-Reply-To", readers.optional_text(item.get("InReplyTo"), "InReplyTo")),
    ):
        if value and name.lower() not in present:
            headers.append((name, value))
    html = readers.optional_text(item.get("RawHtmlBody"), "RawHtmlBody")
    message = AnymailInboundMessage.construct(
        headers=headers,
        from_email=mailbox_address(item.get("From"), "From"),
        to=mailbox_list(item.get("To"), "To"),
        cc=mailbox_list(item.get("Cc"), "Cc"),
        subject=readers.optional_text(item.get("Subject"), "Subject"),
        text=readers.optional_text(item.get("RawTextBody"), "RawTextBody"),
        html=html,
        attachments=[
            BrevoInboundAttachment.from_brevo(attachment, html)
            for attachment in readers.list_of(item.get("Attachments"), "Attachments")
        ],
    )
    # The RCPT TO address(es): Brevo's "Recipients" (its receiving-domain address,
    # which the To header may not show).
    recipients = readers.list_of(item.get("Recipients"), "Recipients")
    message.envelope_recipient = (
        mailbox_addr_spec(recipients[0], "Recipients") if recipients else None
    )
    # The MAIL FROM, as the receiving server recorded it (Brevo has no field for it).
    return_path = next((value for name, value in headers if name.lower() == "return-path"), None)
    if return_path:
        message.envelope_sender = return_path.strip().removeprefix("<").removesuffix(">") or None
    # Brevo's Markdown extraction of the reply, without quotes and signature.
    stripped = item.get("ExtractedMarkdownMessage")
    message.stripped_text = (
        None if stripped is None else readers.text(stripped, "ExtractedMarkdownMessage")
    )
    message.spam_score = item_spam_score(item)
    return message


def item_headers(value: Any) -> list[tuple[str, str]]:
    """Brevo's ``Headers``: {name: value}, or {name: [values]} for a header that
    appears more than once. A name that can't be a header field is left out (it
    stays in ``esp_event``): refusing it would make Brevo discard the email."""
    headers = []
    for name, values in readers.mapping(value, "Headers").items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            continue
        for one in [values] if not isinstance(values, list) else values:
            headers.append((name, readers.text(one, f"Headers[{name!r}]")))
    return headers


def mailbox_addr_spec(value: Any, field: str) -> str | None:
    """A Brevo Mailbox's address, or a bare address string."""
    if isinstance(value, Mapping):
        value = value.get("Address")
    return readers.optional_text(value, f"{field} Address")


def mailbox_address(value: Any, field: str) -> str | None:
    """A Brevo Mailbox, ``{"Address", "Name"}``, as "Name <address>" (or a bare address)."""
    if value is None:
        return None
    address = mailbox_addr_spec(value, field)
    if not address:
        return None
    name = (
        readers.optional_text(value.get("Name"), f"{field} Name")
        if isinstance(value, Mapping)
        else None
    )
    return EmailAddress(name or "", address).address


def mailbox_list(value: Any, field: str) -> str | None:
    """A list of Brevo Mailboxes as a header value ("a, Name <b>"), or None for none."""
    addresses = [
        address
        for address in (mailbox_address(item, field) for item in readers.list_of(value, field))
        if address
    ]
    return ", ".join(addresses) or None


def item_spam_score(item: Mapping[str, Any]) -> float | None:
    """Brevo's spam score (rspamd's). Documented as ``Spam.Score``; Brevo's own sample
    (and, reportedly, its posts) have ``SpamScore``: either is read."""
    score = item.get("SpamScore")
    if score is None:
        score = readers.mapping(item.get("Spam"), "Spam").get("Score")
    if score is None or score == "":
        return None
    if isinstance(score, bool) or not isinstance(score, int | float | str):
        raise readers.MalformedPayload(f"Brevo SpamScore is not a number: {str(score)[:40]!r}")
    try:
        value = float(score)
    except ValueError:
        raise readers.MalformedPayload(
            f"Brevo SpamScore is not a number: {str(score)[:40]!r}"
        ) from None
    return value if math.isfinite(value) else None


# --- inbound attachments: downloaded when read


class BrevoInboundAttachment(AnymailInboundMessage):
    """An attachment of a Brevo inbound email.

    Brevo posts an attachment's name, content type, estimated size, Content-ID and a
    download token, not its content. This part has the first four as headers and
    attributes (listing a message's attachments downloads nothing); its content is
    downloaded from Brevo's API the first time it is read (``get_content_bytes()``,
    ``get_content_text()``, ``as_uploaded_file()``, ``get_payload()``, or serializing
    the whole message), and then kept. A failed download raises AnymailAPIError (in
    a signal receiver, the webhook then answers 429 and Brevo posts the email again
    later). It needs your Brevo API key: ``BREVO_API_KEY``, or the ``api_key`` option
    of a ``MAILERS`` alias that uses the Brevo backend.

    (A forwarded message attached as ``message/rfc822`` is downloaded the same way;
    read it before serializing the whole message with ``as_bytes()``.)
    """

    def __init__(self, policy: Any = email_policy.default) -> None:
        super().__init__(policy=policy)
        #: Brevo's token for ``GET /v3/inbound/attachments/{downloadToken}``
        self.download_token: str | None = None
        #: Brevo's estimate of the attachment's size, in bytes (None if not given)
        self.content_length: int | None = None
        self._downloaded = False

    @classmethod
    def from_brevo(cls, attachment: Any, html: str | None = None) -> BrevoInboundAttachment:
        """A part from one of the item's ``Attachments``. It is inline (part of a
        multipart/related body) when the HTML body refers to its ``ContentID``:
        Brevo gives a ContentID to attachments the HTML doesn't show, too."""
        attachment = readers.mapping(attachment, "Attachments item", allow_none=False)
        name = readers.optional_text(attachment.get("Name"), "attachment Name")
        content_type = readers.optional_text(
            attachment.get("ContentType"), "attachment ContentType"
        )
        content_id = readers.optional_text(attachment.get("ContentID"), "attachment ContentID")
        length = attachment.get("ContentLength")
        part = cls()
        part.download_token = readers.optional_text(
            attachment.get("DownloadToken"), "attachment DownloadToken"
        )
        if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            part.content_length = length
        if not content_type or not _MIME_TYPE.match(content_type):
            content_type = "application/octet-stream"
        part.set_raw("Content-Type", content_type)
        part.set_raw("Content-Transfer-Encoding", "base64")
        cid = content_id.strip().removeprefix("<").removesuffix(">") if content_id else None
        inline = bool(cid and html and f"cid:{cid}" in html)
        disposition = "inline" if inline else "attachment"
        if name:
            part.add_header("Content-Disposition", disposition, filename=name)
        else:
            part.add_header("Content-Disposition", disposition)
        if cid:
            part["Content-ID"] = f"<{cid}>"
        part.set_payload("")
        return part

    @property
    def downloaded(self) -> bool:
        """Whether the content has been downloaded."""
        return self._downloaded

    def download(self) -> None:
        """Download the content from Brevo (once)."""
        if self._downloaded:
            return
        content = download_inbound_attachment(self.download_token, self.get_filename())
        self.set_payload(base64.encodebytes(content).decode("ascii"))
        self._downloaded = True

    def get_payload(self, i: Any = None, decode: bool = False) -> Any:
        self.download()
        return super().get_payload(i, decode)


def download_inbound_attachment(download_token: str | None, name: str | None = None) -> bytes:
    """An inbound attachment's content, from Brevo's
    ``GET /v3/inbound/attachments/{downloadToken}``
    (https://developers.brevo.com/reference/getinboundemailattachment), with the
    API key, API URL, User-Agent and timeout of Brevo's email backend
    (:func:`attachment_download_backend`).

    Raises AnymailConfigurationError without an API key, and AnymailAPIError when
    Brevo can't be reached or refuses (neither shows the API key)."""
    label = repr(name) if name else "(unnamed)"
    if not download_token:
        raise AnymailAPIError(
            f"Brevo's inbound post gave attachment {label} no DownloadToken: it can't be "
            "downloaded."
        )
    backend = attachment_download_backend()
    url = f"{backend.api_url}inbound/attachments/{quote(download_token, safe='')}"
    try:
        with backend.create_session() as session:
            response = session.get(
                url, timeout=backend.timeout, **backend.credentials.request_params(None)
            )
    except Exception as err:
        import requests

        if not isinstance(err, requests.RequestException):
            raise
        raise AnymailAPIError(
            f"Couldn't download Brevo inbound attachment {label}: {type(err).__name__}"
        ) from None  # (requests' frames hold the api-key header)
    if not 200 <= response.status_code < 300:
        raise AnymailAPIError(
            f"Brevo refused to download inbound attachment {label}: HTTP "
            f"{response.status_code}: {response.text[:300]}",
            status_code=response.status_code,
        )
    return response.content


def attachment_download_backend() -> EmailBackend:
    """Brevo's email backend, for its API credentials: configured by the Brevo
    settings (``BREVO_API_KEY``, or the deprecated ``SENDINBLUE_API_KEY``), else by
    the ``OPTIONS`` of a ``MAILERS`` alias (Django 6.1+) whose backend is Brevo's."""
    if brevo_setting("api_key", default=None, allow_bare=True):
        return EmailBackend()
    backends = {ESP.backend, f"anymail.backends.{LEGACY_SETTINGS_PREFIX}.EmailBackend"}
    mailers = getattr(settings, "MAILERS", None)
    for config in mailers.values() if isinstance(mailers, Mapping) else ():
        if isinstance(config, Mapping) and config.get("BACKEND") in backends:
            options = config.get("OPTIONS") or {}
            if options.get("api_key"):
                kwargs = {"api_key": options["api_key"]}
                # (An API URL setting, where there is one, wins over the alias's.)
                if options.get("api_url") and not brevo_setting("api_url", default=None):
                    kwargs["api_url"] = options["api_url"]
                return EmailBackend(**kwargs)
    raise AnymailConfigurationError(
        "Downloading a Brevo inbound attachment needs your Brevo API key: set "
        'ANYMAIL = {"BREVO_API_KEY": ...} (or ANYMAIL_BREVO_API_KEY), or give the '
        f'"api_key" option to a MAILERS alias that uses {ESP.backend}.'
    )


# ---------------------------------------------------------------------------
# Views


class BrevoWebhookView(AnymailBaseWebhookView):
    """A Brevo webhook URL: a JSON body (no signature; basic auth is the base's),
    converted by the URL's ``converter``. A post of a kind another URL takes
    (:func:`brevo_post_kind`) gets a 400 that says where it goes."""

    esp = ESP
    #: the kinds of post (MISDIRECTED_POSTS) this URL doesn't take
    refused_kinds: ClassVar[frozenset[str]] = frozenset()

    def read_payload(self, request: HttpRequest) -> Any:
        """The JSON value Brevo posted."""
        if request.content_type != "application/json":
            raise ValueError(f"Brevo posts JSON, not {request.content_type!r}")
        return super().read_payload(request)

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        kind = brevo_post_kind(payload)
        if kind is None or kind not in self.refused_kinds:
            return None
        return MISDIRECTED_POSTS[kind].format(
            tracking_url=self.webhook_path("tracking_webhook"),
            inbound_url=self.webhook_path("inbound_webhook"),
        )

    @staticmethod
    def webhook_path(route: str) -> str:
        """The path of one of Brevo's webhook URLs on this site."""
        try:
            return reverse(f"anymail:{ESP.id}_{route}")
        except NoReverseMatch:
            return f"/anymail/{ESP.id}/{route.removesuffix('_webhook')}/"


class BrevoTrackingWebhookView(BrevoWebhookView, AnymailTrackingWebhookView):
    """Brevo's transactional webhook (every event type), single or batched."""

    converter = staticmethod(tracking_events)
    refused_kinds = frozenset({"inbound", "marketing"})


class BrevoInboundWebhookView(BrevoWebhookView, AnymailInboundWebhookView):
    """Brevo's inbound parsing webhook: one signal per received email."""

    converter = staticmethod(inbound_events)
    refused_kinds = frozenset({"tracking"})
