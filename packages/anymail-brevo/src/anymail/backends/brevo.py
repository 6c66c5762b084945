"""Anymail's SendinBlue (Brevo) backend: sends through Brevo's v3 transactional email API.

Every message is one JSON post to ``<SENDINBLUE_API_URL>smtp/email``, authenticated
with the ``api-key`` header (Brevo API reference, "Send a transactional email":
https://developers.brevo.com/reference/sendtransacemail).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests
from django.core.mail import EmailMessage

from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.backends.message_data import MessageData
from anymail.esps.sendinblue import ESP
from anymail.exceptions import (
    AnymailRequestsAPIError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.utils import Attachment, EmailAddress, get_anymail_setting

__all__ = ["ALLOWED_ATTACHMENT_EXTENSIONS", "DEFAULT_API_URL", "EmailBackend", "SendinBluePayload"]

#: Brevo's current API host. Anymail 6.0's default, "https://api.sendinblue.com/v3/",
#: still answers and still works when set in SENDINBLUE_API_URL.
DEFAULT_API_URL = "https://api.brevo.com/v3/"

#: The header that carries metadata (a JSON object); Brevo returns it in webhooks.
METADATA_HEADER = "X-Mailin-custom"

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


def _extension(filename: str) -> str:
    """The filename's extension, lowercase, without the dot ("" for none)."""
    stem, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and stem else ""


class SendinBluePayload(RequestsPayload):
    """A message as the JSON body of Brevo's ``smtp/email`` call (``self.body``)."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.defaults = defaults
        self.all_recipients: list[EmailAddress] = []
        self.extra_headers: dict[str, str] = {}
        self.metadata: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        super().__init__(message, defaults, backend)
        self.headers["api-key"] = backend.api_key
        self.headers["Content-Type"] = "application/json"
        self.headers["Accept"] = "application/json"

    # --- the request ---

    def init_payload(self) -> None:
        self.body: dict[str, Any] = {}

    def get_api_endpoint(self) -> str:
        return "smtp/email"

    def serialize_data(self) -> str:
        return self.serialize_json(self.body)

    def finish(self) -> None:
        if "inline_images" in self.degraded_features:
            self.send_inline_images_as_attachments()
        if self.data.template_id is not None:
            self.apply_template_rules()
        headers = dict(self.extra_headers)
        if self.metadata:
            # Metadata owns X-Mailin-custom (Brevo compares header names without case).
            headers = {
                name: value for name, value in headers.items() if name.lower() != "x-mailin-custom"
            }
            headers[METADATA_HEADER] = self.serialize_json(self.metadata, "metadata")
        if headers:
            self.body["headers"] = headers
        self.body.update(self.extra)

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.body["sender"] = self.address(email)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self.body[recipient_type] = [self.address(email) for email in emails]
        self.all_recipients += emails

    def set_subject(self, subject: str) -> None:
        self.body["subject"] = subject

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # reply_to=MAX_ONE: the declaration leaves one address.
        self.body["replyTo"] = self.address(emails[0])

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.extra_headers.update(headers)

    def set_text_body(self, body: str) -> None:
        self.body["textContent"] = body

    def set_html_body(self, body: str) -> None:
        self.body["htmlContent"] = body

    def add_attachment(self, attachment: Attachment) -> None:
        # Inline images never get here (inline_images=NO): see finish().
        if not attachment.name:
            self.unsupported_feature(
                Feature.ATTACHMENTS,
                "SendinBlue needs a filename for every attachment, and reads the attachment's "
                'type from its extension (use message.attach("report.pdf", ...))',
            )
            return
        self.body.setdefault("attachment", []).append(
            {"name": attachment.name, "content": attachment.b64content}
        )

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def set_tags(self, tags: list[str]) -> None:
        # tags=MAX_ONE: the declaration leaves one tag. Brevo's "tags" field is the
        # current API's form of 6.0's X-Mailin-tag header; webhooks return it as "tags".
        self.body["tags"] = list(tags)

    def set_template_id(self, template_id: str) -> None:
        try:
            numeric_id = int(str(template_id).strip())
        except ValueError:
            numeric_id = -1
        if numeric_id < 0:
            raise AnymailSerializationError(
                f"SendinBlue's template_id must be the template's numeric ID (like 3), not "
                f"{template_id!r}: Brevo identifies stored templates by number.",
                field="template_id",
                email_message=self.message,
                backend=self.backend,
            )
        self.body["templateId"] = numeric_id

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.body["params"] = merge_global_data

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        # Merged into the JSON body last (finish), replacing anything Anymail set.
        self.extra = dict(extra)

    # --- helpers ---

    @staticmethod
    def address(email: EmailAddress) -> dict[str, str]:
        """Brevo's {"email", "name"} object (without "name" when there is none).

        Brevo's reference types the address ``format: email`` (ASCII): an
        internationalized domain is sent in its IDNA (punycode) form. A domain with
        no IDNA form raises AnymailInvalidAddress, and nothing is sent."""
        if email.display_name:
            return {"email": email.idna_addr_spec, "name": email.display_name}
        return {"email": email.idna_addr_spec}

    def send_inline_images_as_attachments(self) -> None:
        """IGNORE_UNSUPPORTED_FEATURES: Brevo can't send inline images, so (as Anymail
        6.0 documented) send them as ordinary attachments. The declaration already
        removed them from ``self.data``: read them from the message again (only on
        this rare path)."""
        for image in MessageData.from_message(self.message, self.defaults).inline_attachments:
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
                "a SendinBlue template brings its own From address, subject and body, so "
                f"{' and '.join(names)} must be None (set message.from_email = None, "
                "subject=None and body=None)"
            )
            for key in overridden:
                del self.body[key]

        named = [
            email.address
            for email in [*self.all_recipients, *self.data.reply_to]
            if email.display_name
        ]
        if named:
            self.template_limit(
                "SendinBlue doesn't allow display names in recipient or reply-to addresses "
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


class EmailBackend(AnymailRequestsBackend):
    """Brevo's (SendinBlue's) v3 transactional email API, as a Django email backend."""

    esp = ESP
    payload_class = SendinBluePayload
    default_api_url = DEFAULT_API_URL
    secret_attributes: ClassVar[tuple[str, ...]] = ("api_key",)

    def __init__(self, **kwargs: Any) -> None:
        self.api_key: str = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        super().__init__(**kwargs)

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Say which documented SendinBlue rule the message breaks, when it breaks one.
        (Brevo's own error, its {"code", "message"} body, follows in the exception.)"""
        assert isinstance(payload, SendinBluePayload)
        if response.status_code == 401:
            return (
                "SendinBlue refused the API key: SENDINBLUE_API_KEY must be a v3 API key "
                "(Brevo: SMTP & API > API Keys), not an SMTP key or a v2 key."
            )
        if response.status_code >= 500:
            return None
        hints = []
        body = payload.body
        if "templateId" not in body and not body.get("htmlContent"):
            hints.append(
                "SendinBlue requires an HTML body unless you send with a template_id: "
                'add one with message.attach_alternative("<p>...</p>", "text/html").'
            )
        unlisted = [
            entry["name"]
            for entry in body.get("attachment", ())
            if _extension(entry.get("name") or "") not in ALLOWED_ATTACHMENT_EXTENSIONS
        ]
        if unlisted:
            hints.append(
                f"SendinBlue reads an attachment's type from its filename extension, and "
                f"{unlisted!r} do not end in one Brevo lists as allowed (pdf, txt, png, ...)."
            )
        return " ".join(hints) or None

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, SendinBluePayload)
        parsed = self.deserialize_json_response(response, payload, message)
        message_id = parsed.get("messageId") if isinstance(parsed, dict) else None
        if message_id is None and isinstance(parsed, dict):
            # Sent with messageVersions (through esp_extra): one id per version.
            ids = parsed.get("messageIds")
            if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
                message_id = ids[0] if len(ids) == 1 else None
                if message_id is None:
                    status = AnymailRecipientStatus(message_id=None, status="queued")
                    return {email.addr_spec: status for email in payload.all_recipients}
        if not isinstance(message_id, str) or not message_id:
            raise AnymailRequestsAPIError(
                "Invalid SendinBlue API response format: no messageId",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        # Brevo only queues the message: each recipient's fate arrives by webhook.
        status = AnymailRecipientStatus(message_id=message_id, status="queued")
        return {email.addr_spec: status for email in payload.all_recipients}
