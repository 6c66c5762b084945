"""Base views for ESP tracking and inbound webhooks.

A webhook request goes through two halves. Reading the request (the view):

1. ``validate_basic_auth``: HTTP basic auth against WEBHOOK_SECRET (constant-time,
   against every allowed secret);
2. ``read_payload``: the body as the ESP's payload (JSON, or form fields); a body
   that can't be read gets a 400;
3. ``reject_early``: the ESP may refuse a payload it recognizes as misdirected
   (posted to the wrong Anymail URL) with a 400 that says what to change;
4. ``validate_esp``: the ESP's own checks (signatures, replay protection).

Failures raise AnymailWebhookValidationFailure, a SuspiciousOperation, so Django
answers 400 and no signal is sent. Then converting it:

5. ``parse_events``: the payload becomes normalized events, normally by calling a
   pure function of the ESP's module (payload in, events out) that tests can call
   directly. A payload that can't be converted gets a 400, never a 500.
6. One signal per event, in order. If a receiver raises, processing stops and the
   ESP gets a 400 (so it retries later); the error is logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from anymail.events import AnymailEvent
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailInsecureWebhookWarning,
    AnymailWebhookUnavailable,
    AnymailWebhookValidationFailure,
)
from anymail.signals import inbound, tracking
from anymail.utils import UNSET, get_anymail_setting
from anymail.webhooks.replay import ReplayProtection, ReplayStoreUnavailable, get_replay_store

if TYPE_CHECKING:
    from anymail.registry import EspDescription

__all__ = [
    "AnymailBaseWebhookView",
    "AnymailInboundWebhookView",
    "AnymailTrackingWebhookView",
    "ReplayProtection",
]


class _Duplicate(Exception):
    """A signed request whose token was already accepted: the ESP retrying a delivery
    it thinks failed. Acknowledged (200), not signalled again."""


logger = logging.getLogger("anymail.webhooks")


@method_decorator(csrf_exempt, name="dispatch")
class AnymailBaseWebhookView(View):
    """Base for every ESP webhook view.

    Subclasses set ``esp`` (their EspDescription, which gives ``esp_name`` and
    ``esp_id``) and implement ``parse_events``; signed ESPs implement
    ``validate_esp``. Settings can be overridden per view:
    ``MyView.as_view(webhook_secret="u:p")``.
    """

    esp: ClassVar[EspDescription | None] = None
    esp_name: ClassVar[str] = "ESP"
    esp_id: ClassVar[str] = "esp"
    signal: ClassVar[Signal]
    http_method_names = ["post", "head"]
    #: Django 5.1's LoginRequiredMiddleware: the ESP can't log in.
    login_required = False

    #: Whether to warn when no WEBHOOK_SECRET is set (off for ESPs that sign their posts;
    #: an instance may turn it off in read_esp_settings, e.g. when a signing key is set).
    warn_if_no_basic_auth: bool = True

    # Overridable with as_view(**kwargs); UNSET means "read the setting".
    webhook_secret: Any = UNSET
    webhook_replay_store: Any = UNSET
    webhook_replay_cache: Any = UNSET

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        esp = cls.__dict__.get("esp")
        if esp is not None:
            cls.esp_name = esp.name
            cls.esp_id = esp.id

    def __init__(self, **kwargs: Any) -> None:
        settings_kwargs = {
            key: kwargs.pop(key)
            for key in ("webhook_secret", "webhook_replay_store", "webhook_replay_cache")
            if key in kwargs
        }
        self.esp_settings = self.read_esp_settings(kwargs)
        super().__init__(**kwargs)
        self.basic_auth = self._secrets(
            get_anymail_setting("webhook_secret", kwargs=settings_kwargs, default=None)
        )
        self.replay_store = get_replay_store(
            get_anymail_setting("webhook_replay_store", kwargs=settings_kwargs, default="database"),
            get_anymail_setting("webhook_replay_cache", kwargs=settings_kwargs, default="default"),
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
        self.validate_basic_auth(request)
        try:
            payload = self.read_payload(request)
        except AnymailWebhookValidationFailure:
            raise
        except Exception as err:
            return self.malformed(err)
        rejection = self.reject_early(request, payload)
        if rejection:
            return HttpResponseBadRequest(rejection, content_type="text/plain")
        try:
            self.validate_esp(request, payload)
        except _Duplicate:
            self._release_tokens()
            logger.info(
                "Duplicate %s webhook delivery acknowledged, not re-signalled", self.esp_name
            )
            return HttpResponse("Already received", content_type="text/plain")
        except AnymailWebhookUnavailable:
            self._release_tokens()
            return self.unavailable()
        except Exception:
            self._release_tokens()
            raise
        try:
            events = self.parse_events(request, payload)
        except AnymailWebhookValidationFailure:
            self._release_tokens()
            raise
        except AnymailWebhookUnavailable:
            self._release_tokens()
            return self.unavailable()
        except Exception as err:
            self._release_tokens()
            return self.malformed(err)
        try:
            for event in events:
                self.signal_for(event).send(sender=type(self), event=event, esp_name=self.esp_name)
        except Exception:
            self._release_tokens()
            logger.exception(
                "Error in an Anymail %s %s signal receiver", self.esp_name, self.signal_name
            )
            return HttpResponseBadRequest(
                f"Error processing {self.esp_name} webhook event", content_type="text/plain"
            )
        return HttpResponse()

    def unavailable(self) -> HttpResponse:
        """503 for a fault on our side (AnymailWebhookUnavailable): the ESP retries."""
        logger.exception("Anymail %s webhook can't be processed now", self.esp_name)
        return HttpResponse(
            "Temporarily unable to process the webhook", content_type="text/plain", status=503
        )

    def malformed(self, err: Exception) -> HttpResponse:
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

    def signal_for(self, event: AnymailEvent) -> Signal:
        """The signal that carries ``event``: the view's ``signal``. (A view that serves
        tracking and inbound events at one URL, like Mandrill's, picks per event.)"""
        return self.signal

    @property
    def signal_name(self) -> str:
        return "inbound" if self.signal is inbound else "tracking"

    # ------------------------------------------------------------------
    # Validation

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

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        """ESP-specific validation (signatures, replay protection). Default: none.
        Raise AnymailWebhookValidationFailure to reject the request."""

    def replay_protection(self, tolerance: float | None) -> ReplayProtection:
        return ReplayProtection(self.esp_id, tolerance, self.replay_store)

    def check_replay(
        self, timestamp: float | datetime, token: str | None, tolerance: float | None
    ) -> None:
        """Refuse a request outside the timestamp window (400); acknowledge one whose
        token was already accepted (200, no second signal). Call from validate_esp
        after verifying the signature that covers them."""
        protection = self.replay_protection(tolerance)
        protection.check_timestamp(timestamp)
        if token:
            key = protection.claim(token)
            if key is None:
                raise _Duplicate()
            self.claimed_tokens.append(key)

    def _release_tokens(self) -> None:
        """Forget the tokens a failed request claimed, so the ESP's retry is accepted."""
        protection = self.replay_protection(None)
        for key in getattr(self, "claimed_tokens", ()):
            try:
                protection.release(key)
            except ReplayStoreUnavailable:
                logger.exception("Anymail %s webhook: couldn't release a token", self.esp_name)
        self.claimed_tokens = []

    # ------------------------------------------------------------------
    # Reading and converting

    def read_payload(self, request: HttpRequest) -> Any:
        """The ESP's payload: a JSON body parsed (any JSON value), or form fields (a
        QueryDict; uploaded files stay in ``request.FILES``). Raise (anything) for a
        body that can't be read: the ESP gets a 400."""
        if request.content_type == "application/json":
            return json.loads(request.body.decode("utf-8"))
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.POST
        raise ValueError(f"unexpected content type {request.content_type!r}")

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        """A message for a 400 answer, when the payload is plainly not for this URL
        (say, an inbound message posted to the tracking webhook). Default: None."""
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> Sequence[AnymailEvent]:
        """Turn the payload into normalized events (may raise on malformed payloads)."""
        raise TypeError(f"{type(self).__name__} must implement parse_events()")


class AnymailTrackingWebhookView(AnymailBaseWebhookView):
    """Base for tracking webhooks: sends the ``tracking`` signal."""

    signal = tracking


class AnymailInboundWebhookView(AnymailBaseWebhookView):
    """Base for inbound webhooks: sends the ``inbound`` signal."""

    signal = inbound
