"""Base views for ESP tracking and inbound webhooks.

A webhook request goes through:

1. ``validate_request``: HTTP basic auth against WEBHOOK_SECRET (constant-time,
   against every allowed secret), then the ESP's own checks (``validate_esp``:
   signatures, replay protection). Failure raises AnymailWebhookValidationFailure,
   a SuspiciousOperation, so Django answers 400 and no signal is sent.
2. ``parse_events``: the ESP's payload becomes a list of normalized events.
   A payload that can't be parsed gets a 400, never a 500.
3. One signal per event, in order. If a receiver raises, processing stops and the
   ESP gets a 400 (so it retries later); the error is logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from django.core.cache import caches
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..events import AnymailEvent
from ..exceptions import (
    AnymailConfigurationError,
    AnymailInsecureWebhookWarning,
    AnymailWebhookValidationFailure,
)
from ..signals import inbound, tracking
from ..utils import UNSET, get_anymail_setting

__all__ = [
    "AnymailBaseWebhookView",
    "AnymailInboundWebhookView",
    "AnymailTrackingWebhookView",
    "ReplayProtection",
]

logger = logging.getLogger("anymail.webhooks")


class ReplayProtection:
    """Rejects webhook requests whose timestamp is outside a tolerance window, or
    whose one-time token was already accepted within it.

    Seen tokens are kept in a Django cache (``WEBHOOK_REPLAY_CACHE``, default
    "default"): use a cache shared by all your server processes (Redis, Memcached,
    the database) for the protection to hold across them.
    """

    def __init__(self, esp_id: str, tolerance: float | None, cache_alias: str = "default") -> None:
        self.esp_id = esp_id
        self.tolerance = tolerance
        self.cache_alias = cache_alias

    def _key(self, token: str) -> str:
        digest = hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()
        return f"anymail:webhook-token:{self.esp_id}:{digest}"

    def check_timestamp(self, timestamp: float | datetime) -> None:
        if self.tolerance is None:
            return
        seconds = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        age = time.time() - seconds
        if abs(age) > self.tolerance:
            raise AnymailWebhookValidationFailure(
                f"{self.esp_id} webhook timestamp is {int(abs(age))} seconds "
                f"{'old' if age > 0 else 'in the future'}; the tolerance is {int(self.tolerance)} seconds "
                "(a replayed request, or a server clock that is wrong)."
            )

    def claim_token(self, token: str) -> str:
        """Record the token as used; raise if it already was. Returns the cache key,
        so a request that then fails can release it (and the ESP's retry succeeds)."""
        key = self._key(token)
        timeout = int(self.tolerance * 2) if self.tolerance else 24 * 3600
        if not caches[self.cache_alias].add(key, True, timeout=timeout):
            raise AnymailWebhookValidationFailure(
                f"{self.esp_id} webhook token was already used (a replayed request)."
            )
        return key

    def release(self, key: str) -> None:
        caches[self.cache_alias].delete(key)


@method_decorator(csrf_exempt, name="dispatch")
class AnymailBaseWebhookView(View):
    """Base for every ESP webhook view.

    Subclasses set ``esp_name`` (signal display name), ``esp_id`` (settings prefix),
    ``signal`` and implement ``parse_events``; signed ESPs implement ``validate_esp``.
    Settings can be overridden per view: ``MyView.as_view(webhook_secret="u:p")``.
    """

    esp_name: ClassVar[str] = "ESP"
    esp_id: ClassVar[str] = "esp"
    signal: ClassVar[Signal]
    http_method_names = ["post"]
    #: Django 5.1's LoginRequiredMiddleware: the ESP can't log in.
    login_required = False

    #: Whether to warn when no WEBHOOK_SECRET is set (ESPs that can't send basic auth turn it off).
    warn_if_no_basic_auth: ClassVar[bool] = True

    # Overridable with as_view(**kwargs); UNSET means "read the setting".
    webhook_secret: Any = UNSET
    webhook_replay_cache: Any = UNSET

    def __init__(self, **kwargs: Any) -> None:
        settings_kwargs = {
            key: kwargs.pop(key)
            for key in ("webhook_secret", "webhook_replay_cache")
            if key in kwargs
        }
        self.esp_settings = self.read_esp_settings(kwargs)
        super().__init__(**kwargs)
        self.basic_auth = self._secrets(
            get_anymail_setting("webhook_secret", kwargs=settings_kwargs, default=None)
        )
        self.replay_cache_alias = get_anymail_setting(
            "webhook_replay_cache", kwargs=settings_kwargs, default="default"
        )
        if not self.basic_auth and self.warn_if_no_basic_auth:
            warnings.warn(
                f"Your Anymail {self.esp_name} webhooks are insecure and open to anyone on the web: "
                "set ANYMAIL['WEBHOOK_SECRET'] (and put it in the webhook URL you give your ESP).",
                AnymailInsecureWebhookWarning,
                stacklevel=2,
            )

    def read_esp_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Subclasses read their ESP settings here (popping their as_view kwargs)."""
        return {}

    @staticmethod
    def _secrets(value: Any) -> list[str]:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
            return [item for item in value if item]
        raise AnymailConfigurationError(
            "WEBHOOK_SECRET must be a 'user:password' string or a list of them."
        )

    # ------------------------------------------------------------------
    # Request handling

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Some ESPs check a URL exists with HEAD before posting: authenticate, say OK."""
        self.validate_basic_auth(request)
        return HttpResponse()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.claimed_tokens: list[str] = []
        try:
            self.validate_request(request)
        except Exception:
            self._release_tokens()
            raise
        try:
            events = self.parse_events(request)
        except AnymailWebhookValidationFailure:
            self._release_tokens()
            raise
        except Exception as err:
            self._release_tokens()
            logger.warning(
                "Malformed %s webhook payload: %s: %s",
                self.esp_name,
                type(err).__name__,
                err,
                exc_info=True,
            )
            return HttpResponseBadRequest(
                f"Malformed {self.esp_name} webhook payload", content_type="text/plain"
            )
        try:
            for event in events:
                self.signal.send(sender=type(self), event=event, esp_name=self.esp_name)
        except Exception:
            self._release_tokens()
            logger.exception(
                "Error in an Anymail %s %s signal receiver", self.esp_name, self.signal_name
            )
            return HttpResponseBadRequest(
                f"Error processing {self.esp_name} webhook event", content_type="text/plain"
            )
        return HttpResponse()

    @property
    def signal_name(self) -> str:
        return "inbound" if self.signal is inbound else "tracking"

    # ------------------------------------------------------------------
    # Validation

    def validate_request(self, request: HttpRequest) -> None:
        """Basic auth, then the ESP's own checks. Raise AnymailWebhookValidationFailure to reject."""
        self.validate_basic_auth(request)
        self.validate_esp(request)

    def validate_basic_auth(self, request: HttpRequest) -> None:
        if not self.basic_auth:
            return
        credentials = self._request_credentials(request)
        # Compare against every allowed secret, with no early exit, in constant time.
        matched = False
        for secret in self.basic_auth:
            matched |= constant_time_compare(credentials, secret)
        if not matched:
            raise AnymailWebhookValidationFailure(
                f"Missing or invalid basic auth in Anymail {self.esp_name} webhook"
            )

    @staticmethod
    def _request_credentials(request: HttpRequest) -> str:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return ""
        try:
            return base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return ""

    def validate_esp(self, request: HttpRequest) -> None:
        """ESP-specific validation (signatures, replay protection). Default: none."""

    def replay_protection(self, tolerance: float | None) -> ReplayProtection:
        return ReplayProtection(self.esp_id, tolerance, self.replay_cache_alias)

    def check_replay(
        self, timestamp: float | datetime, token: str | None, tolerance: float | None
    ) -> None:
        """Reject a request outside the timestamp window, or whose token was seen.
        Call from validate_esp after verifying the signature that covers them."""
        protection = self.replay_protection(tolerance)
        protection.check_timestamp(timestamp)
        if token:
            self.claimed_tokens.append(protection.claim_token(token))

    def _release_tokens(self) -> None:
        protection = self.replay_protection(None)
        for key in getattr(self, "claimed_tokens", ()):
            protection.release(key)
        self.claimed_tokens = []

    # ------------------------------------------------------------------
    # Parsing

    def parse_events(self, request: HttpRequest) -> list[AnymailEvent]:
        """Turn the request into normalized events (may raise on malformed payloads)."""
        raise TypeError(f"{type(self).__name__} must implement parse_events()")


class AnymailTrackingWebhookView(AnymailBaseWebhookView):
    """Base for tracking webhooks: sends the ``tracking`` signal."""

    signal = tracking


class AnymailInboundWebhookView(AnymailBaseWebhookView):
    """Base for inbound webhooks: sends the ``inbound`` signal."""

    signal = inbound
