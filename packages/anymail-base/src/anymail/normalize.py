"""Turning the values users put on a message into typed values, or a clear error.

Every function raises :class:`~anymail.exceptions.AnymailSerializationError` naming
the attribute (and the item inside it) that can't be sent, so bad input never
reaches an ESP as a raw ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.encoding import force_str

from anymail.exceptions import AnymailSerializationError

__all__ = ["find_unserializable", "json_dict", "optional_bool", "optional_str", "str_list"]


def find_unserializable(value: Any, path: str = "") -> tuple[str, Any] | None:
    """The path ("['order']['total']") and value of the first item json can't encode."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return f"{path}[{key!r}] (key)", key
            found = find_unserializable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_unserializable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return path, value


def json_dict(value: Any, name: str) -> dict[str, Any] | None:
    """None, or a dict that JSON can represent (a copy)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AnymailSerializationError(
            f"`{name}` must be a dict, not {type(value).__name__} ({value!r}).", field=name
        )
    found = find_unserializable(value)
    if found:
        path, bad = found
        raise AnymailSerializationError(
            f"Don't know how to send `{name}{path}`: {type(bad).__name__} {bad!r} is not JSON "
            "serializable. Convert it to a str (or number) first.",
            field=f"{name}{path}",
        )
    return dict(value)


def optional_bool(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise AnymailSerializationError(
            f"`{name}` must be True, False or None, not {value!r}.", field=name
        )
    return value


def optional_str(value: Any) -> str | None:
    return None if value is None else force_str(value)


def str_list(value: Any, name: str = "tags") -> list[str]:
    """A list of str (an empty list for None)."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise AnymailSerializationError(
            f"`{name}` must be a list of str, not {type(value).__name__} ({value!r}).", field=name
        )
    items = []
    for item in value:
        if not isinstance(item, str):
            raise AnymailSerializationError(
                f"Each item of `{name}` must be a str; it contains {item!r} ({type(item).__name__}).",
                field=name,
            )
        items.append(item)
    return items
