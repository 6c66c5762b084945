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
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import import_module, metadata
from typing import Any, Final

from anymail.exceptions import AnymailConfigurationError
from anymail.features import EventType, FeatureSupport

__all__ = [
    "ENTRY_POINT_GROUP",
    "EspDescription",
    "LoadError",
    "WebhookRoute",
    "clear_cache",
    "current_esps",
    "get_esp",
    "installed_esps",
    "load_errors",
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
    view: str  #: the view class: a dotted path, or a bare name in anymail.webhooks.<esp id>
    name: str  #: URL name suffix, e.g. "tracking_webhook"
    kind: str = "tracking"  #: "tracking" or "inbound"


def standard_webhooks(
    esp_id: str, class_prefix: str, *, tracking: bool = True, inbound: bool = True
) -> tuple[WebhookRoute, ...]:
    """The usual pair of routes: ``<esp>/tracking/`` and ``<esp>/inbound/``, served by
    ``anymail.webhooks.<esp>.<Prefix>TrackingWebhookView`` / ``...InboundWebhookView``."""
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
    """Everything about one ESP that isn't code: the one place its identity lives.

    Its backend and webhook views point at it (``esp = ESP``) and derive their names,
    settings prefix and feature declaration from it. Everything but ``id``, ``name``
    and ``features`` has a default that follows the package conventions:

    - ``distribution``: ``anymail-<id with dashes>``
    - ``backend``: ``anymail.backends.<id>.EmailBackend``
    - ``webhooks``: ``<id>/tracking/`` (if ``tracking``) and ``<id>/inbound/`` (if
      ``inbound``), served by ``anymail.webhooks.<id>.<Name>TrackingWebhookView`` and
      ``<Name>InboundWebhookView`` (``<Name>`` is ``name`` without spaces, or
      ``class_prefix``), plus ``extra_webhooks``.
    """

    id: str  #: "mailgun", "amazon_ses": the URL prefix and settings prefix
    name: str  #: display name ("Mailgun", "Amazon SES"): the signals' esp_name
    features: FeatureSupport
    #: the event types its tracking webhook can report
    event_types: frozenset[EventType] = frozenset()
    #: whether it has a tracking webhook / an inbound webhook
    tracking: bool = True
    inbound: bool = False
    #: routes beyond the standard two (view given as a class name in anymail.webhooks.<id>)
    extra_webhooks: tuple[WebhookRoute, ...] = ()
    #: False for an ESP whose routes are all in extra_webhooks (Mandrill's combined view)
    standard_routes: bool = True
    #: the settings it reads, without the ANYMAIL_ prefix ("MAILGUN_API_KEY", ...)
    settings: tuple[str, ...] = ()
    #: settings the backend can't send without; an entry may be a tuple of alternatives
    #: (any one will do). ``manage.py check`` reports a missing one by name.
    required_settings: tuple[str | tuple[str, ...], ...] = ()
    #: settings its webhooks can't work without (signing keys), likewise
    webhook_required_settings: tuple[str | tuple[str, ...], ...] = ()
    #: whether its webhooks are signed and verified (then WEBHOOK_SECRET basic auth is
    #: optional, and the check for a missing WEBHOOK_SECRET stays quiet for it)
    signed_webhooks: bool = False
    #: The status a webhook answers when the fault is on our side (a receiver raised,
    #: the store failed, a setting is missing): the one that makes *this* ESP retry,
    #: from its documentation. Most ESPs retry a 5xx; Brevo retries only 429.
    webhook_retry_status: int = 503
    #: How long (seconds) the ESP keeps redelivering a webhook it got no 2xx for: the
    #: events already handled are remembered this long, so a redelivery isn't
    #: signalled twice.
    webhook_retry_window: float = 3 * 24 * 3600
    #: The ESP's page that documents its webhook retries (which answers it retries,
    #: for how long).
    webhook_retry_docs: str | None = None
    #: The id of the ESP description that replaces this one (an ESP that was renamed,
    #: such as SendinBlue → Brevo). Its names keep working, with a deprecation
    #: warning; the feature matrix and docs list only the new one.
    superseded_by: str | None = None
    distribution: str = ""
    backend: str = ""
    class_prefix: str = ""
    docs_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _ESP_ID.match(self.id):
            raise ValueError(
                f"ESP id {self.id!r} must be lowercase letters, digits and underscores"
            )
        if not isinstance(self.features, FeatureSupport):
            raise TypeError(f"{self.id}: features must be a FeatureSupport declaration")
        defaults = {
            "distribution": f"anymail-{self.id.replace('_', '-')}",
            "backend": f"anymail.backends.{self.id}.EmailBackend",
            "class_prefix": self.name.replace(" ", ""),
        }
        for attribute, default in defaults.items():
            if not getattr(self, attribute):
                object.__setattr__(self, attribute, default)
        object.__setattr__(self, "event_types", frozenset(EventType(e) for e in self.event_types))
        if not (400 <= self.webhook_retry_status <= 599):
            raise ValueError(f"{self.id}: webhook_retry_status must be a 4xx or 5xx status")
        if not self.webhook_retry_window > 0:
            raise ValueError(f"{self.id}: webhook_retry_window must be positive (seconds)")

    @property
    def module(self) -> str:
        """The module holding the ESP's webhook views."""
        return f"anymail.webhooks.{self.id}"

    @property
    def webhooks(self) -> tuple[WebhookRoute, ...]:
        routes = (
            standard_webhooks(
                self.id, self.class_prefix, tracking=self.tracking, inbound=self.inbound
            )
            if self.standard_routes
            else ()
        )
        extra = tuple(
            route if "." in route.view else replace(route, view=f"{self.module}.{route.view}")
            for route in self.extra_webhooks
        )
        return (*routes, *extra)

    @property
    def backend_path(self) -> str:
        """The EMAIL_BACKEND value for this ESP."""
        return self.backend

    def load_backend(self) -> Any:
        """The backend class (imports the ESP's backend module and its client)."""
        return import_string(self.backend)

    def load_view(self, route: WebhookRoute) -> Any:
        """A route's view class."""
        return import_string(route.view)


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
