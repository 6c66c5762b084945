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
   directly. A payload the converter refuses (a ``ValueError``) gets a 400.
6. Every event gets a stable ``event_id`` (the ESP's, or a digest of its raw event),
   and the events are claimed in the replay store in one operation: an event already
   handled (a redelivery) is not signalled again.
7. One signal per event, in order.

Who is at fault decides the answer (see :mod:`anymail.webhooks.responses`): a wrong
request (auth, signature, replay, malformed payload) gets a 400 and no signal; a
fault on our side (a receiver that raises, the store failing, a missing setting, a
converter bug) gets the ESP's declared retry answer, and only what wasn't handled is
signalled on the retry. A duplicate is acknowledged with 200.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
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
from anymail.settings import UNSET
from anymail.signals import inbound, tracking
from anymail.webhooks.configuration import read_general_settings
from anymail.webhooks.readers import read_json
from anymail.webhooks.replay import ReplayProtection
from anymail.webhooks.responses import WebhookResponses
from anymail.webhooks.validation import WebhookValidation

if TYPE_CHECKING:
    from anymail.registry import EspDescription

__all__ = [
    "AnymailBaseWebhookView",
    "AnymailInboundWebhookView",
    "AnymailTrackingWebhookView",
    "ReplayProtection",
]


@method_decorator(csrf_exempt, name="dispatch")
class AnymailBaseWebhookView(WebhookValidation, WebhookResponses, View):
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
    #: the ESP's converter, payload -> events (see parse_events), as a staticmethod
    #: (typed Any: mypy would read a Callable class attribute as a method)
    converter: ClassVar[Any] = None
    http_method_names = ["post", "head"]
    login_required = False  # (Django 5.1's LoginRequiredMiddleware: the ESP can't log in)

    #: The keys that verify the ESP's signatures (read_esp_settings sets them, for an
    #: ESP whose description says ``signed_webhooks="optional"``).
    signing_keys: Sequence[Any] = ()

    #: How long an event claim is held while its signals run (seconds): a request
    #: that dies holding claims frees them after this, for the ESP's retry.
    claim_lease: float = 300.0
    #: Background processing: the largest body stored (bytes). An inbound message
    #: with attachments can be tens of MB (Amazon SES: 40 MB; SendGrid: 30 MB).
    max_body_size: int = 64 * 1024 * 1024
    #: How long to wait for a concurrent request handling the same events to finish,
    #: before answering so the ESP retries (seconds).
    claim_wait: float = 5.0

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
        #: A setting the view can't work without is missing or wrong: every request
        #: gets the ESP's retry answer (the ESP keeps the events until it is fixed).
        self.configuration_error: AnymailConfigurationError | None = None
        # The ESP reads its own settings first, so an as_view() keyword overrides its
        # <ID>_<NAME> setting even where the name is also a general one (webhook_secret).
        try:
            self.read_esp_settings(kwargs)
        except AnymailConfigurationError as err:
            self.configuration_error = err
        settings_kwargs = {
            key: kwargs.pop(key)
            for key in (
                "webhook_secret",
                "webhook_replay_store",
                "webhook_replay_cache",
                "webhook_processing",
            )
            if key in kwargs
        }
        super().__init__(**kwargs)
        self.basic_auth, self.replay_store, self.processing = [], None, "inline"
        try:
            read_general_settings(self, settings_kwargs)
        except AnymailConfigurationError as err:
            # post() and head() answer so the ESP retries, before using either.
            self.configuration_error = self.configuration_error or err
        if self.configuration_error is None and not self.basic_auth and not self.signed:
            warnings.warn(
                f"Your Anymail {self.esp_name} webhooks are insecure and open to anyone on the web: "
                "set ANYMAIL['WEBHOOK_SECRET'] (and put it in the webhook URL you give your ESP).",
                AnymailInsecureWebhookWarning,
                stacklevel=2,
            )

    def read_esp_settings(self, kwargs: dict[str, Any]) -> Any:
        """Subclasses read their ESP settings here, into attributes of the view, with
        ``get_anymail_setting(name, esp_name=self.esp_id, kwargs=kwargs)`` (which pops
        the as_view keyword). Raise AnymailConfigurationError for a missing or wrong
        one: the view then answers every request so the ESP retries. (What it returns
        is not used.)"""

    @property
    def signed(self) -> bool:
        """Whether this view verifies the ESP's signature on every post: the ESP
        description says (``signed_webhooks``); where signing is "optional", when the
        view has signing keys (``signing_keys``, set by ``read_esp_settings``)."""
        declared = self.esp.signed_webhooks if self.esp is not None else False
        return declared is True or (declared == "optional" and bool(self.signing_keys))

    # ------------------------------------------------------------------
    # Request handling

    @property
    def retry_status(self) -> int:
        """The status that makes this ESP retry (its description declares it)."""
        return self.esp.webhook_retry_status if self.esp is not None else 503

    @property
    def retry_window(self) -> float:
        """How long the ESP redelivers: how long handled events are remembered."""
        return self.esp.webhook_retry_window if self.esp is not None else 3 * 24 * 3600

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Some ESPs check a URL exists with HEAD before posting: authenticate, say OK."""
        if self.configuration_error is not None:
            return self.retry_later("a setting is missing", self.configuration_error)
        self.validate_basic_auth(request)
        return HttpResponse()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        #: the keys of the signed request's tokens (check_replay), claimed with its events
        self.pending_tokens: list[str] = []
        if self.configuration_error is not None:
            return self.retry_later("a setting is missing", self.configuration_error)
        self.validate_basic_auth(request)
        body = b""
        if self.processing == "background":
            from anymail.webhooks import intake

            try:
                body = intake.read_body(request, self.max_body_size)
            except ValueError as err:
                return self.malformed(err)
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
        except AnymailWebhookUnavailable as err:
            return self.retry_later("the webhook can't be verified now", err)
        except AnymailConfigurationError as err:
            return self.retry_later("a setting is missing", err)
        except AnymailWebhookValidationFailure:
            raise
        except ValueError as err:  # a signature or header that can't be read
            return self.malformed(err)
        except Exception as err:  # our verification code failed
            return self.retry_later("verifying the request failed", err)
        if self.processing == "background":
            return self.accept_for_background(request, body)
        try:
            events = self.parse_events(request, payload)
            for index, event in enumerate(events):
                if not event.event_id:
                    event.event_id = self.derive_event_id(request, event, index)
        except AnymailWebhookValidationFailure:
            raise
        except ValueError as err:  # the converter refused the payload
            return self.malformed(err)
        except (AnymailWebhookUnavailable, AnymailConfigurationError) as err:
            return self.retry_later("the webhook can't be processed now", err)
        except Exception as err:  # our converter failed on a payload it should read
            return self.retry_later("converting the events failed", err)
        return self.deliver(events)

    def signal_for(self, event: AnymailEvent) -> Signal:
        """The signal that carries ``event``: the view's ``signal``. (A view that serves
        tracking and inbound events at one URL, like Mandrill's, picks per event.)"""
        return self.signal

    @property
    def signal_name(self) -> str:
        return "inbound" if self.signal is inbound else "tracking"

    # ------------------------------------------------------------------
    # Validation

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        """ESP-specific validation (signatures, replay protection). Default: none.
        Raise AnymailWebhookValidationFailure to reject the request."""

    # ------------------------------------------------------------------
    # Reading and converting

    def read_payload(self, request: HttpRequest) -> Any:
        """The ESP's payload: a JSON body parsed (any JSON value), or form fields (a
        QueryDict; uploaded files stay in ``request.FILES``). Raise (anything) for a
        body that can't be read: the ESP gets a 400."""
        if request.content_type == "application/json":
            return read_json(request.body)
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.POST
        raise ValueError(f"unexpected content type {request.content_type!r}")

    def reject_early(self, request: HttpRequest, payload: Any) -> str | None:
        """A message for a 400 answer, when the payload is plainly not for this URL
        (say, an inbound message posted to the tracking webhook). Default: None."""
        return None

    def parse_events(self, request: HttpRequest, payload: Any) -> Sequence[AnymailEvent]:
        """Turn the payload into normalized events (may raise on malformed payloads):
        by default, the view's ``converter``, the ESP module's pure function of the
        payload (``converter = staticmethod(tracking_events)``)."""
        if self.converter is None:
            raise TypeError(f"{type(self).__name__} must set converter or implement parse_events()")
        return self.converter(payload)

    def wrong_url(self, posted: str, where: str) -> str:
        """reject_early's answer to a post meant for the ESP's other webhook: ``posted``
        ("tracking" or "inbound") is what the payload is, ``where`` is the ESP setting
        that takes the other URL ("the inbound route")."""
        this = "inbound" if self.signal is inbound else "tracking"
        return (
            f"This is a {self.esp_name} {posted} post, sent to Anymail's {self.esp_name} "
            f"{this} webhook URL. Give {where} the URL /anymail/{self.esp_id}/{posted}/ instead."
        )


class AnymailTrackingWebhookView(AnymailBaseWebhookView):
    """Base for tracking webhooks: sends the ``tracking`` signal."""

    signal = tracking


class AnymailInboundWebhookView(AnymailBaseWebhookView):
    """Base for inbound webhooks: sends the ``inbound`` signal."""

    signal = inbound
