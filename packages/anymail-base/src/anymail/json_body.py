"""JSON request bodies with attachments, without escaping what needs no escaping.

CPython's ``json`` encoder scans every character of every string to escape it: about
2.5 ns a character, so a 30 KiB attachment (40 KiB of base64) costs ~100 µs per
message, more than the rest of building the request. Base64 text ("A-Z a-z 0-9 + / =")
never needs escaping. :class:`Base64Text` marks it (``Attachment.b64content`` returns
one), and :func:`dumps` encodes the rest of the body with short placeholders in its
place and then puts the base64 text in, unscanned: the output is exactly
``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``'s.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

__all__ = ["Base64Text", "dumps"]

#: Shorter base64 strings are encoded as any string (the placeholder costs more).
_MIN_SPLICE = 256
#: A placeholder no message text holds: a random nonce, new in every process.
_PLACEHOLDER = f"anymail-base64-{secrets.token_hex(12)}-"


class Base64Text(str):
    """A str known to hold only base64 characters, so JSON needs no escapes for it.

    Only ``anymail.attachments`` makes these, from ``base64.b64encode`` output: a
    Base64Text holding anything else would put it into a JSON body unescaped.
    """

    __slots__ = ()


def dumps(value: Any, *, has_base64: bool = True) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, faster for a
    value holding :class:`Base64Text` (``has_base64=False`` skips looking for it).

    Raises what ``json.dumps`` raises (TypeError, ValueError) for what JSON can't hold.
    """
    held: list[str] = []
    if has_base64:
        value = _hold_out(value, held)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not held:
        return text
    # The placeholders come out in the order _hold_out made them (json encodes dicts
    # in insertion order and lists in order, as _hold_out walks them).
    pieces: list[str] = []
    position = 0
    for index, content in enumerate(held):
        placeholder = f"{_PLACEHOLDER}{index}."
        found = text.index(placeholder, position)
        pieces.append(text[position:found])
        pieces.append(content)
        position = found + len(placeholder)
    pieces.append(text[position:])
    return "".join(pieces)


def _hold_out(value: Any, held: list[str]) -> Any:
    """A copy of ``value`` with each long Base64Text replaced by a placeholder (the
    text appended to ``held``). Only plain dicts, lists and tuples are looked into."""
    if type(value) is Base64Text:
        if len(value) < _MIN_SPLICE:
            return value
        held.append(value)
        return f"{_PLACEHOLDER}{len(held) - 1}."
    if type(value) is dict:
        return {key: _hold_out(item, held) for key, item in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_hold_out(item, held) for item in value]
    return value
