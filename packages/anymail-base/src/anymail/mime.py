"""MIME helpers: attachment parts that work on every supported Django, and a message's
bytes with chosen line endings."""

from __future__ import annotations

from email.mime.base import MIMEBase
from typing import Any

__all__ = ["mime_attachment", "mime_bytes"]


def mime_attachment(
    content: bytes,
    mimetype: str,
    *,
    filename: str | None = None,
    disposition: str = "attachment",
    content_id: str | None = None,
) -> Any:
    """A base64-encoded MIME part for ``EmailMessage.attach()``, its bytes kept exactly
    (even for text/*, where Django would add a final line break): an
    ``email.message.MIMEPart`` on Django 6.0+, where ``MIMEBase`` attachments are
    deprecated, and a ``MIMEBase`` on earlier versions, which don't accept a MIMEPart.
    ``content_id`` is without angle brackets."""
    import django

    maintype, _, subtype = mimetype.partition("/")
    subtype = subtype or "octet-stream"
    cid = f"<{content_id}>" if content_id else None
    if django.VERSION >= (6, 0):
        from email.message import MIMEPart
        from email.policy import default

        part = MIMEPart(policy=default)
        part.set_content(
            content, maintype, subtype, disposition=disposition, filename=filename, cid=cid
        )
        return part
    from email import encoders

    legacy = MIMEBase(maintype, subtype)
    legacy.set_payload(content)
    encoders.encode_base64(legacy)
    if filename:
        legacy.add_header("Content-Disposition", disposition, filename=filename)
    else:
        legacy.add_header("Content-Disposition", disposition)
    if cid:
        legacy.add_header("Content-ID", cid)
    return legacy


def mime_bytes(message: Any, linesep: str = "\r\n") -> bytes:
    """A MIME message as bytes with ``linesep`` line endings, whatever
    ``EmailMessage.message()`` returned: Django 6.0+'s ``email.message.EmailMessage``
    (``email.policy.default``) or the ``SafeMIME`` (compat32) classes of earlier
    versions, whose ``as_bytes()`` signatures differ."""
    from email.generator import BytesGenerator
    from io import BytesIO

    buffer = BytesIO()
    policy = message.policy.clone(linesep=linesep)
    BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(message, linesep=linesep)
    return buffer.getvalue()
