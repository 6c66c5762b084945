"""The registry of installed ESPs.

Each ESP package registers an :class:`EspDescription` under the entry-point group
``anymail.esps``, named by the ESP's id::

    [project.entry-points."anymail.esps"]
    mailgun = "anymail.esps.mailgun:ESP"

The description names the backend and webhook views by dotted path, so listing
the registry (or importing ``anymail.urls``) imports no ESP backend, webhook or
third-party client until it is used.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final

from anymail.esp import EspDescription, WebhookRoute, import_string
from anymail.esp import standard_webhooks as standard_webhooks  # re-exported (see __all__)
from anymail.exceptions import AnymailConfigurationError

# (EspDescription, WebhookRoute and standard_webhooks live in anymail.esp; importing
# them from here keeps working.)
__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadError",
    "clear_cache",
    "current_esps",
    "get_esp",
    "installed_esps",
    "load_errors",
]

ENTRY_POINT_GROUP: Final = "anymail.esps"


@dataclass(frozen=True)
class LoadError:
    """An ``anymail.esps`` entry point that could not be used (reported by a system check)."""

    name: str  #: the entry point's name (the ESP id it claims)
    value: str  #: what it points at
    distribution: str | None
    reason: str


@functools.cache
def _load() -> tuple[dict[str, EspDescription], tuple[LoadError, ...]]:
    esps: dict[str, EspDescription] = {}
    errors: list[LoadError] = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry_point, "dist", None)
        dist_name = dist.name if dist is not None else None

        def fail(reason: str, entry_point: Any = entry_point, dist_name: Any = dist_name) -> None:
            errors.append(LoadError(entry_point.name, entry_point.value, dist_name, reason))

        try:
            description = entry_point.load()
            if callable(description) and not isinstance(description, EspDescription):
                description = description()
        except Exception as err:  # one broken package must not break every ESP
            fail(f"failed to load: {type(err).__name__}: {err}")
            continue
        if not isinstance(description, EspDescription):
            fail(f"points at {type(description).__name__}, not an EspDescription")
            continue
        if description.id != entry_point.name:
            fail(f"describes ESP id {description.id!r}; the entry point's name must match")
            continue
        if description.id in esps and esps[description.id] != description:
            fail(
                f"registers the ESP {description.id!r}, which "
                f"{esps[description.id].distribution} also registers"
            )
            continue
        esps[description.id] = description
    return dict(sorted(esps.items())), tuple(errors)


_override: dict[str, EspDescription] | None = None


def _current() -> dict[str, EspDescription]:
    return _override if _override is not None else _load()[0]


def installed_esps() -> dict[str, EspDescription]:
    """{esp id: EspDescription} for every installed ESP package that loaded, sorted by id."""
    return dict(_current())


def current_esps() -> dict[str, EspDescription]:
    """The installed ESPs less those superseded by another installed one (a renamed
    ESP's old name): what the feature matrix and docs list."""
    esps = _current()
    return {
        esp_id: esp
        for esp_id, esp in esps.items()
        if not (esp.superseded_by and esp.superseded_by in esps)
    }


def load_errors() -> tuple[LoadError, ...]:
    """The ``anymail.esps`` entry points that were skipped, and why."""
    return () if _override is not None else _load()[1]


@contextlib.contextmanager
def override_installed_esps(esps: Iterable[EspDescription]) -> Iterator[None]:
    """Make the registry list exactly ``esps`` while the block runs (for tests:
    for example, to prove behaviour with no ESP installed in an environment that
    has some). Rebuild ``anymail.urls`` yourself if routes matter."""
    global _override
    previous = _override
    _override = {esp.id: esp for esp in sorted(esps, key=lambda esp: esp.id)}
    try:
        yield
    finally:
        _override = previous


def get_esp(esp_id: str) -> EspDescription:
    try:
        return _current()[esp_id]
    except KeyError:
        installed = ", ".join(_current()) or "none"
        for error in load_errors():
            if error.name == esp_id:
                raise AnymailConfigurationError(
                    f"The Anymail ESP {esp_id!r} ({error.distribution or error.value}) is installed "
                    f"but {error.reason}. Reinstall or upgrade the package that provides it."
                ) from None
        raise AnymailConfigurationError(
            f"No Anymail ESP {esp_id!r} is installed (installed: {installed}). "
            f"Install it with: pip install anymail-{esp_id.replace('_', '-')}"
        ) from None


def clear_cache() -> None:
    """Forget the loaded registry (after installing a package at run time, or in tests)."""
    _load.cache_clear()


class LazyView:
    """A URLconf view that imports its class (and the ESP's dependencies) on first use.

    It carries the markers Django checks on the resolved callback: CSRF exemption
    (ESPs can't send a CSRF token) and, for Django 5.1's LoginRequiredMiddleware,
    ``login_required = False``.
    """

    csrf_exempt = True
    login_required = False

    def __init__(self, dotted_path: str, **initkwargs: Any) -> None:
        self.dotted_path = dotted_path
        self.initkwargs = initkwargs
        self._view: Callable[..., Any] | None = None
        self.__name__ = dotted_path.rpartition(".")[2]
        self.__qualname__ = self.__name__
        self.__module__ = dotted_path.rpartition(".")[0]

    def load_view_class(self) -> Any:
        """The view class (importing it, and the ESP's dependencies). Not a
        ``view_class`` attribute: Django's URL resolver reads that one while it builds
        its lookup strings, in every reverse(), which would import every ESP."""
        return import_string(self.dotted_path)

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self._view is None:
            self._view = self.load_view_class().as_view(**self.initkwargs)
        return self._view(request, *args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyView({self.dotted_path!r})"


def iter_routes(
    esps: Iterable[EspDescription] | None = None,
) -> Iterable[tuple[EspDescription, WebhookRoute]]:
    for esp in installed_esps().values() if esps is None else esps:
        for route in esp.webhooks:
            yield esp, route
