"""Typed readers for webhook payloads: each returns the documented type or raises
:class:`MalformedPayload` (a ValueError), which the view answers with a 400.

A converter that reads its payload only through these never fails with a KeyError,
TypeError or AttributeError on a payload of the wrong shape; such an exception from a
converter means a bug on our side, and the view answers so the ESP retries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MalformedPayload",
    "epoch_timestamp",
    "integer",
    "iso_timestamp",
    "json_text",
    "lenient",
    "list_of",
    "mapping",
    "optional_text",
    "read_json",
    "required",
    "text",
    "text_list",
]


class MalformedPayload(ValueError):
    """A webhook payload that isn't the shape the ESP documents."""


_MISSING: Any = object()


def mapping(value: Any, name: str, *, allow_none: bool = True) -> Mapping[str, Any]:
    """An object (dict); ``None`` reads as empty unless ``allow_none`` is False."""
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"{name} must be an object, not {type(value).__name__}")
    return value


def list_of(value: Any, name: str) -> list[Any]:
    """A list; ``None`` reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{name} must be a list, not {type(value).__name__}")
    return value


def required(container: Any, key: str, name: str | None = None) -> Any:
    """``container[key]``, which must be there (and not null)."""
    value = mapping(container, name or "payload", allow_none=False).get(key, _MISSING)
    if value is _MISSING or value is None:
        raise MalformedPayload(f"{name + '.' if name else ''}{key} is missing")
    return value


def text(value: Any, name: str, *, numbers: bool = False) -> str:
    """A string. With ``numbers``, an integer is accepted as its text (some ESPs
    send ids as JSON numbers)."""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MalformedPayload(f"{name} must be a string, not {type(value).__name__}")


def text_list(value: Any, name: str) -> list[str]:
    """A list of strings (tags, say); ``None`` reads as empty."""
    items = list_of(value, name)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise MalformedPayload(f"{name}[{index}] must be a string, not {type(item).__name__}")
    return items


def integer(value: Any, name: str) -> int | None:
    """An integer (a JSON number, or its text); None for a missing value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedPayload(f"{name} must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise MalformedPayload(f"{name} must be an integer: {str(value)[:40]!r}")


def optional_text(value: Any, name: str, *, numbers: bool = False) -> str | None:
    """A string, or None for a missing or empty one."""
    if value is None or value == "":
        return None
    return text(value, name, numbers=numbers)


def epoch_timestamp(value: Any, name: str, *, scale: float = 1.0) -> datetime | None:
    """Seconds (or, with ``scale=1000``, milliseconds) since the epoch, as an aware UTC
    datetime; None for a missing value."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value) / scale
        if isinstance(value, bool) or not math.isfinite(seconds):
            raise ValueError
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise MalformedPayload(f"{name} is not a timestamp: {str(value)[:40]!r}") from None


def iso_timestamp(value: Any, name: str) -> datetime | None:
    """An ISO 8601 time (a naive one is taken as UTC), as an aware datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} must be an ISO 8601 string")
    from django.utils.dateparse import parse_datetime

    try:
        parsed = parse_datetime(value) or datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"{name} is not an ISO 8601 time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def read_json(body: bytes) -> Any:
    """A JSON body; a ValueError (a 400) for one that isn't JSON or is nested too deeply
    to parse (the parser's RecursionError)."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def json_text(value: Any, name: str) -> Any:
    """JSON held in a string field (a form field, a header): parsed; MalformedPayload
    for text that isn't JSON, or is nested too deeply to parse."""
    try:
        return read_json(text(value, name).encode("utf-8"))
    except MalformedPayload:
        raise
    except (ValueError, UnicodeError) as err:
        raise MalformedPayload(f"{name} is not JSON: {err}") from None


def lenient(read: Any, value: Any, name: str, default: Any = None, **options: Any) -> Any:
    """``read(value, name, **options)``, or ``default`` where the value is malformed:
    for an ESP whose documented rule is that an odd optional field is left out of the
    event, not the event refused."""
    try:
        return read(value, name, **options)
    except MalformedPayload:
        return default
