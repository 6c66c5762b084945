"""What an ESP package declares about its ESP: :class:`EspDescription` (identity,
features, settings, webhook routes and retry behaviour) and :class:`WebhookRoute`.

Loading the installed descriptions (the ``anymail.esps`` entry points) is
:mod:`anymail.registry`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any, Final, Literal

from anymail.events import EventType
from anymail.features import FeatureSupport

__all__ = ["EspDescription", "WebhookRoute", "import_string", "standard_webhooks"]

#: Where the project lives (each ESP's default ``docs_url`` is its README there).
REPOSITORY_URL: Final = "https://github.com/anymail/anymail"

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
    #: Whether its webhooks are signed and verified: True (always: WEBHOOK_SECRET basic
    #: auth is optional, and nothing warns when it is missing), "optional" (when its
    #: signing key setting is set: the view says whether it has one) or False. The
    #: webhook views, ``manage.py check`` and the conformance profile all read it here.
    signed_webhooks: bool | Literal["optional"] = False
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
    #: Whether the backend posts to an HTTP API whose root ``<ID>_API_URL`` can change
    #: (one of the standard settings every such ESP reads).
    api_url_setting: bool = True
    distribution: str = ""
    backend: str = ""
    class_prefix: str = ""
    #: the ESP's documentation page (default: its package README in the repository)
    docs_url: str = ""
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
        if not self.docs_url:
            readme = f"{REPOSITORY_URL}/tree/main/packages/{self.distribution}#readme"
            object.__setattr__(self, "docs_url", readme)
        object.__setattr__(self, "event_types", frozenset(EventType(e) for e in self.event_types))
        if self.signed_webhooks not in (True, False, "optional"):
            raise ValueError(f"{self.id}: signed_webhooks must be True, False or 'optional'")
        if not (400 <= self.webhook_retry_status <= 599):
            raise ValueError(f"{self.id}: webhook_retry_status must be a 4xx or 5xx status")
        if not self.webhook_retry_window > 0:
            raise ValueError(f"{self.id}: webhook_retry_window must be positive (seconds)")

    @property
    def standard_settings(self) -> tuple[str, ...]:
        """The settings every ESP's backend reads, named for this ESP: its send defaults,
        its background-sending switch and (for an HTTP API) its API root."""
        prefix = self.id.upper()
        names = [f"{prefix}_SEND_DEFAULTS", f"{prefix}_SEND_IN_BACKGROUND"]
        if self.api_url_setting:
            names.insert(0, f"{prefix}_API_URL")
        return tuple(names)

    @property
    def all_settings(self) -> tuple[str, ...]:
        """Every setting the ESP reads: its own (``settings``), then the standard ones."""
        return tuple(dict.fromkeys((*self.settings, *self.standard_settings)))

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
