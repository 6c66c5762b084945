"""AnymailInboundMessage: a received email, normalized.

It is a standard-library ``email.message.EmailMessage`` (``policy.default``) with
conveniences for the things inbound handlers need. Every attachment is itself an
AnymailInboundMessage, so a forwarded message/rfc822 attachment can be examined
the same way.

Inbound email is user-supplied content: nothing here raises on malformed input
(bad charsets, missing or invalid From and Date headers, RFC 2047/2231 oddities);
values that can't be understood become None or an empty list.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from anymail.addresses import EmailAddress
from anymail.inbound_construct import _POLICY, InboundConstructors, _unquote_cid
from anymail.inbound_scan import LAZY_BODY, transfer_encoding

__all__ = ["AnymailInboundMessage"]


class AnymailInboundMessage(InboundConstructors, EmailMessage):
    """A received message (or one of its parts)."""

    def __init__(self, policy: Any = _POLICY) -> None:
        super().__init__(policy=policy)
        #: the envelope MAIL FROM, as an addr_spec (from the ESP), or None
        self.envelope_sender: str | None = None
        #: the envelope RCPT TO, as an addr_spec (from the ESP), or None
        self.envelope_recipient: str | None = None
        #: the ESP's stripped-down bodies (quoted replies removed), if it gives them
        self.stripped_text: str | None = None
        self.stripped_html: str | None = None
        #: the ESP's spam assessment, if it gives one
        self.spam_detected: bool | None = None
        self.spam_score: float | None = None

    # ------------------------------------------------------------------
    # A parsed leaf part's body stays a slice of the raw message (anymail.inbound_scan)
    # until something reads the email package's text payload.

    @property  # type: ignore[override]
    def _payload(self) -> Any:
        lazy = self.__dict__.pop(LAZY_BODY, None)
        if lazy is not None:
            raw, start, end = lazy
            self.__dict__["_payload_text"] = raw[start:end].decode("ascii", "surrogateescape")
        return self.__dict__.get("_payload_text")

    @_payload.setter
    def _payload(self, value: Any) -> None:
        self.__dict__.pop(LAZY_BODY, None)
        self.__dict__["_payload_text"] = value

    def is_multipart(self) -> bool:
        return LAZY_BODY not in self.__dict__ and super().is_multipart()

    # ------------------------------------------------------------------
    # Header conveniences

    def _header_text(self, name: str) -> str | None:
        try:
            value = self.get(name)
        except Exception:  # a header the policy can't parse: fall back to the raw value
            value = self._raw_header(name)
        return None if value is None else str(value)

    def _raw_header(self, name: str) -> str | None:
        for key, value in self.raw_items():
            if key.lower() == name.lower():
                return str(value)
        return None

    def _addresses(self, name: str) -> list[EmailAddress]:
        try:
            texts = [str(value) for value in self.get_all(name, [])]
        except Exception:
            texts = [value for key, value in self.raw_items() if key.lower() == name.lower()]
        result = []
        for display_name, addr_spec in getaddresses(texts):
            if addr_spec and "@" in addr_spec:
                result.append(EmailAddress(display_name, addr_spec))
        return result

    @property
    def from_email(self) -> EmailAddress | None:
        """The From header's (first) address, or None if missing or invalid."""
        addresses = self._addresses("From")
        return addresses[0] if addresses else None

    @property
    def to(self) -> list[EmailAddress]:
        """The To header's addresses (empty if missing or invalid)."""
        return self._addresses("To")

    @property
    def cc(self) -> list[EmailAddress]:
        """The Cc header's addresses (empty if missing or invalid)."""
        return self._addresses("Cc")

    @property
    def subject(self) -> str | None:
        return self._header_text("Subject")

    @property
    def date(self) -> datetime | None:
        """The Date header as a datetime (almost always aware), or None if missing or invalid."""
        try:
            header = self.get("Date")
            value = getattr(header, "datetime", None) if header is not None else None
        except Exception:
            return None
        return value if isinstance(value, datetime) else None

    # ------------------------------------------------------------------
    # Bodies and attachments

    def walk_content(self) -> Iterator[AnymailInboundMessage]:
        """Every leaf part of this message, not descending into attachments
        (so a forwarded message's own parts are not this message's)."""
        if (
            self.is_multipart()
            and not self.is_attachment()
            and self.get_content_maintype() != "message"
        ):
            for part in self.iter_parts():
                if isinstance(part, AnymailInboundMessage):
                    yield from part.walk_content()
        else:
            yield self

    def _body(self, content_type: str) -> str | None:
        for part in self.walk_content():
            if part.get_content_type() == content_type and not part.is_attachment():
                if part.get_filename() and part.get_content_disposition() == "inline":
                    continue  # an inline file, not a body
                return part.get_content_text()
        return None

    @property
    def text(self) -> str | None:
        """The plain-text body, or None."""
        return self._body("text/plain")

    @property
    def html(self) -> str | None:
        """The HTML body, or None."""
        return self._body("text/html")

    @property
    def attachments(self) -> list[AnymailInboundMessage]:
        """Every (non-inline) attachment."""
        return [part for part in self.walk_content() if part is not self and part.is_attachment()]

    @property
    def inline_attachments(self) -> dict[str, AnymailInboundMessage]:
        """Inline parts that have a Content-ID, by cid (without angle brackets)."""
        result = {}
        for part in self.walk_content():
            if part is self or part.is_attachment():
                continue
            content_id = part._header_text("Content-ID")
            if content_id and (
                part.is_inline_attachment() or part.get_content_maintype() != "text"
            ):
                result[_unquote_cid(content_id)] = part
        return result

    # ------------------------------------------------------------------
    # Attachment methods

    def is_inline_attachment(self) -> bool:
        """True for a part with Content-Disposition: inline."""
        return self.get_content_disposition() == "inline"

    def get_content_bytes(self) -> bytes:
        """The part's content as bytes (transfer encoding removed)."""
        lazy = self.__dict__.get(LAZY_BODY)
        if lazy is not None and transfer_encoding(self) == "base64":
            raw, start, end = lazy
            try:  # straight from the raw message: no text copy of it
                return binascii.a2b_base64(memoryview(raw)[start:end])
            except binascii.Error:
                pass  # padding to repair: the email package's decoder does it
        if self.get_content_maintype() == "message" or self.is_multipart():
            payload = self.get_payload()
            if isinstance(payload, list):
                if self.get_content_maintype() == "message" and payload:
                    return payload[0].as_bytes()
                return b"".join(part.as_bytes() for part in payload)
        content = self.get_payload(decode=True)
        if content is None:
            raw = self.get_payload()
            content = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else b""
        return content

    def get_content_text(self, charset: str | None = None, errors: str = "replace") -> str:
        """The part's content as text, decoded with ``charset`` (default: its declared
        charset, else UTF-8); ``errors`` is as for ``bytes.decode``."""
        content = self.get_content_bytes()
        charset = charset or self.get_content_charset() or "utf-8"
        try:
            return content.decode(charset, errors=errors)
        except LookupError:  # unknown charset name
            return content.decode("utf-8", errors=errors)

    def as_uploaded_file(self) -> SimpleUploadedFile:
        """The attachment as a Django UploadedFile (for a FileField / ImageField)."""
        return SimpleUploadedFile(
            name=self.get_filename() or "attachment",
            content=self.get_content_bytes(),
            content_type=self.get_content_type(),
        )
