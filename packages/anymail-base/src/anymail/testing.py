"""Helpers for testing Anymail webhooks (used by every ESP package's tests and the
conformance suite; usable in your own project's tests too).

::

    from anymail.testing import WebhookClient

    def test_bounce(client, settings):
        settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
        hook = WebhookClient(client, basic_auth="user:pass")
        response, events = hook.post("anymail:mailgun_tracking_webhook", json_body)
        assert response.status_code == 200
        assert events[0].event.event_type == "bounced"
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import django
from django.dispatch import Signal
from django.test import Client
from django.urls import NoReverseMatch, reverse

from anymail.events import AnymailEvent
from anymail.signals import inbound, tracking

__all__ = [
    "MAILERS_SUPPORTED",
    "CapturedSignal",
    "SignalCapture",
    "WebhookClient",
    "basic_auth_header",
    "feature_added_later",
    "get_connection",
    "use_backend",
]

#: Whether this Django has the MAILERS setting (6.1+), which deprecates EMAIL_BACKEND
#: and ``django.core.mail.get_connection()``.
MAILERS_SUPPORTED: bool = django.VERSION >= (6, 1)


def use_backend(settings: Any, backend: str, **options: Any) -> None:
    """Make ``backend`` the default email backend in a test (pytest-django's
    ``settings``, or ``django.conf.settings`` inside override_settings): the
    ``MAILERS["default"]`` alias (with ``options`` as its OPTIONS) where Django has
    MAILERS, else ``EMAIL_BACKEND`` (options are then passed by get_connection)."""
    if MAILERS_SUPPORTED:
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": dict(options)}}
    else:
        settings.EMAIL_BACKEND = backend


def get_connection(backend: str | None = None, **kwargs: Any) -> Any:
    """``django.core.mail.get_connection()`` without its Django 6.1 deprecation: a new
    instance of ``backend`` (default: the default mailer's BACKEND, with its OPTIONS),
    created with ``kwargs``. For tests that need a connection object of their own."""
    if not MAILERS_SUPPORTED:
        from django.core import mail

        return mail.get_connection(backend, **kwargs)
    from django.conf import settings
    from django.utils.module_loading import import_string

    options: dict[str, Any] = {}
    if backend is None:
        config = getattr(settings, "MAILERS", {}).get("default", {})
        backend = config.get("BACKEND", "django.core.mail.backends.smtp.EmailBackend")
        options = dict(config.get("OPTIONS", {}))
    return import_string(backend)(alias="default", **{**options, **kwargs})


@dataclass
class CapturedSignal:
    signal: str  #: "tracking" or "inbound"
    sender: Any
    event: AnymailEvent
    esp_name: str
    kwargs: dict[str, Any]


class SignalCapture:
    """Collects every tracking and inbound signal sent while it is active."""

    def __init__(self) -> None:
        self.signals: list[CapturedSignal] = []
        self._receivers: list[tuple[Signal, Any]] = []

    def __enter__(self) -> SignalCapture:
        for name, signal in (("tracking", tracking), ("inbound", inbound)):

            def receiver(
                sender: Any, event: AnymailEvent, esp_name: str, _name: str = name, **kwargs: Any
            ) -> None:
                kwargs.pop("signal", None)
                self.signals.append(CapturedSignal(_name, sender, event, esp_name, kwargs))

            signal.connect(receiver, weak=False)
            self._receivers.append((signal, receiver))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)
        self._receivers.clear()

    @property
    def events(self) -> list[AnymailEvent]:
        return [captured.event for captured in self.signals]


def basic_auth_header(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


class WebhookClient:
    """Posts webhook requests through the project's real URL configuration."""

    def __init__(self, client: Client | None = None, basic_auth: str | None = None) -> None:
        self.client = client or Client()
        self.basic_auth = basic_auth

    @staticmethod
    def url(url_name_or_path: str) -> str:
        if url_name_or_path.startswith("/"):
            return url_name_or_path
        try:
            return reverse(url_name_or_path)
        except NoReverseMatch:
            raise NoReverseMatch(
                f"{url_name_or_path!r} isn't routed: is the ESP installed, and anymail.urls included?"
            ) from None

    def post(
        self,
        url_name_or_path: str,
        body: Any = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        basic_auth: str | bool | None = True,
    ) -> tuple[Any, list[CapturedSignal]]:
        """POST ``body`` (bytes, str, a JSON-able object, or a dict of form fields for
        a multipart/form-data post). Returns (response, signals captured)."""
        headers = dict(headers or {})
        credentials = self.basic_auth if basic_auth is True else basic_auth or None
        if credentials:
            headers.setdefault("Authorization", basic_auth_header(credentials))
        if isinstance(body, dict | list) and content_type == "application/json":
            body = json.dumps(body)
        with SignalCapture() as capture:
            if content_type.startswith("multipart/form-data") and isinstance(body, dict):
                response = self.client.post(self.url(url_name_or_path), data=body, headers=headers)
            else:
                response = self.client.post(
                    self.url(url_name_or_path),
                    data=body,
                    content_type=content_type,
                    headers=headers,
                )
        return response, capture.signals


@contextlib.contextmanager
def feature_added_later(name: str = "future_option") -> Iterator[Any]:
    """Behave, while the block runs, as a newer anymail-base would: one that knows a
    feature no installed ESP package declares. The feature is an Anymail message
    attribute ``name`` (any value but None uses it), sent by a payload hook
    ``set_<name>`` that no ESP implements. For proving that upgrading anymail-base
    never breaks an installed ESP."""
    from anymail import enforcement
    from anymail.features import FEATURE_SPECS, GROUP_OPTIONS, FeatureSpec

    if name in FEATURE_SPECS:
        raise ValueError(f"{name!r} is already a feature")
    spec = FeatureSpec(name, name, GROUP_OPTIONS, attribute=name, hook=f"set_{name}",
                       normalize=lambda value: value)  # fmt: skip
    FEATURE_SPECS[name] = spec
    try:
        yield spec
    finally:
        del FEATURE_SPECS[name]
        enforcement._warned = {key for key in enforcement._warned if key[1] != name}
