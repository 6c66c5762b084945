"""Parsing raw MIME without copying the bodies: each part's headers are parsed by the
email package, and each leaf part keeps its body as a slice of the raw bytes, turned
into the email package's text payload only if something asks for it.

``BytesParser`` turns the whole message into text and then into a list of lines per
part: a 20 MB message with attachments peaks at about seven times its size, and
reading an attachment decodes from that text. Here the MIME structure is found by
searching the raw bytes for each multipart's delimiter lines; a base64 attachment's
``get_content_bytes()`` decodes straight from the raw bytes (one copy, the decoded
content). The result is the message ``BytesParser`` gives (same parts, headers,
payloads, preamble and epilogue); for a shape this reader doesn't take (a malformed
header block, a missing delimiter, bare-CR line breaks, message/* parts other than
message/rfc822, multipart/digest) :func:`scan` returns None and the caller parses
with ``BytesParser``.
"""

from __future__ import annotations

from email.parser import BytesParser
from typing import Any

__all__ = ["LAZY_BODY", "scan", "transfer_encoding"]

#: where a lazily parsed leaf part keeps (raw bytes, start, end) of its body
LAZY_BODY = "_anymail_lazy_body"

_CR, _LF = 0x0D, 0x0A
_MULTIPART_CTES = frozenset({"", "7bit", "8bit", "binary"})


class _Unsupported(Exception):
    """A shape this reader leaves to the email package's parser."""


def scan(cls: type, policy: Any, raw: bytes) -> Any | None:
    """The message of class ``cls`` parsed from ``raw``, or None (parse it with BytesParser)."""
    try:
        return _part(cls, policy, raw, 0, len(raw))
    except _Unsupported:
        return None


def _part(cls: type, policy: Any, raw: bytes, start: int, end: int, delimited: bool = False) -> Any:
    """The part in ``raw[start:end]``. ``delimited``: a multipart's subpart, which ends
    with the line break before the next delimiter line: the email package leaves it out
    of a leaf's payload (it belongs to the delimiter) and tidies a multipart's epilogue."""
    body_start, header_end = _header_block(raw, start, end)
    header_block = raw[start:header_end]
    if header_block.count(b"\r") != header_block.count(b"\r\n"):
        raise _Unsupported  # a bare CR ends a header line for the email package
    message = BytesParser(_class=cls, policy=policy).parsebytes(header_block, headersonly=True)
    if message.defects or message._payload not in (None, ""):
        raise _Unsupported  # not a clean block of header lines
    maintype = message.get_content_maintype()
    if maintype == "multipart":
        _multipart(cls, policy, message, raw, body_start, end, delimited)
    elif maintype == "message":
        if (
            message.get_content_type() != "message/rfc822"
            or transfer_encoding(message) not in _MULTIPART_CTES
        ):
            raise _Unsupported
        message._payload = [_part(cls, policy, raw, body_start, end, delimited)]
    else:
        if delimited:
            end = max(body_start, end - _line_break_before(raw, start, end))
        message.__dict__[LAZY_BODY] = (raw, body_start, end)
    return message


def _line_break_before(raw: bytes, start: int, end: int) -> int:
    """The length of the line break that ends ``raw[start:end]`` (0 if none)."""
    if raw.startswith(b"\r\n", max(start, end - 2), end):
        return 2
    return 1 if end > start and raw[end - 1] in (_LF, _CR) else 0


def _header_block(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """(where the body starts, where the header lines end) for the part at ``start``."""
    if raw.startswith(b"\r\n", start, end):
        return start + 2, start
    if raw.startswith(b"\n", start, end):
        return start + 1, start
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, end)
    if crlf < 0 and lf < 0:
        return end, end  # headers only: the email package gives an empty payload too
    if lf < 0 or 0 <= crlf < lf:
        return crlf + 3, crlf + 1
    return lf + 2, lf + 1


def transfer_encoding(message: Any) -> str:
    """The part's Content-Transfer-Encoding, lowercase ("" when it has none)."""
    return str(message.get("content-transfer-encoding", "")).strip().lower()


def _multipart(
    cls: type, policy: Any, message: Any, raw: bytes, start: int, end: int, delimited: bool
) -> None:
    boundary = message.get_boundary()
    if not boundary or message.get_content_subtype() == "digest":
        raise _Unsupported
    if transfer_encoding(message) not in _MULTIPART_CTES:
        raise _Unsupported
    delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
    parts: list[Any] = []
    position = start
    part_start: int | None = None  # None: still in the preamble
    while True:
        found = raw.find(delimiter, position, end)
        if found < 0:
            raise _Unsupported  # no closing delimiter (the email package notes a defect)
        after = found + len(delimiter)
        line_start = found == start or raw[found - 1] == _LF
        if found > start and raw[found - 1] == _CR:
            raise _Unsupported  # bare-CR line breaks
        closing = raw.startswith(b"--", after, end)
        line_end = after + 2 if closing else after
        while line_end < end and raw[line_end] in (0x20, 0x09):
            line_end += 1
        if not line_start or not _at_line_end(raw, line_end, end):
            position = found + 1
            continue
        if part_start is None:
            # the line break before a delimiter line belongs to the delimiter
            preamble_end = max(start, found - _line_break_before(raw, start, found))
            message.preamble = (
                None
                if found == start
                else raw[start:preamble_end].decode("ascii", "surrogateescape")
            )
        elif found == part_start:
            raise _Unsupported  # an empty part: the email package's reading varies
        else:
            parts.append(_part(cls, policy, raw, part_start, found, delimited=True))
        next_line = _skip_line_break(raw, line_end, end)
        if closing:
            epilogue = raw[next_line:end].decode("ascii", "surrogateescape")
            if delimited:  # as the email package tidies a subpart's epilogue
                epilogue = epilogue[: len(epilogue) - _line_break_before(raw, next_line, end)]
                message.epilogue = epilogue if next_line < end else None
            else:
                message.epilogue = epilogue
            break
        part_start = position = next_line
    if not parts:
        raise _Unsupported
    message._payload = parts


def _at_line_end(raw: bytes, index: int, end: int) -> bool:
    if index >= end or raw[index] == _LF:
        return True
    if raw[index] == _CR:
        if raw.startswith(b"\r\n", index, end):
            return True
        raise _Unsupported  # bare-CR line breaks
    return False


def _skip_line_break(raw: bytes, index: int, end: int) -> int:
    if raw.startswith(b"\r\n", index, end):
        return index + 2
    if raw.startswith(b"\n", index, end):
        return index + 1
    return index
