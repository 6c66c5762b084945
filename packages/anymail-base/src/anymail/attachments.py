"""Attachments and inline images, normalized from whatever Django's EmailMessage holds."""

from __future__ import annotations

import base64
import mimetypes
from email.message import Message
from typing import Any

from django.utils.encoding import force_str

from anymail.exceptions import AnymailSerializationError
from anymail.json_body import Base64Text

__all__ = ["Attachment"]


class Attachment:
    """A normalized attachment or inline part from a Django EmailMessage.

    Django gives either a MIME part (a ``MIMEBase``, or on Django 6.0+ an
    ``email.message.MIMEPart``) or a (filename, content, mimetype) tuple (an
    ``EmailAttachment`` named tuple since Django 5.2).
    """

    __slots__ = ("_content", "_encoding", "content_id", "inline", "mimetype", "name")

    def __init__(self, attachment: Any, encoding: str | None = "utf-8") -> None:
        self.content_id: str | None = None
        self.inline = False
        if isinstance(attachment, Message):  # MIMEBase and MIMEPart alike
            self.name = attachment.get_filename()
            decoded = attachment.get_payload(decode=True)
            content: bytes
            if isinstance(decoded, bytes):
                content = decoded
            else:  # e.g. message/rfc822: serialize the attached message
                payload = attachment.get_payload()
                first = payload[0] if isinstance(payload, list) and payload else None
                content = (
                    first.as_bytes() if first is not None and not isinstance(first, str) else b""
                )
            self._content: bytes | str = content
            self.mimetype = attachment.get_content_type()
            content_disposition = attachment.get_content_disposition()
            content_id = attachment["Content-ID"]
            if content_disposition == "inline" or (content_disposition is None and content_id):
                self.inline = True
                if content_id:
                    self.content_id = str(content_id).strip().removeprefix("<").removesuffix(">")
        else:
            try:
                name, content, mimetype = attachment
            except (TypeError, ValueError) as err:
                raise AnymailSerializationError(
                    f"Can't understand attachment {attachment!r}: expected a MIMEBase or "
                    "(filename, content, mimetype)",
                    field="attachments",
                ) from err
            self.name = force_str(name) if name is not None else None
            if not isinstance(content, bytes | str):
                raise AnymailSerializationError(
                    f"Attachment {self.name!r} content must be bytes or str, not "
                    f"{type(content).__name__}.",
                    field="attachments",
                )
            self._content = content
            if not mimetype and self.name:
                mimetype = mimetypes.guess_type(self.name)[0]
            self.mimetype = mimetype or "application/octet-stream"
        self._encoding = encoding

    @property
    def content(self) -> bytes:
        """The attachment's content as bytes (text is encoded as the message's encoding)."""
        if isinstance(self._content, str):
            return self._content.encode(self._encoding or "utf-8")
        return self._content

    @property
    def b64content(self) -> str:
        """The content, base64 encoded (a :class:`~anymail.json_body.Base64Text`, which
        a JSON body built by ``BasePayload.serialize_json`` takes in without escaping)."""
        return Base64Text(base64.b64encode(self.content).decode("ascii"))

    @property
    def cid(self) -> str | None:
        return self.content_id

    def __repr__(self) -> str:
        details = [self.mimetype, f"len={len(self.content)}"]
        if self.inline:
            details.insert(0, "inline")
        if self.content_id:
            details.append(f"content_id={self.content_id!r}")
        return f"Attachment<{', '.join(details)}>({self.name!r})"
