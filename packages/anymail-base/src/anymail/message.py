"""AnymailMessage, the inline-image helpers, and the normalized send status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from email.mime.image import MIMEImage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Final

from django.core.mail import EmailMessage, EmailMultiAlternatives

from anymail.exceptions import AnymailSerializationError
from anymail.mime import mime_attachment

__all__ = [
    "ANYMAIL_STATUSES",
    "AnymailMessage",
    "AnymailMessageMixin",
    "AnymailRecipientStatus",
    "AnymailStatus",
    "attach_inline_image",
    "attach_inline_image_file",
]

#: The normalized send statuses (see "ESP send status" in the docs).
ANYMAIL_STATUSES: Final = frozenset({"sent", "queued", "invalid", "rejected", "failed", "unknown"})

#: Statuses that mean the recipient will not get the message.
REFUSED_STATUSES: Final = frozenset({"invalid", "rejected", "failed"})

#: Anymail's extra message attributes (constructor keywords of AnymailMessage).
ANYMAIL_ATTRIBUTES: Final = (
    "envelope_sender",
    "metadata",
    "merge_metadata",
    "send_at",
    "tags",
    "track_clicks",
    "track_opens",
    "template_id",
    "merge_data",
    "merge_global_data",
    "esp_extra",
)


class AnymailRecipientStatus:
    """The send status of one recipient: ``status`` (a normalized str) and ``message_id``."""

    __slots__ = ("message_id", "status")

    def __init__(self, message_id: Any, status: str | None) -> None:
        if status is not None and status not in ANYMAIL_STATUSES:
            raise ValueError(
                f"Invalid send status {status!r}; expected one of {sorted(ANYMAIL_STATUSES)}"
            )
        self.message_id = message_id
        self.status = status

    def __repr__(self) -> str:
        return f"AnymailRecipientStatus(message_id={self.message_id!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AnymailRecipientStatus):
            return (self.message_id, self.status) == (other.message_id, other.status)
        return NotImplemented

    def __reduce__(self) -> tuple[Any, ...]:
        return (AnymailRecipientStatus, (self.message_id, self.status))


class AnymailStatus:
    """The normalized response from the ESP's send call (``message.anymail_status``).

    - ``message_id``: the ESP's id; a set of ids if the ESP gave each recipient its own
      (None until sent, or if the send failed)
    - ``status``: a set of the recipients' statuses (None until sent)
    - ``recipients``: {addr_spec: AnymailRecipientStatus}
    - ``esp_response``: the ESP's raw response
    - ``outbox_id``: for a message sent in the background (status ``queued``), the id
      of its outbox record (``anymail.models.OutboxMessage.anymail_id``); else None
    """

    def __init__(self) -> None:
        self.message_id: Any = None
        self.status: set[str] | None = None
        self.recipients: dict[str, AnymailRecipientStatus] = {}
        self.esp_response: Any = None
        self.outbox_id: str | None = None

    def __repr__(self) -> str:
        def _repr(value: Any) -> str:
            if isinstance(value, set):
                return "{" + ", ".join(repr(item) for item in sorted(value, key=str)) + "}"
            return repr(value)

        details = [f"status={_repr(self.status)}", f"message_id={_repr(self.message_id)}"]
        if len(self.recipients) > 1:
            details.append(f"{len(self.recipients)} recipients")
        return f"AnymailStatus<{', '.join(details)}>"

    def set_recipient_status(self, recipients: Mapping[str, AnymailRecipientStatus]) -> None:
        """Record per-recipient statuses and derive ``message_id`` and ``status`` from them."""
        self.recipients.update(recipients)
        recipient_statuses = self.recipients.values()
        self.status = {recipient.status for recipient in recipient_statuses if recipient.status}
        message_ids = {recipient.message_id for recipient in recipient_statuses}
        if len(message_ids) == 1:
            self.message_id = next(iter(message_ids))
        elif message_ids:
            self.message_id = message_ids
        else:
            self.message_id = None


class AnymailMessageMixin(EmailMessage):
    """Adds Anymail's ESP attributes and inline-image methods to an EmailMessage subclass.

    Attributes not given are left unset (not None), so that send defaults apply:
    setting one to None explicitly drops its default.
    """

    envelope_sender: str | None
    metadata: dict[str, Any] | None
    merge_metadata: dict[str, dict[str, Any]] | None
    send_at: datetime | date | float | int | None
    tags: list[str] | None
    track_clicks: bool | None
    track_opens: bool | None
    template_id: str | None
    merge_data: dict[str, dict[str, Any]] | None
    merge_global_data: dict[str, Any] | None
    esp_extra: dict[str, Any] | None
    anymail_status: AnymailStatus

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        extras = {name: kwargs.pop(name) for name in ANYMAIL_ATTRIBUTES if name in kwargs}
        super().__init__(*args, **kwargs)
        for name, value in extras.items():
            setattr(self, name, value)
        self.anymail_status = AnymailStatus()

    def attach_inline_image_file(
        self,
        path: str | Path,
        subtype: str | None = None,
        idstring: str = "img",
        domain: str | None = None,
    ) -> str:
        """Attach an inline image from a file; returns its Content-ID (use as ``cid:...``)."""
        return attach_inline_image_file(self, path, subtype, idstring, domain)

    def attach_inline_image(
        self,
        content: bytes,
        filename: str | None = None,
        subtype: str | None = None,
        idstring: str = "img",
        domain: str | None = None,
    ) -> str:
        """Attach an inline image from bytes; returns its Content-ID (use as ``cid:...``)."""
        return attach_inline_image(self, content, filename, subtype, idstring, domain)


class AnymailMessage(AnymailMessageMixin, EmailMultiAlternatives):
    """An EmailMultiAlternatives with Anymail's ESP attributes as constructor keywords."""


def attach_inline_image_file(
    message: EmailMessage,
    path: str | Path,
    subtype: str | None = None,
    idstring: str = "img",
    domain: str | None = None,
) -> str:
    """Attach the image file at ``path`` inline and return its Content-ID (without <>).

    The file's basename becomes the attachment's filename.
    """
    path = Path(path)
    content = path.read_bytes()
    return attach_inline_image(message, content, path.name, subtype, idstring, domain)


def attach_inline_image(
    message: EmailMessage,
    content: bytes,
    filename: str | None = None,
    subtype: str | None = None,
    idstring: str = "img",
    domain: str | None = None,
) -> str:
    """Attach ``content`` as an inline image and return its Content-ID (without <>).

    The Content-ID's domain is "inline" unless given: a hostname there can make
    some ESPs and mailbox providers mistake the id for a filename or a link.
    """
    if not isinstance(content, bytes):
        raise AnymailSerializationError(
            f"attach_inline_image() needs the image's content as bytes, not "
            f"{type(content).__name__}" + (" (no content)" if content is None else "") + ".",
            field="attachments",
        )
    content_id = make_msgid(idstring, domain or "inline")[1:-1]  # without <>
    if not subtype:  # sniff it (MIMEImage knows the common image formats)
        subtype = MIMEImage(content).get_content_subtype()
    message.attach(
        mime_attachment(
            content,
            f"image/{subtype}",
            filename=filename,
            disposition="inline",
            content_id=content_id,
        )
    )
    return content_id


def iter_recipients(message: EmailMessage) -> Iterable[str]:
    """Every to, cc and bcc address string of a message."""
    yield from message.to or ()
    yield from message.cc or ()
    yield from message.bcc or ()
