"""Message headers as a case-insensitive mapping (``headers["message-id"]`` finds a
``Message-ID`` header), keeping each name as it was first given and the order of
insertion. Standard library only, so a backend's import doesn't load an HTTP client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["Headers"]


class Headers(MutableMapping[str, str]):
    """``{name: value}`` with names compared case-insensitively."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        #: lowercased name -> (name as given, value)
        self._items: dict[str, tuple[str, str]] = {}
        self.update(items)

    def __setitem__(self, name: str, value: str) -> None:
        key = name.lower()
        known = self._items.get(key)
        self._items[key] = (known[0] if known else name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {k: v for k, (_, v) in self._items.items()} == {
            str(k).lower(): v for k, v in other.items()
        }

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Headers:
        return Headers(self.items())

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (list(self.items()),))
