"""Anymail's Brevo backend: sends through Brevo's v3 transactional email API.

Every message is one JSON post to ``<BREVO_API_URL>smtp/email``, authenticated with
the ``api-key`` header (Brevo API reference, "Send a transactional email":
https://developers.brevo.com/reference/sendtransacemail). A batch send (a message
with ``merge_data`` or ``merge_metadata``) is still one post: one entry of Brevo's
``messageVersions`` per "to" recipient.

Brevo was called SendinBlue until 2023: a ``SENDINBLUE_*`` setting is still read,
with a deprecation warning that names its new name, when the ``BREVO_*`` one isn't
set (a site that changed only its backend path keeps working).
"""

from __future__ import annotations

import mimetypes
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.backends.message_data import MessageData
from anymail.backends.transport import ApiCredentials
from anymail.esps.brevo import ESP, LEGACY_SETTINGS_PREFIX
from anymail.exceptions import (
    AnymailDeprecationWarning,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.settings import UNSET, get_anymail_setting

if TYPE_CHECKING:
    import requests

__all__ = [
    "ALLOWED_ATTACHMENT_EXTENSIONS",
    "DEFAULT_API_URL",
    "MAX_MESSAGE_VERSIONS",
    "BrevoPayload",
    "EmailBackend",
    "brevo_setting",
    "renamed_attributes",
    "warn_renamed",
]

#: Brevo's API host. (Anymail 6.0's default, "https://api.sendinblue.com/v3/", is
#: Brevo's old host, which still answers and still works when set in BREVO_API_URL.)
DEFAULT_API_URL = "https://api.brevo.com/v3/"

#: The header that carries metadata (a JSON object); Brevo returns it in webhooks.
METADATA_HEADER = "X-Mailin-custom"

#: The most message versions Brevo takes in one call ("Send up to 1000 email messages
#: in one API call": https://developers.brevo.com/docs/batch-send-transactional-emails).
#: A batch send makes one version per "to" recipient.
MAX_MESSAGE_VERSIONS = 1000

#: Attachment filename extensions Brevo accepts: Brevo reads an attachment's type from
#: its name (the API has no content-type field). Published in the API reference's
#: ``attachment`` description. Used only to explain Brevo's error, never to refuse a
#: message: Brevo may accept more than it lists.
ALLOWED_ATTACHMENT_EXTENSIONS = frozenset(
    {
        "xlsx", "xls", "ods", "docx", "docm", "doc", "csv", "pdf", "txt", "gif", "jpg",
        "jpeg", "png", "tif", "tiff", "rtf", "bmp", "cgm", "css", "shtml", "html", "htm",
        "zip", "xml", "ppt", "pptx", "tar", "ez", "ics", "mobi", "msg", "pub", "eps", "odt",
        "mp3", "m4a", "m4v", "wma", "ogg", "flac", "wav", "aif", "aifc", "aiff", "mp4", "mov",
        "avi", "mkv", "mpeg", "mpg", "wmv", "pkpass", "xlsm",
    }
)  # fmt: skip

_MISSING: Any = object()

#: The deprecation warnings about SendinBlue's names given so far: each is given once
#: per process (as anymail-base warns once about a feature an ESP doesn't declare).
_warned: set[str] = set()


def warn_renamed(message: str, stacklevel: int = 2) -> None:
    """An AnymailDeprecationWarning about one of SendinBlue's names (``message``
    begins "SendinBlue is now Brevo:" and says what to change), once per process."""
    if message in _warned:
        return
    _warned.add(message)
    warnings.warn(message, AnymailDeprecationWarning, stacklevel=stacklevel + 1)


def renamed_attributes(
    old_module: str, new_module: ModuleType, moved: Mapping[str, str]
) -> Callable[[str], Any]:
    """A ``__getattr__`` for one of anymail-sendinblue's modules: each name in
    ``moved`` (old name: name in ``new_module``) is Brevo's, with a deprecation
    warning that says where it is now; any other is an AttributeError."""

    def __getattr__(name: str) -> Any:
        if name in moved:
            warn_renamed(
                f"SendinBlue is now Brevo: {old_module}.{name} is deprecated. "
                f"Use {new_module.__name__}.{moved[name]}.",
            )
            return getattr(new_module, moved[name])
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")

    return __getattr__


# ---------------------------------------------------------------------------
# Settings: BREVO_*, and the former SENDINBLUE_* names


def brevo_setting(
    name: str,
    *,
    kwargs: dict[str, Any] | None = None,
    default: Any = UNSET,
    allow_bare: bool = False,
) -> Any:
    """A Brevo setting: the backend option ``name`` (a ``get_connection()`` keyword or
    a ``MAILERS`` ``OPTIONS`` key), else ``BREVO_<NAME>`` (in the ``ANYMAIL`` dict, as
    ``ANYMAIL_BREVO_<NAME>``, or bare with ``allow_bare``), else the same setting under
    Brevo's former name, ``SENDINBLUE_<NAME>``, with an AnymailDeprecationWarning that
    says what to rename it. Missing everywhere: ``default``, or (with no default) the
    AnymailConfigurationError that names every place ``BREVO_<NAME>`` may be given."""
    return lookup_setting(name, kwargs=kwargs, default=default, allow_bare=allow_bare)[0]


def lookup_setting(
    name: str,
    *,
    kwargs: dict[str, Any] | None = None,
    default: Any = UNSET,
    allow_bare: bool = False,
) -> tuple[Any, str]:
    """:func:`brevo_setting`, and the name of the setting the value came from."""
    current = f"{ESP.id}_{name}".upper()
    given = f"the backend option {name!r}" if kwargs is not None and name in kwargs else current
    value = get_anymail_setting(
        name, esp_name=ESP.id, kwargs=kwargs, default=_MISSING, allow_bare=allow_bare
    )
    legacy = _legacy_setting(name, allow_bare=allow_bare)
    if value is not _MISSING:
        # (A bare SENDINBLUE_API_KEY may be another app's setting: not ours to remove.)
        if legacy is not None and legacy[0].startswith("ANYMAIL"):
            spelling = legacy[0]
            warn_renamed(
                f"SendinBlue is now Brevo: {spelling} is ignored, because {given} is set. "
                f"Remove {spelling} from your settings.",
                stacklevel=4,
            )
        return value, current
    if legacy is not None:
        spelling, replacement, value = legacy
        warn_renamed(
            f"SendinBlue is now Brevo: the setting {spelling} is deprecated. "
            f"Rename it {replacement} (same value).",
            stacklevel=4,
        )
        return value, f"{LEGACY_SETTINGS_PREFIX}_{name}".upper()
    # Not set under either name: the default, or the error naming the BREVO_ setting.
    return get_anymail_setting(
        name, esp_name=ESP.id, default=default, allow_bare=allow_bare
    ), current


def _legacy_setting(name: str, *, allow_bare: bool) -> tuple[str, str, Any] | None:
    """(where it is set, what to rename it, its value) for ``SENDINBLUE_<NAME>``,
    looked up where get_anymail_setting looks, in the same order; None if unset."""
    legacy = f"{LEGACY_SETTINGS_PREFIX}_{name}".upper()
    current = f"{ESP.id}_{name}".upper()
    anymail_settings = getattr(settings, "ANYMAIL", None) or {}
    if isinstance(anymail_settings, Mapping) and legacy in anymail_settings:
        return f'ANYMAIL["{legacy}"]', f'ANYMAIL["{current}"]', anymail_settings[legacy]
    if hasattr(settings, f"ANYMAIL_{legacy}"):
        return f"ANYMAIL_{legacy}", f"ANYMAIL_{current}", getattr(settings, f"ANYMAIL_{legacy}")
    if allow_bare and hasattr(settings, legacy):
        return legacy, current, getattr(settings, legacy)
    return None


def _extension(filename: str) -> str:
    """The filename's extension, lowercase, without the dot ("" for none)."""
    stem, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and stem else ""


# ---------------------------------------------------------------------------
# Payload


class BrevoPayload(RequestsPayload):
    """A message as the JSON body of Brevo's ``smtp/email`` call (``self.body``)."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.defaults = defaults
        #: a batch send's "to" recipients, one per message version, in order
        self.version_recipients: list[EmailAddress] = []
        super().__init__(message, defaults, backend)
        self.headers["Content-Type"] = "application/json"
        self.headers["Accept"] = "application/json"

    # --- the request ---

    def init_payload(self) -> None:
        self.body: dict[str, Any] = {}

    def get_api_endpoint(self) -> str:
        return "smtp/email"

    def serialize_data(self) -> str:
        return self.serialize_json(self.body)

    @property
    def is_batch(self) -> bool:
        """Whether each "to" recipient gets their own message (merge_data or
        merge_metadata is set, even to {}), as one of Brevo's message versions."""
        return self.data.is_batch and bool(self.data.to)

    def finish(self) -> None:
        """Write what depends on several features at once, from ``self.data``: the
        headers (metadata is one of them), the message versions of a batch send, and
        esp_extra (merged into the JSON body last, replacing anything Anymail set)."""
        if "inline_images" in self.degraded_features:
            self.send_inline_images_as_attachments()
        if self.data.template_id is not None:
            self.apply_template_rules()
        headers = dict(self.data.headers)
        if self.data.metadata:
            # Metadata owns X-Mailin-custom (Brevo compares header names without case).
            headers = {
                name: value for name, value in headers.items() if name.lower() != "x-mailin-custom"
            }
            headers[METADATA_HEADER] = self.serialize_json(self.data.metadata, "metadata")
        if headers:
            self.body["headers"] = headers
        if self.is_batch:
            self.add_message_versions()
        self.body.update(self.data.esp_extra or {})

    def add_message_versions(self) -> None:
        """A batch send: Brevo's ``messageVersions``, one per "to" recipient (who sees
        only their own address), each with that recipient's merge data (on top of
        the global data) and, with merge_metadata, their own X-Mailin-custom (on top
        of the message's metadata). cc, bcc and everything else are the message's,
        shared by every version."""
        data = self.data
        count = len(data.to)
        if count > MAX_MESSAGE_VERSIONS:
            # No way to send less (IGNORE_UNSUPPORTED_FEATURES can't help): refuse.
            raise AnymailUnsupportedFeature(
                f"Brevo sends at most {MAX_MESSAGE_VERSIONS} message versions in one call, "
                f"and a batch send (merge_data or merge_metadata) needs one per 'to' "
                f"recipient: this message has {count}. Send it as several messages of at "
                f"most {MAX_MESSAGE_VERSIONS} 'to' recipients each.",
                feature=(
                    Feature.MERGE_DATA if data.merge_data is not None else Feature.MERGE_METADATA
                ).value,
                email_message=self.message,
                backend=self.backend,
            )
        merge_data = _by_recipient(data.merge_data)
        merge_metadata = _by_recipient(data.merge_metadata)
        versions = []
        for email, entry in zip(data.to, self.body.pop("to"), strict=True):
            version: dict[str, Any] = {"to": [entry]}
            key = email.addr_spec.strip().lower()
            if data.merge_data is not None:
                # The global data too: Brevo's reference doesn't say a version's params
                # are merged with the message's, so each version carries them all.
                params = {**(data.merge_global_data or {}), **merge_data.get(key, {})}
                if params:
                    version["params"] = params
            if data.merge_metadata is not None:
                metadata = {**(data.metadata or {}), **merge_metadata.get(key, {})}
                if metadata:
                    version["headers"] = {
                        METADATA_HEADER: self.serialize_json(metadata, "merge_metadata")
                    }
            versions.append(version)
        self.body["messageVersions"] = versions
        self.version_recipients = list(data.to)

    # --- the set_* methods the base payload calls ---

    # An address is Brevo's {"email", "name"} object (without "name" when there is
    # none). Brevo's reference types the address ``format: email`` (ASCII): an
    # internationalized domain is sent in its IDNA (punycode) form; a domain with no
    # IDNA form raises AnymailInvalidAddress, and nothing is sent.

    def set_from_email(self, email: EmailAddress) -> None:
        self.body["sender"] = email.as_object()

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self.body[recipient_type] = [email.as_object() for email in emails]

    def set_subject(self, subject: str) -> None:
        self.body["subject"] = subject

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # reply_to=MAX_ONE: the declaration leaves one address.
        self.body["replyTo"] = emails[0].as_object()

    def set_text_body(self, body: str) -> None:
        self.body["textContent"] = body

    def set_html_body(self, body: str) -> None:
        self.body["htmlContent"] = body

    def add_attachment(self, attachment: Attachment) -> None:
        # Brevo reads each attachment's type from its filename: an unnamed one is
        # refused. (Inline images come here only as ordinary attachments: see finish().)
        name = self.attachment_filename(attachment)
        if name:
            self.body.setdefault("attachment", []).append(
                {"name": name, "content": attachment.b64content}
            )

    def set_send_at(self, send_at: datetime) -> None:
        # Brevo's format, "YYYY-MM-DDTHH:mm:ss.SSSZ", in UTC.
        scheduled = send_at.astimezone(UTC).isoformat(timespec="milliseconds")
        self.body["scheduledAt"] = scheduled.replace("+00:00", "Z")

    def set_tags(self, tags: list[str]) -> None:
        self.body["tags"] = list(tags)

    def set_template_id(self, template_id: str) -> None:
        try:
            numeric_id = int(str(template_id).strip())
        except ValueError:
            numeric_id = -1
        if numeric_id < 0:
            raise AnymailSerializationError(
                f"Brevo's template_id must be the template's numeric ID (like 3), not "
                f"{template_id!r}: Brevo identifies stored templates by number.",
                field="template_id",
                email_message=self.message,
                backend=self.backend,
            )
        self.body["templateId"] = numeric_id

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.body["params"] = merge_global_data

    def written_by_finish(self, value: Any) -> None:
        """The hook of a feature that finish() writes from ``self.data``: extra headers
        and metadata (X-Mailin-custom is both), and merge data and merge metadata (a
        batch send's message versions)."""

    set_extra_headers = set_metadata = set_merge_metadata = set_merge_data = written_by_finish

    # --- helpers ---

    def send_inline_images_as_attachments(self) -> None:
        """IGNORE_UNSUPPORTED_FEATURES: Brevo can't send inline images, so (as Anymail
        6.0 documented) send them as ordinary attachments. The declaration already
        removed them from ``self.data``: read them from the message again (only on
        this rare path)."""
        for image in MessageData.from_message(self.message, self.defaults).inline_attachments:
            image.inline = False
            if not image.name:
                extension = mimetypes.guess_extension(image.mimetype) or ""
                stem = (image.content_id or "").partition("@")[0] or "inline"
                image.name = f"{stem}{extension}"
            self.add_attachment(image)

    def apply_template_rules(self) -> None:
        """Brevo templates bring their own From, subject and body, and (6.0 docs)
        refuse display names in recipient and reply-to addresses. Refuse what would
        be lost or refused, naming the rule; under IGNORE_UNSUPPORTED_FEATURES, send
        without it."""
        fields = {
            "sender": "from_email",
            "subject": "subject",
            "htmlContent": "body",
            "textContent": "body",
        }
        for key in fields:
            if key in self.body and not self.body[key]:
                del self.body[key]  # an empty subject or body is no override
        overridden = [key for key in fields if key in self.body]
        if overridden:
            names = sorted({fields[key] for key in overridden})
            self.template_limit(
                "a Brevo template brings its own From address, subject and body, so "
                f"{' and '.join(names)} must be None (set message.from_email = None, "
                "subject=None and body=None)"
            )
            for key in overridden:
                del self.body[key]

        named = [
            email.address
            for email in [*self.data.all_recipients, *self.data.reply_to]
            if email.display_name
        ]
        if named:
            self.template_limit(
                "Brevo doesn't allow display names in recipient or reply-to addresses "
                f"when sending with a template: use bare addresses instead of {named!r}"
            )
            for key in ("to", "cc", "bcc"):
                if key in self.body:
                    self.body[key] = [{"email": entry["email"]} for entry in self.body[key]]
            if "replyTo" in self.body:
                self.body["replyTo"] = {"email": self.body["replyTo"]["email"]}

    def template_limit(self, detail: str) -> None:
        """AnymailUnsupportedFeature for a rule of Brevo templates, naming the
        template_id feature; nothing under IGNORE_UNSUPPORTED_FEATURES."""
        if self.backend.ignore_unsupported_features:
            return
        raise AnymailUnsupportedFeature(
            f"With template_id, {detail}. (Or set ANYMAIL['IGNORE_UNSUPPORTED_FEATURES'] = True "
            "to send with the template's own values.)",
            feature=Feature.TEMPLATE_ID.value,
            email_message=self.message,
            backend=self.backend,
        )


def _by_recipient(per_recipient: Mapping[str, Any] | None) -> dict[str, Any]:
    """merge_data / merge_metadata keyed as the base payload matches recipients
    (stripped, lowercase)."""
    return {str(key).strip().lower(): value for key, value in (per_recipient or {}).items()}


# ---------------------------------------------------------------------------
# Backend


class EmailBackend(AnymailRequestsBackend):
    """Brevo's v3 transactional email API, as a Django email backend."""

    esp = ESP
    payload_class = BrevoPayload
    default_api_url = DEFAULT_API_URL

    def __init__(self, **kwargs: Any) -> None:
        self.api_key: str = brevo_setting("api_key", kwargs=kwargs, allow_bare=True)
        api_url = brevo_setting("api_url", kwargs=kwargs, default=DEFAULT_API_URL)
        super().__init__(api_url=api_url, **kwargs)

    def api_credentials(self) -> ApiCredentials:
        return ApiCredentials.header("api-key", self.api_key)

    def esp_send_defaults(self, kwargs: dict[str, Any]) -> tuple[Any, str]:
        """BREVO_SEND_DEFAULTS, or the former, deprecated SENDINBLUE_SEND_DEFAULTS (and
        the name of the one read, for its errors)."""
        return lookup_setting("send_defaults", default={})

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Say which documented Brevo rule the message breaks, when it breaks one.
        (Brevo's own error, its {"code", "message"} body, follows in the exception.)"""
        assert isinstance(payload, BrevoPayload)
        if response.status_code == 401:
            return (
                "Brevo refused the API key: BREVO_API_KEY must be a v3 API key "
                "(Brevo: SMTP & API > API Keys), not an SMTP key or a v2 key."
            )
        if response.status_code >= 500:
            return None
        hints = []
        body = payload.body
        if "templateId" not in body and not body.get("htmlContent"):
            hints.append(
                "Brevo requires an HTML body unless you send with a template_id: "
                'add one with message.attach_alternative("<p>...</p>", "text/html").'
            )
        unlisted = [
            entry["name"]
            for entry in body.get("attachment", ())
            if _extension(entry.get("name") or "") not in ALLOWED_ATTACHMENT_EXTENSIONS
        ]
        if unlisted:
            hints.append(
                f"Brevo reads an attachment's type from its filename extension, and "
                f"{unlisted!r} do not end in one Brevo lists as allowed (pdf, txt, png, ...)."
            )
        return " ".join(hints) or None

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        """Brevo only queues the message: each recipient's fate arrives by webhook.

        A message gets Brevo's ``messageId``; a batch send, its ``messageIds``, one per
        message version in order, so each "to" recipient gets their own id (cc and bcc,
        copied on every version, get None)."""
        assert isinstance(payload, BrevoPayload)
        parsed = self.deserialize_json_response(response, payload, message)
        parsed = parsed if isinstance(parsed, dict) else {}
        message_id = parsed.get("messageId")
        ids = parsed.get("messageIds")
        if not (isinstance(message_id, str) and message_id) and not (
            isinstance(ids, list) and ids and all(isinstance(i, str) and i for i in ids)
        ):
            raise exceptions.AnymailRequestsAPIError(
                "Invalid Brevo API response format: no messageId",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        if isinstance(message_id, str) and message_id:
            status = AnymailRecipientStatus(message_id=message_id, status="queued")
            return {email.addr_spec: status for email in payload.data.all_recipients}
        assert isinstance(ids, list)
        versions = payload.version_recipients
        statuses = {
            email.addr_spec: AnymailRecipientStatus(
                message_id=ids[0] if len(ids) == 1 else None, status="queued"
            )
            for email in payload.data.all_recipients
        }
        if len(ids) == len(versions):
            for email, version_id in zip(versions, ids, strict=True):
                statuses[email.addr_spec] = AnymailRecipientStatus(
                    message_id=version_id, status="queued"
                )
        return statuses
