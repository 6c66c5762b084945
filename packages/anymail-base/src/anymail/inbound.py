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

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesFeedParser, BytesParser, Parser
from email.utils import getaddresses
from typing import IO, Any

from django.core.files.uploadedfile import SimpleUploadedFile

from anymail.addresses import EmailAddress

__all__ = ["AnymailInboundMessage"]

_POLICY = policy.default


class AnymailInboundMessage(EmailMessage):
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

    # ------------------------------------------------------------------
    # Constructors

    @classmethod
    def parse_raw_mime(cls, raw: str | bytes) -> AnymailInboundMessage:
        """Parse a complete raw MIME message (str or bytes)."""
        if isinstance(raw, str):
            # A str is raw MIME that something (an ESP's form post, usually) decoded as
            # UTF-8. Parsing it as text would mangle 8-bit bodies: parse the bytes.
            raw = raw.encode("utf-8", errors="surrogateescape")
        return cls.parse_raw_mime_bytes(raw)

    @classmethod
    def parse_raw_mime_bytes(cls, raw: bytes) -> AnymailInboundMessage:
        message = BytesParser(_class=cls, policy=_POLICY).parsebytes(raw)
        assert isinstance(message, cls)
        return message

    @classmethod
    def parse_raw_mime_file(cls, fp: IO[bytes], chunk_size: int = 1 << 16) -> AnymailInboundMessage:
        """Parse a raw MIME message from a binary file object, a chunk at a time
        (an uploaded file need not be read into one bytes object first)."""
        parser = BytesFeedParser(_factory=cls, policy=_POLICY)
        while chunk := fp.read(chunk_size):
            parser.feed(chunk)
        message = parser.close()
        assert isinstance(message, cls)
        return message

    @classmethod
    def construct(
        cls,
        *,
        raw_headers: str | None = None,
        headers: Iterable[tuple[str, str]] | None = None,
        from_email: str | None = None,
        to: str | None = None,
        cc: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        text_charset: str = "utf-8",
        html: str | None = None,
        html_charset: str = "utf-8",
        attachments: Sequence[AnymailInboundMessage] | None = None,
    ) -> AnymailInboundMessage:
        """Build a message from an ESP's parsed fields.

        ``raw_headers`` is a block of raw header lines; ``headers`` a list of
        (name, value) pairs. from_email / to / cc / subject fill in those headers
        when the header fields don't. ``attachments`` are parts made with
        :meth:`construct_attachment` or :meth:`construct_attachment_from_uploaded_file`.
        """
        message = cls()
        if raw_headers:
            parsed = Parser(_class=cls, policy=_POLICY).parsestr(
                raw_headers.strip("\r\n") + "\n\n", headersonly=True
            )
            for name, value in parsed.raw_items():
                if name.lower() not in (
                    "content-type",
                    "content-transfer-encoding",
                    "mime-version",
                ):
                    message.set_raw(name, value)
        for name, value in headers or ():
            if name.lower() in ("content-type", "content-transfer-encoding", "mime-version"):
                continue
            message.set_raw(name, _one_line(value))
        for name, value in (("From", from_email), ("To", to), ("Cc", cc), ("Subject", subject)):
            if value is not None and name not in message:
                message.set_raw(name, _one_line(value))

        bodies = []
        if text is not None:
            bodies.append(cls._text_part(text, "plain", text_charset))
        if html is not None:
            bodies.append(cls._text_part(html, "html", html_charset))
        if len(bodies) > 1:
            body = cls._multipart("alternative", bodies)
        elif bodies:
            body = bodies[0]
        else:
            body = None

        parts = ([body] if body is not None else []) + list(attachments or ())
        if not parts:  # no body at all: text and html are None
            cls._adopt(message, cls._multipart("mixed", []))
        elif len(parts) == 1 and not attachments:
            cls._adopt(message, parts[0])
        else:
            inline = [part for part in attachments or () if part.is_inline_attachment()]
            if inline and body is not None:
                related = cls._multipart("related", [body, *inline])
                others = [part for part in attachments or () if not part.is_inline_attachment()]
                parts = [related, *others]
            cls._adopt(message, cls._multipart("mixed", parts) if len(parts) > 1 else parts[0])
        return message

    @classmethod
    def construct_attachment(
        cls,
        content_type: str,
        content: bytes | str,
        charset: str | None = None,
        filename: str | None = None,
        content_id: str | None = None,
        inline: bool = False,
    ) -> AnymailInboundMessage:
        """An attachment part (inline if ``inline`` or a ``content_id`` is given)."""
        part = cls()
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        if isinstance(content, str):
            content = content.encode(charset or "utf-8")
        if maintype == "message" and subtype == "rfc822":
            attached = cls.parse_raw_mime_bytes(content)
            part.set_content(attached)
        else:
            part.set_content(
                content, maintype=maintype or "application", subtype=subtype or "octet-stream"
            )
            if charset and maintype == "text":
                part.set_param("charset", charset)
        disposition = "inline" if inline or content_id else "attachment"
        if filename:
            part.add_header("Content-Disposition", disposition, filename=filename)
        else:
            part.add_header("Content-Disposition", disposition)
        if content_id:
            part["Content-ID"] = f"<{_unquote_cid(content_id)}>"
        return part

    @classmethod
    def construct_attachment_from_uploaded_file(
        cls, file: Any, content_id: str | None = None
    ) -> AnymailInboundMessage:
        """An attachment part from a Django UploadedFile (as ESPs post them)."""
        content = file.read()
        content_type = getattr(file, "content_type", None) or "application/octet-stream"
        charset = getattr(file, "charset", None)
        return cls.construct_attachment(
            content_type=content_type,
            content=content,
            charset=charset,
            filename=getattr(file, "name", None),
            content_id=content_id,
        )

    @classmethod
    def _text_part(cls, content: str, subtype: str, charset: str) -> AnymailInboundMessage:
        """A text part holding exactly ``content`` (set_content would add a newline)."""
        part = cls()
        part.set_raw("Content-Type", f"text/{subtype}")
        try:
            part.set_payload(content, charset or "utf-8")
        except (LookupError, UnicodeError):  # an unknown or unsuitable charset from the ESP
            part.set_payload(content, "utf-8")
        return part

    @classmethod
    def _multipart(
        cls, subtype: str, parts: Sequence[AnymailInboundMessage]
    ) -> AnymailInboundMessage:
        container = cls()
        container.set_raw("Content-Type", f"multipart/{subtype}")
        container.set_boundary(_boundary())
        container.set_payload(list(parts))
        return container

    @staticmethod
    def _adopt(message: AnymailInboundMessage, content: AnymailInboundMessage) -> None:
        """Move ``content``'s body and content headers into ``message``."""
        for name, value in content.raw_items():
            if name.lower().startswith("content-") or name.lower() == "mime-version":
                message.set_raw(name, value)
        if "MIME-Version" not in message:
            message.set_raw("MIME-Version", "1.0")
        message.set_payload(content.get_payload())


def _one_line(value: str) -> str:
    return " ".join(str(value).splitlines())


def _unquote_cid(content_id: str) -> str:
    return content_id.strip().removeprefix("<").removesuffix(">").strip()


def _boundary() -> str:
    import secrets

    return f"=_anymail_{secrets.token_hex(12)}"
