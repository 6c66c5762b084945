"""Helpers shared by every Anymail backend and webhook: settings lookup, address
parsing, attachments, send-defaults merging and lazy-string handling."""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from email.charset import Charset
from email.header import decode_header, make_header
from email.message import Message
from email.mime.base import MIMEBase
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any, Final

from django.conf import settings
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.functional import Promise

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailInvalidAddress,
    AnymailSerializationError,
)


class _Unset:
    """Sentinel for "not given" (``None`` is a meaningful value: it drops a send default)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


# ---------------------------------------------------------------------------
# Settings


def get_anymail_setting(
    name: str,
    default: Any = UNSET,
    esp_name: str | None = None,
    kwargs: dict[str, Any] | None = None,
    allow_bare: bool = False,
) -> Any:
    """Return an Anymail setting, looking (in order) in:

    1. ``kwargs[name]`` (popped, so backends can pass their leftover kwargs on),
    2. ``settings.ANYMAIL["<ESP>_<NAME>"]``,
    3. ``settings.ANYMAIL_<ESP>_<NAME>``,
    4. ``settings.<ESP>_<NAME>`` (only if ``allow_bare``: for keys shared with other apps).

    ``name`` is the lowercase kwarg name (``"api_key"``); ``esp_name`` is the ESP's
    setting prefix (``"mailgun"``, ``"amazon_ses"``) or None for general settings.
    Raises AnymailConfigurationError, naming every place the setting could be given,
    if it is missing and no default was supplied.
    """
    if kwargs is not None and name in kwargs:
        return kwargs.pop(name)

    setting = f"{esp_name}_{name}".upper() if esp_name else name.upper()
    anymail_settings = getattr(settings, "ANYMAIL", None) or {}
    if not isinstance(anymail_settings, Mapping):
        raise AnymailConfigurationError("The ANYMAIL setting must be a dict.")
    if setting in anymail_settings:
        return anymail_settings[setting]

    prefixed = f"ANYMAIL_{setting}"
    if hasattr(settings, prefixed):
        return getattr(settings, prefixed)

    if allow_bare and hasattr(settings, setting):
        return getattr(settings, setting)

    if default is UNSET:
        places = [f'ANYMAIL = {{"{setting}": ...}}', prefixed]
        if allow_bare:
            places.append(setting)
        message = (
            f"You must set {setting} in your Django settings, as "
            + " or ".join(f"{place}" for place in places)
            + (
                f', or as the option "{name}" of the backend: a MAILERS alias\'s '
                f'"OPTIONS" (Django 6.1+) or get_connection({name}=...)'
                if esp_name
                else ""
            )
            + "."
        )
        raise AnymailConfigurationError(message)
    return default


# ---------------------------------------------------------------------------
# Lazy strings


def force_non_lazy(value: Any) -> Any:
    """Resolve lazy translation strings (gettext_lazy) to str, recursively in containers."""
    if isinstance(value, Promise):
        return force_str(value)
    if isinstance(value, dict):
        return {force_non_lazy(key): force_non_lazy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [force_non_lazy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(force_non_lazy(item) for item in value)
    return value


# ---------------------------------------------------------------------------
# Send defaults


def merge_with_default(default: Any, value: Any) -> Any:
    """Combine a message attribute with its send default, as the docs describe.

    Lists are concatenated (default first), dicts merged (the message's keys win),
    ``None`` on the message drops the default, anything else replaces it.
    """
    if value is UNSET:
        return default
    if value is None or default is UNSET or default is None:
        return value
    if isinstance(default, Mapping) and isinstance(value, Mapping):
        return {**default, **value}
    if (
        isinstance(default, Sequence | set)
        and isinstance(value, Sequence | set)
        and not isinstance(default, str | bytes)
        and not isinstance(value, str | bytes)
    ):
        return [*default, *value]
    return value


# ---------------------------------------------------------------------------
# Addresses


class EmailAddress:
    """A parsed email address.

    ``display_name`` and ``addr_spec`` are kept as given (unicode, not encoded);
    ``address`` is the friendly "Name <addr>" form with the name quoted if needed.
    """

    __slots__ = ("addr_spec", "display_name")

    def __init__(self, display_name: str, addr_spec: str) -> None:
        self.display_name = display_name
        self.addr_spec = addr_spec

    @property
    def username(self) -> str:
        return self.addr_spec.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.addr_spec.rpartition("@")[2]

    @property
    def idna_domain(self) -> str:
        """The domain in its ASCII (IDNA/punycode) form."""
        try:
            return self.domain.encode("idna").decode("ascii")
        except UnicodeError as err:
            raise AnymailInvalidAddress(
                f"Invalid domain in email address {self.addr_spec!r}"
            ) from err

    @property
    def idna_addr_spec(self) -> str:
        """The addr_spec with an ASCII (IDNA) domain; the local part is left as is.
        (An ASCII domain is returned exactly as given.)"""
        if self.domain.isascii():
            return self.addr_spec
        return f"{self.username}@{self.idna_domain}"

    @property
    def idna_address(self) -> str:
        """Like ``address`` ("Name <addr>"), with the domain in its ASCII (IDNA) form:
        what an ESP whose API types addresses as ``format: email`` expects."""
        if not self.display_name:
            return self.idna_addr_spec
        return f"{_quote_display_name(self.display_name)} <{self.idna_addr_spec}>"

    @property
    def address(self) -> str:
        """'Display Name <user@example.com>' (or just the addr_spec), without encoding.

        The display name is quoted if it holds RFC 5322 specials (a comma, say).
        Unlike ``email.utils.formataddr``, this accepts a non-ASCII domain or local part.
        """
        if not self.display_name:
            return self.addr_spec
        return f"{_quote_display_name(self.display_name)} <{self.addr_spec}>"

    def formataddr(self, encoding: str | None = "utf-8") -> str:
        """The address as a MIME header value: a non-ASCII display name is RFC 2047
        encoded and the domain IDNA encoded. (A non-ASCII local part is left as is:
        only an ESP that supports SMTPUTF8 can deliver it.)"""
        addr_spec = self.idna_addr_spec
        if not self.display_name:
            return addr_spec
        if addr_spec.isascii():
            return formataddr((self.display_name, addr_spec), charset=encoding or "utf-8")
        name = self.display_name
        if name.isascii():
            name = _quote_display_name(name)
        else:
            name = Charset(encoding or "utf-8").header_encode(name)
        return f"{name} <{addr_spec}>"

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"EmailAddress({self.display_name!r}, {self.addr_spec!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EmailAddress):
            return (self.display_name, self.addr_spec) == (other.display_name, other.addr_spec)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.display_name, self.addr_spec))


_SPECIALS: Final = re.compile(r'[][\\()<>@,:;".]')
_ESCAPES: Final = re.compile(r'[\\"]')


def _quote_display_name(name: str) -> str:
    """Quote a display name as email.utils.formataddr does (when it holds specials)."""
    if _SPECIALS.search(name):
        return '"' + _ESCAPES.sub(r"\\\g<0>", name) + '"'
    return name


def _is_valid_addr_spec(addr_spec: str) -> bool:
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain or "@" in domain:
        return False
    if any(ch.isspace() for ch in addr_spec) or "<" in addr_spec or ">" in addr_spec:
        return False
    return "." in domain or domain == "localhost"


def parse_address_list(addresses: Any, field: str | None = None) -> list[EmailAddress]:
    """Parse a list of address strings (each may hold several, comma-separated) into
    EmailAddress objects. Raises AnymailInvalidAddress for anything unparseable,
    naming the field.

    A display name that contains a comma must be quoted ('"Widgets, Inc." <w@example.com>'),
    exactly as RFC 5322 requires.
    """
    if addresses is None:
        return []
    if isinstance(addresses, str | Promise):
        addresses = [addresses]
    where = f" in `{field}`" if field else ""
    parsed: list[EmailAddress] = []
    for item in addresses:
        if item is None:
            continue
        if not isinstance(item, str | Promise):
            raise AnymailInvalidAddress(
                f"Invalid email address {item!r}{where}: an address must be a str, "
                f"not {type(item).__name__}."
            )
        text = force_str(item)
        if "\r" in text or "\n" in text:
            # Django's own EmailMessage.message() raises BadHeaderError for the same:
            # a newline would let an address add headers (or recipients) of its own.
            raise AnymailInvalidAddress(
                f"Invalid email address {text!r}{where}: it contains a line break (CR or LF)."
            )
        if not text.strip():
            raise AnymailInvalidAddress(f"Invalid email address '{text}'{where}: it is empty.")
        found = [pair for pair in getaddresses([text]) if any(pair)]
        if not found:
            raise AnymailInvalidAddress(
                f"Invalid email address '{text}'{where}: it holds no address."
            )
        for display_name, addr_spec in found:
            if not _is_valid_addr_spec(addr_spec):
                hint = ""
                if "," in text:
                    hint = (
                        " If a display name contains a comma, put it in double quotes: "
                        "'\"Widgets, Inc.\" <widgets@example.com>'."
                    )
                raise AnymailInvalidAddress(
                    f"Invalid email address '{text}'{where}: "
                    f"can't parse '{addr_spec or display_name}'." + hint
                )
            if display_name and "=?" in display_name:
                # Already RFC 2047 encoded: keep the readable form.
                display_name = str(make_header(decode_header(display_name)))
            parsed.append(EmailAddress(display_name, addr_spec))
    return parsed


def parse_single_address(address: Any, field: str | None = None) -> EmailAddress:
    """Parse exactly one address (envelope_sender, say)."""
    parsed = parse_address_list([address], field=field)
    if len(parsed) != 1:
        where = f" in `{field}`" if field else ""
        raise AnymailInvalidAddress(
            f"Only one email address is allowed{where}; found {len(parsed)}: '{address}'."
        )
    return parsed[0]


def addr_spec_of(address: str) -> str:
    """The bare 'user@example.com' part of an address string ('' if unparseable)."""
    return parseaddr(force_str(address))[1]


# ---------------------------------------------------------------------------
# Attachments


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
        return base64.b64encode(self.content).decode("ascii")

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


# ---------------------------------------------------------------------------
# Dates


def to_aware_datetime(value: Any, field: str = "send_at") -> datetime:
    """Convert a send_at-style value to an aware datetime.

    A date means midnight, and a naive datetime is interpreted, in Django's
    current timezone; int/float are POSIX timestamps.
    """
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            return timezone.make_aware(value, timezone.get_current_timezone())
        return value
    if isinstance(value, date):
        return timezone.make_aware(
            datetime.combine(value, time.min), timezone.get_current_timezone()
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    raise AnymailSerializationError(
        f"Can't convert {field}={value!r} ({type(value).__name__}) to a date and time: "
        "use a datetime, date, or POSIX timestamp.",
        field=field,
    )


def rfc2822date(dt: datetime) -> str:
    """An RFC 2822 date string (for example 'Mon, 15 Jan 2024 10:00:00 +0000')."""
    from email.utils import format_datetime

    return format_datetime(dt)


def timestamp(dt: datetime) -> int:
    return int(dt.timestamp())


# ---------------------------------------------------------------------------
# Misc


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


def first_or_none(values: Iterable[Any]) -> Any:
    for value in values:
        return value
    return None


def describe_type(value: Any) -> str:
    return type(value).__name__
