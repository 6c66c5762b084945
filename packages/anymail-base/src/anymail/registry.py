"""The registry of installed ESPs.

Each ESP package registers an :class:`EspDescription` under the entry-point group
``anymail.esps``, named by the ESP's id::

    [project.entry-points."anymail.esps"]
    mailgun = "anymail.esps.mailgun:esp"

The description names the backend and webhook views by dotted path, so listing
the registry (or importing ``anymail.urls``) imports no ESP backend, webhook or
third-party client until it is used.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import import_module, metadata
from typing import Any, Final

from .exceptions import AnymailConfigurationError
from .features import EventType, FeatureSupport

__all__ = [
    "ENTRY_POINT_GROUP",
    "EspDescription",
    "WebhookRoute",
    "clear_cache",
    "get_esp",
    "installed_esps",
    "standard_webhooks",
]

ENTRY_POINT_GROUP: Final = "anymail.esps"

_ESP_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def import_string(dotted_path: str) -> Any:
    """Import 'package.module.Attribute' (or 'package.module:Attribute')."""
    module_path, sep, attribute = dotted_path.partition(":")
    if not sep:
        module_path, _, attribute = dotted_path.rpartition(".")
    return getattr(import_module(module_path), attribute)


@dataclass(frozen=True)
class WebhookRoute:
    """One webhook URL of an ESP: ``anymail/<esp id>/<path>``, named
    ``anymail:<esp id>_<name>``."""

    path: str  #: relative to the ESP's prefix, e.g. "tracking/"
    view: str  #: dotted path of the view class
    name: str  #: URL name suffix, e.g. "tracking_webhook"
    kind: str = "tracking"  #: "tracking" or "inbound"


def standard_webhooks(
    esp_id: str, class_prefix: str, *, tracking: bool = True, inbound: bool = True
) -> tuple[WebhookRoute, ...]:
    """The usual pair of routes: ``<esp>/tracking/`` and ``<esp>/inbound/``."""
    module = f"anymail.webhooks.{esp_id}"
    routes = []
    if tracking:
        routes.append(
            WebhookRoute(
                "tracking/",
                f"{module}.{class_prefix}TrackingWebhookView",
                "tracking_webhook",
                "tracking",
            )
        )
    if inbound:
        routes.append(
            WebhookRoute(
                "inbound/",
                f"{module}.{class_prefix}InboundWebhookView",
                "inbound_webhook",
                "inbound",
            )
        )
    return tuple(routes)


@dataclass(frozen=True)
class EspDescription:
    """What an installed ESP package provides."""

    id: str  #: "mailgun", "amazon_ses": the URL prefix and settings prefix
    name: str  #: display name ("Mailgun", "Amazon SES"): the signals' esp_name
    distribution: str  #: the package that provides it ("anymail-mailgun")
    backend: str  #: dotted path of the EmailBackend class
    features: FeatureSupport
    #: the event types its tracking webhook can report
    event_types: frozenset[EventType] = frozenset()
    #: whether it has an inbound webhook
    inbound: bool = False
    webhooks: tuple[WebhookRoute, ...] = ()
    #: the settings it reads, without the ANYMAIL_ prefix ("MAILGUN_API_KEY", ...)
    settings: tuple[str, ...] = ()
    docs_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ESP_ID.match(self.id):
            raise ValueError(
                f"ESP id {self.id!r} must be lowercase letters, digits and underscores"
            )
        if not isinstance(self.features, FeatureSupport):
            raise TypeError(f"{self.id}: features must be a FeatureSupport declaration")

    @property
    def backend_path(self) -> str:
        """The EMAIL_BACKEND value for this ESP."""
        return self.backend

    def load_backend(self) -> type:
        return import_string(self.backend)

    def load_view(self, route: WebhookRoute) -> type:
        return import_string(route.view)


@functools.cache
def _load() -> dict[str, EspDescription]:
    esps: dict[str, EspDescription] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            description = entry_point.load()
        except Exception as err:
            raise AnymailConfigurationError(
                f"The Anymail ESP entry point {entry_point.name!r} ({entry_point.value}) "
                "failed to load: "
                f"{type(err).__name__}: {err}. Reinstall or uninstall the package that provides it."
            ) from err
        if callable(description) and not isinstance(description, EspDescription):
            description = description()
        if not isinstance(description, EspDescription):
            raise AnymailConfigurationError(
                f"The Anymail ESP entry point {entry_point.name!r} must point at an "
                "EspDescription, "
                f"not {type(description).__name__}."
            )
        if description.id != entry_point.name:
            raise AnymailConfigurationError(
                f"The Anymail ESP entry point {entry_point.name!r} describes ESP id "
                f"{description.id!r}; "
                "they must match."
            )
        if description.id in esps and esps[description.id] != description:
            raise AnymailConfigurationError(
                f"Two installed packages register the Anymail ESP {description.id!r}: "
                f"{esps[description.id].distribution} and {description.distribution}."
            )
        esps[description.id] = description
    return dict(sorted(esps.items()))


_override: dict[str, EspDescription] | None = None


def _current() -> dict[str, EspDescription]:
    return _override if _override is not None else _load()


def installed_esps() -> dict[str, EspDescription]:
    """{esp id: EspDescription} for every installed ESP package, sorted by id."""
    return dict(_current())


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

    @property
    def view_class(self) -> type:
        return import_string(self.dotted_path)

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self._view is None:
            self._view = self.view_class.as_view(**self.initkwargs)
        return self._view(request, *args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyView({self.dotted_path!r})"


def iter_routes(
    esps: Iterable[EspDescription] | None = None,
) -> Iterable[tuple[EspDescription, WebhookRoute]]:
    for esp in installed_esps().values() if esps is None else esps:
        for route in esp.webhooks:
            yield esp, route
