"""Email addresses: parsing Django's address strings into :class:`EmailAddress`, with
the IDNA and RFC 2047 forms ESP APIs need."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.charset import Charset
from email.header import decode_header, make_header
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any, Final

from django.utils.encoding import force_str
from django.utils.functional import Promise

from anymail.exceptions import AnymailInvalidAddress

__all__ = [
    "EmailAddress",
    "addr_spec_of",
    "parse_address_list",
    "parse_single_address",
    "recipient_entry",
]


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

    def as_object(self, email_key: str = "email", name_key: str = "name") -> dict[str, str]:
        """The address as the JSON object ESP APIs take (``{"email": ..., "name": ...}``,
        keys as the API names them): the IDNA addr-spec, and the name only when there
        is one."""
        obj = {email_key: self.idna_addr_spec}
        if self.display_name:
            obj[name_key] = self.display_name
        return obj

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


_ATEXT: Final = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LOCAL: Final = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC: Final = rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+"
#: a display name of plain words (letters in any script, digits, and the RFC 5322
#: atext symbols but "=", so no RFC 2047 word), one space apart
_WORD: Final = r"[\w!#$%&'*+/?^`{|}~-]+"
#: The forms nearly every address takes, 'user@example.com' and 'Name <user@example.com>',
#: read without the email package's general parser (~25 µs an address). Anything else
#: (quoting, comments, groups, extra spaces, international domains) takes the general
#: path; both give the same result for what this matches (tests/test_addresses.py).
_SIMPLE_ADDRESS: Final = re.compile(rf"(?:({_WORD}(?: {_WORD})*) <)?({_ADDR_SPEC})(>?)")


def _parse_simple(text: str) -> EmailAddress | None:
    match = _SIMPLE_ADDRESS.fullmatch(text)
    if match is None:
        return None
    display_name, addr_spec, closing = match.groups()
    if (display_name is None) != (closing == ""):  # "Name <a@b" or "a@b>"
        return None
    return EmailAddress(display_name or "", addr_spec)


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
        simple = _parse_simple(text)
        if simple is not None:
            parsed.append(simple)
            continue
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


def recipient_entry(per_recipient: Mapping[str, Any] | None, email: EmailAddress) -> Any:
    """A recipient's entry in ``merge_data`` or ``merge_metadata``: keyed by the
    address as the message gave it or in its IDNA form (either spelling of an
    internationalized domain); None when it has none."""
    if not per_recipient:
        return None
    for key in (email.addr_spec, email.idna_addr_spec):
        if key in per_recipient:
            return per_recipient[key]
    return None
