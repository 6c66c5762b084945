"""SendGrid's Event Webhook and Inbound Parse webhook, as Anymail webhook views.

**Tracking.** SendGrid's Event Webhook posts a JSON array of events; each becomes
one ``tracking`` signal. The sender's custom args (Anymail's metadata, and the
``anymail_id`` Anymail adds at send time) come back as top-level fields of each
event. Reference: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event

**Signed Event Webhook** (beyond the 6.0 docs). With
``SENDGRID_WEBHOOK_VERIFICATION_KEY`` set, every tracking post must carry a valid
ECDSA (P-256, SHA-256) signature of the ``X-Twilio-Email-Event-Webhook-Timestamp``
header's value followed by the raw body, base64 in
``X-Twilio-Email-Event-Webhook-Signature``. Reference:
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
A signed timestamp is accepted within :data:`TIMESTAMP_TOLERANCE`, and each signed
(timestamp, body) only once.

**Inbound.** Inbound Parse posts ``multipart/form-data``: either the whole message
as raw MIME (the "POST the raw, full MIME message" option: an ``email`` field), or
SendGrid's parsed fields (``headers``, ``text``, ``html``, file uploads). Each text
field is in the charset the ``charsets`` field names for it. Reference:
https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict

from anymail.esps.sendgrid import ESP
from anymail.events import (
    AnymailEvent,
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
    event_digest,
)
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailImproperlyInstalled,
    AnymailWebhookValidationFailure,
)
from anymail.inbound import AnymailInboundMessage
from anymail.settings import UNSET
from anymail.webhooks import readers
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)
from anymail.webhooks.signing import read_signing_keys

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TIMESTAMP_TOLERANCE",
    "SendGridInboundWebhookView",
    "SendGridTrackingWebhookView",
    "inbound_event_id",
    "inbound_events",
    "load_verification_keys",
    "tracking_events",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: Seconds a signed timestamp stays acceptable. SendGrid retries a post that didn't
#: get a 2xx for up to 24 hours, and doesn't document whether a retry is signed
#: afresh: the window covers a retry that keeps its first signature, plus an hour.
TIMESTAMP_TOLERANCE = 25 * 3600

#: How Inbound Parse's text fields are read (see SendGridWebhookView.read_payload).
_BYTES_ENCODING = "iso-8859-1"

#: SendGrid event names → normalized event types.
EVENT_TYPE_MAP = {
    "processed": EventType.QUEUED,
    "dropped": EventType.REJECTED,
    "delivered": EventType.DELIVERED,
    "deferred": EventType.DEFERRED,
    "bounce": EventType.BOUNCED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "spamreport": EventType.COMPLAINED,
    "unsubscribe": EventType.UNSUBSCRIBED,
    "group_unsubscribe": EventType.UNSUBSCRIBED,
    "group_resubscribe": EventType.SUBSCRIBED,
}

#: The drop reasons SendGrid documents ("You may see the following drop reasons")
#: → normalized reject reasons. Any other reason is "other".
REJECT_REASON_MAP = {
    "invalid smtpapi header": RejectReason.OTHER,
    "spam content": RejectReason.SPAM,
    "unsubscribed address": RejectReason.UNSUBSCRIBED,
    "bounced address": RejectReason.BOUNCED,
    "spam reporting address": RejectReason.SPAM,
    "invalid": RejectReason.INVALID,
    "recipient list over package quota": RejectReason.OTHER,
}

#: Bounce ``type`` → reject reason ("blocked": the receiving server refused it for now).
BOUNCE_TYPE_MAP = {"bounce": RejectReason.BOUNCED, "blocked": RejectReason.BLOCKED}

#: SendGrid's own event fields. Every other top-level field is a custom arg (or legacy
#: unique arg) the sender attached: the event's metadata.
SENDGRID_EVENT_FIELDS = frozenset(
    {
        "anymail_id", "email", "timestamp", "event", "smtp-id", "sg_event_id",
        "sg_message_id", "reason", "status", "response", "attempt", "type", "useragent",
        "ip", "url", "url_offset", "category", "asm_group_id", "pool", "tls", "cert_err",
        "newsletter", "post_type", "sg_user_id", "sg_machine_open", "bounce_classification",
        # Marketing Campaigns (legacy campaigns, Single Sends, A/B tests)
        "marketing_campaign_id", "marketing_campaign_name", "marketing_campaign_version",
        "marketing_campaign_split_id", "mc_stats", "phase_id", "send_at", "sg_content_type",
        "sg_template_id", "sg_template_name", "singlesend_id", "singlesend_name",
        "template_hash", "template_id", "template_version_id",
    }
)  # fmt: skip

# Larger than any timestamp in seconds before the year 10000: SendGrid's Single Send
# events are published with millisecond timestamps.
_MAX_SECONDS = 253402300799

# ---------------------------------------------------------------------------
# Tracking: the Event Webhook's JSON array in, events out


def tracking_events(payload: Any) -> list[AnymailTrackingEvent]:
    """The normalized events of one Event Webhook post (a JSON array of events)."""
    if not isinstance(payload, list) or not payload:
        raise readers.MalformedPayload(
            "SendGrid's Event Webhook posts a non-empty JSON array of events"
        )
    return [sendgrid_tracking_event(event) for event in payload]


def sendgrid_tracking_event(item: Any) -> AnymailTrackingEvent:
    """One Event Webhook event (a JSON object) as a tracking event."""
    event = readers.mapping(item, "SendGrid event", allow_none=False)

    def field(key: str, read: Any = readers.optional_text) -> Any:
        # A field that isn't what SendGrid documents loses only itself, never its
        # event (whose esp_event keeps the value as sent).
        return readers.lenient(read, event.get(key), key)

    sendgrid_event = str(event.get("event") or "").lower()
    event_type = EVENT_TYPE_MAP.get(sendgrid_event, EventType.UNKNOWN)
    reject_reason = description = mta_response = None
    if sendgrid_event == "dropped":
        description = field("reason")
        reject_reason = REJECT_REASON_MAP.get((description or "").lower(), RejectReason.OTHER)
    elif sendgrid_event == "bounce":
        # A bounce's "reason" is the receiving server's SMTP reply.
        reject_reason = BOUNCE_TYPE_MAP.get(
            str(event.get("type") or "bounce").lower(), RejectReason.OTHER
        )
        mta_response = field("reason")
    elif sendgrid_event in ("delivered", "deferred"):
        mta_response = field("response")

    # Anymail's own id if it sent the message; else (messages sent before Anymail
    # 3.0, or by other software) SendGrid's smtp-id.
    message_id = field("anymail_id") or field("smtp-id")
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=field("timestamp", event_time),
        event_id=field("sg_event_id"),
        esp_event=item,
        message_id=message_id,
        recipient=field("email"),
        reject_reason=reject_reason,
        description=description,
        mta_response=mta_response,
        metadata={key: value for key, value in event.items() if key not in SENDGRID_EVENT_FIELDS},
        tags=field("category", category_tags) or [],
        click_url=field("url") if event_type == EventType.CLICKED else None,
        user_agent=field("useragent"),
    )


def event_time(value: Any, name: str) -> datetime | None:
    """An event's unix timestamp: seconds, or milliseconds (SendGrid's Single Send
    events), numeric strings too."""
    scale = 1
    with contextlib.suppress(TypeError, ValueError):
        if float(value) > _MAX_SECONDS:
            scale = 1000
    return readers.epoch_timestamp(value, name, scale=scale)


def category_tags(value: Any, name: str) -> list[str]:
    """``category`` echoes how the message's categories were sent: one string, or a
    list of them."""
    if isinstance(value, str):
        return [value]
    return [str(item) for item in readers.list_of(value, name)]


# ---------------------------------------------------------------------------
# Inbound: an Inbound Parse post's fields and files in, the message out


class InboundFields:
    """An Inbound Parse post's text fields, each decoded with its own charset."""

    def __init__(self, fields: QueryDict, encoding: str) -> None:
        self.fields = fields
        self.encoding = encoding
        charsets = self.json("charsets")
        self.charsets = charsets if isinstance(charsets, dict) else {}

    def raw(self, name: str) -> bytes | None:
        """The field's bytes as SendGrid sent them (exactly, if read as Latin-1)."""
        value = self.fields.get(name)
        return None if value is None else value.encode(self.encoding, errors="replace")

    def text(self, name: str) -> str | None:
        raw = self.raw(name)
        if raw is None:
            return None
        charset = str(self.charsets.get(name) or "utf-8")
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:  # a charset name Python doesn't know
            return raw.decode("utf-8", errors="replace")

    def json(self, name: str) -> Any:
        """A JSON field (envelope, attachment-info, content-ids); None if missing or invalid."""
        raw = self.raw(name)
        if not raw:
            return None
        return readers.lenient(readers.json_text, raw.decode("utf-8", errors="replace"), name)


def inbound_events(
    fields: QueryDict,
    files: MultiValueDict[str, Any],
    encoding: str = "utf-8",
    esp_event: Any = None,
) -> list[AnymailInboundEvent]:
    """The inbound event of one Inbound Parse post: raw MIME (``email``) or SendGrid's
    parsed fields. ``encoding`` is how Django decoded the text fields (Latin-1 keeps
    their bytes, so each can be decoded with the charset SendGrid names for it)."""
    inbound = InboundFields(fields, encoding)
    upload: Any = files.get("email")
    if upload is not None:
        message = AnymailInboundMessage.parse_raw_mime_file(upload)
    elif "email" in fields:
        raw = inbound.raw("email")
        assert raw is not None
        message = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    elif "headers" in fields or "text" in fields or "html" in fields:
        message = parsed_inbound_message(inbound, files)
    else:
        raise readers.MalformedPayload(
            "SendGrid inbound post has neither 'email' (raw) nor parsed fields"
        )

    envelope = inbound.json("envelope")
    if isinstance(envelope, dict):
        sender = envelope.get("from")
        message.envelope_sender = sender if isinstance(sender, str) and sender else None
        recipients = envelope.get("to")
        if isinstance(recipients, list) and recipients and isinstance(recipients[0], str):
            message.envelope_recipient = recipients[0]
    spam_score = inbound.text("spam_score")
    if spam_score:
        # SendGrid gives SpamAssassin's score, but no yes/no verdict: spam_detected stays None.
        with contextlib.suppress(ValueError):
            message.spam_score = float(spam_score)
    return [AnymailInboundEvent(esp_event=esp_event, message=message)]


def inbound_event_id(fields: QueryDict, files: MultiValueDict[str, Any]) -> str:
    """A stable ``event_id`` for an Inbound Parse post, which carries no id of its own:
    :func:`anymail.events.event_digest` of its form fields and, for each uploaded
    file, its name, type and the SHA-256 of its content. SendGrid's redelivery of the
    same message gets the same id."""
    uploads: dict[str, list[list[str]]] = {}
    for name in files:
        uploads[name] = []
        for upload in files.getlist(name):
            content = hashlib.sha256()
            for chunk in upload.chunks():  # (from the start of the file)
                content.update(chunk)
            upload.seek(0)
            uploads[name].append(
                [str(upload.name or ""), str(upload.content_type or ""), content.hexdigest()]
            )
    return event_digest({"fields": fields, "files": uploads})


def parsed_inbound_message(
    inbound: InboundFields, files: MultiValueDict[str, Any]
) -> AnymailInboundMessage:
    """Rebuild the message from Inbound Parse's parsed fields (its default format):
    its raw headers, text and html bodies, and the uploaded attachments (inline if
    ``content-ids`` names them)."""
    found = inbound.json("attachment-info")
    info: dict[str, Any] = found if isinstance(found, dict) else {}
    content_ids = inbound.json("content-ids")
    cid_of = (
        {name: cid for cid, name in content_ids.items() if isinstance(name, str)}
        if isinstance(content_ids, dict)
        else {}
    )
    attachments = []
    names = sorted(
        (name for name in files if name.startswith("attachment")),
        key=lambda name: (len(name), name),  # attachment2 before attachment10
    )
    for name in names:
        upload: Any = files.get(name)
        details: dict[str, Any] = info[name] if isinstance(info.get(name), dict) else {}
        part = AnymailInboundMessage.construct_attachment(
            content_type=str(
                details.get("type") or upload.content_type or "application/octet-stream"
            ),
            content=upload.read(),
            filename=str(details.get("filename") or details.get("name") or upload.name or "")
            or None,
            # content-ids says which attachments are inline (referenced as cid:...).
            content_id=cid_of.get(name),
        )
        attachments.append(part)
    text_charset = str(inbound.charsets.get("text") or "utf-8")
    html_charset = str(inbound.charsets.get("html") or "utf-8")
    return AnymailInboundMessage.construct(
        raw_headers=inbound.text("headers"),
        from_email=inbound.text("from"),
        to=inbound.text("to"),
        cc=inbound.text("cc"),
        subject=inbound.text("subject"),
        text=inbound.text("text"),
        text_charset=text_charset,
        html=inbound.text("html"),
        html_charset=html_charset,
        attachments=attachments,
    )


# ---------------------------------------------------------------------------
# The Signed Event Webhook's ECDSA signatures


@functools.cache
def load_verification_keys(keys: tuple[str, ...]) -> tuple[Any, ...]:
    """The P-256 public keys for the Verification Keys SendGrid shows (base64 DER, as
    in SendGrid's settings and API) or full PEM ``PUBLIC KEY`` blocks. Parsed once per
    process, not per request."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import (
            load_der_public_key,
            load_pem_public_key,
        )
    except ImportError as err:  # pragma: no cover - a dependency of anymail-sendgrid
        raise AnymailImproperlyInstalled(
            "Verifying SendGrid's signed Event Webhook needs the 'cryptography' package "
            "(pip install anymail-sendgrid installs it)."
        ) from err
    loaded = []
    for index, key in enumerate(keys):
        where = "SENDGRID_WEBHOOK_VERIFICATION_KEY" + (f"[{index}]" if len(keys) > 1 else "")
        text = key.strip()
        try:
            if text.startswith("-----BEGIN"):
                public_key = load_pem_public_key(text.encode("ascii"))
            else:
                public_key = load_der_public_key(base64.b64decode(text, validate=True))
        except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as err:
            raise AnymailConfigurationError(
                f"{where} is not a public key: paste the Verification Key from SendGrid's "
                "Event Webhook settings (base64, starting 'MFkw')."
            ) from err
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise AnymailConfigurationError(
                f"{where} is not an ECDSA P-256 public key, which is what SendGrid signs with."
            )
        loaded.append(public_key)
    return tuple(loaded)


def verify_signature(
    public_keys: Sequence[Any], signature: str, timestamp: str, body: bytes
) -> bool:
    """Whether ``signature`` (base64 DER ECDSA) signs ``timestamp + body`` (the raw
    request body, byte for byte) with any of ``public_keys`` (key rotation)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        decoded = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    signed = timestamp.encode("ascii") + body
    for public_key in public_keys:
        try:
            public_key.verify(decoded, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


# ---------------------------------------------------------------------------
# The views


class PostOverDjangoLimits(ValueError):
    """A post larger than Django's DATA_UPLOAD_MAX_* settings allow."""


class SendGridWebhookView(AnymailBaseWebhookView):
    """What SendGrid's webhooks have in common."""

    esp = ESP

    def read_payload(self, request: HttpRequest) -> Any:
        """A SendGrid post: the Event Webhook's JSON, or Inbound Parse's multipart form.
        Raises ValueError for a body that is neither (the webhook answers 400).

        Django decodes form fields with the request's encoding. Inbound Parse sends each
        field in its own charset (named in its "charsets" field), so read them as
        Latin-1, which maps bytes to characters one to one: each field's bytes can then
        be decoded with its own charset.
        """
        if request.content_type == "application/json":
            try:
                return readers.read_json(request.body)
            except RequestDataTooBig as err:
                raise ValueError(
                    "SendGrid webhook post is larger than DATA_UPLOAD_MAX_MEMORY_SIZE"
                ) from err
        if request.content_type != "multipart/form-data":
            raise ValueError(f"SendGrid doesn't post {request.content_type!r}")
        # (Unless something, a middleware say, already parsed the form: then the default
        # encoding it used is what the fields are in.)
        if not hasattr(request, "_post"):
            request.encoding = _BYTES_ENCODING
        try:
            return request.POST
        except RequestDataTooBig as err:
            raise PostOverDjangoLimits(
                "SendGrid inbound message is larger than DATA_UPLOAD_MAX_MEMORY_SIZE: raise "
                "that Django setting (an Inbound Parse post can be many megabytes), or turn off "
                "'POST the raw, full MIME message' so attachments arrive as files"
            ) from err
        except TooManyFieldsSent as err:
            raise PostOverDjangoLimits(
                "SendGrid inbound post has more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: "
                "raise that Django setting"
            ) from err
        except TooManyFilesSent as err:
            raise PostOverDjangoLimits(
                "SendGrid inbound message has more attachments than DATA_UPLOAD_MAX_NUMBER_FILES: "
                "raise that Django setting"
            ) from err
        except (MultiPartParserError, SuspiciousOperation) as err:  # a broken multipart body
            raise ValueError(f"SendGrid webhook form can't be read: {err}") from err


class SendGridTrackingWebhookView(SendGridWebhookView, AnymailTrackingWebhookView):
    """SendGrid's Event Webhook, signed or not."""

    converter = staticmethod(tracking_events)
    # as_view() override of the setting
    webhook_verification_key: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> None:
        # SENDGRID_WEBHOOK_VERIFICATION_KEY: one key, or a list (key rotation, or several
        # Event Webhooks posting to the same URL). Parsed (and cryptography imported)
        # only when signatures are in use. With keys, the signature authenticates
        # SendGrid (the ESP description says its signing is "optional"): basic auth
        # becomes optional.
        keys = read_signing_keys("webhook_verification_key", self.esp_id, kwargs)
        self.signing_keys = load_verification_keys(tuple(keys)) if keys else ()

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if isinstance(payload, QueryDict) and ("email" in payload or "envelope" in payload):
            return self.wrong_url("inbound", "Inbound Parse")
        return None

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        if not self.signing_keys:
            return
        signature = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not signature or not timestamp:
            raise AnymailWebhookValidationFailure(
                f"SendGrid webhook called without SendGrid's signature ({SIGNATURE_HEADER} "
                "and -Timestamp headers). Turn on the Signed Event Webhook in SendGrid, or "
                "unset SENDGRID_WEBHOOK_VERIFICATION_KEY."
            )
        body = self.signed_body(request)
        if not timestamp.isascii() or not verify_signature(
            self.signing_keys, signature, timestamp, body
        ):
            raise AnymailWebhookValidationFailure(
                "SendGrid webhook called with an invalid signature (check "
                "SENDGRID_WEBHOOK_VERIFICATION_KEY is this Event Webhook's Verification Key)"
            )
        try:
            when = float(timestamp)
        except ValueError:
            raise AnymailWebhookValidationFailure("SendGrid webhook timestamp is invalid") from None
        # A (timestamp, body) SendGrid signed is accepted once. (Not the signature
        # itself: ECDSA signatures can be altered and stay valid.)
        token = hashlib.sha256(timestamp.encode("ascii") + b"." + body).hexdigest()
        self.check_replay(when, token, tolerance=TIMESTAMP_TOLERANCE)

    @staticmethod
    def signed_body(request: HttpRequest) -> bytes:
        """The raw body the signature covers. SendGrid signs only its Event Webhook's
        JSON posts: any other post is refused (400) without reading it. (Django can't
        give back the body of a multipart form it has parsed.)"""
        if request.content_type != "application/json":
            raise AnymailWebhookValidationFailure(
                f"SendGrid's signed Event Webhook posts application/json, not "
                f"{request.content_type!r}: this post can't carry a valid signature"
            )
        return request.body  # (read_payload has read a JSON body already)


class SendGridInboundWebhookView(SendGridWebhookView, AnymailInboundWebhookView):
    """SendGrid's Inbound Parse webhook, raw MIME or parsed."""

    def read_payload(self, request: HttpRequest) -> Any:
        """The form fields (an Event Webhook's JSON, for reject_early). A post over
        Django's upload limits is SendGrid's message refused by our settings, not a bad
        request: Inbound Parse would drop it for good on a 400, so parse_events turns
        it into the answer that makes SendGrid retry (until the limit is raised)."""
        try:
            return super().read_payload(request)
        except PostOverDjangoLimits as err:
            return err

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        if isinstance(payload, list) and any(
            isinstance(event, dict) and "event" in event for event in payload
        ):
            return self.wrong_url("tracking", "the Event Webhook")
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> list[AnymailInboundEvent]:
        if isinstance(payload, PostOverDjangoLimits):
            raise AnymailConfigurationError(str(payload)) from payload
        if not isinstance(payload, QueryDict):
            raise ValueError("SendGrid Inbound Parse posts multipart/form-data")
        encoding = request.encoding or "utf-8"
        return inbound_events(payload, request.FILES, encoding=encoding, esp_event=request)

    def derive_event_id(self, request: HttpRequest, event: AnymailEvent, index: int) -> str:
        """Inbound Parse sends no id: the digest of the post's fields and files (its
        multipart body itself is gone once Django has parsed the form)."""
        return inbound_event_id(request.POST, request.FILES)
