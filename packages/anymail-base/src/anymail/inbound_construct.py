"""How an :class:`~anymail.inbound.AnymailInboundMessage` is made: parsed from raw
MIME (bytes, str or a file, a chunk at a time), or constructed from the fields an
ESP posts (headers, bodies, attachments). ``AnymailInboundMessage`` inherits these
classmethods."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email import policy
from email.parser import BytesParser, Parser
from typing import IO, TYPE_CHECKING, Any

from anymail.inbound_scan import scan

if TYPE_CHECKING:
    from anymail.inbound import AnymailInboundMessage

__all__ = ["InboundConstructors"]

_POLICY = policy.default


class InboundConstructors:
    """The constructors of AnymailInboundMessage (a mixin: ``cls`` is the message class)."""

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
        """Parse a complete raw MIME message (bytes). Attachment bodies stay slices of
        ``raw`` until read (:mod:`anymail.inbound_scan`)."""
        raw = bytes(raw)
        message = scan(cls, _POLICY, raw) or BytesParser(_class=cls, policy=_POLICY).parsebytes(raw)
        assert isinstance(message, cls)
        return message

    @classmethod
    def parse_raw_mime_file(cls, fp: IO[bytes], chunk_size: int = 1 << 16) -> AnymailInboundMessage:
        """Parse a raw MIME message from a binary file object. Its bytes are read whole
        (the parsed parts' bodies are slices of them), ``chunk_size`` at a time."""
        chunks = []
        while chunk := fp.read(chunk_size):
            chunks.append(chunk)
        return cls.parse_raw_mime_bytes(b"".join(chunks))

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
