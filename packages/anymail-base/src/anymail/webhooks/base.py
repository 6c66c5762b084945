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

Who is at fault decides the answer. A request that is wrong (auth, signature,
replay, malformed payload) gets a 400 and no signal: the ESP should not send it
again. A fault on our side -- a receiver that raises, the store or database failing,
a missing setting, the converter failing on a payload it should have read -- gets
the ESP's declared retry answer (``EspDescription.webhook_retry_status``: 503 for
most, 429 for Brevo) with ``Retry-After``, and is logged with its traceback. The
events already signalled stay claimed, the others are released, so the retry
signals only what wasn't handled. A duplicate is acknowledged with 200.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.request import RawPostDataException
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from anymail.events import AnymailEvent, event_digest
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailInsecureWebhookWarning,
    AnymailWebhookUnavailable,
    AnymailWebhookValidationFailure,
)
from anymail.settings import UNSET, get_anymail_setting, string_list
from anymail.signals import inbound, tracking
from anymail.webhooks.delivery import Outcome, deliver_events
from anymail.webhooks.replay import ReplayProtection, get_replay_store

if TYPE_CHECKING:
    from anymail.registry import EspDescription

__all__ = [
    "AnymailBaseWebhookView",
    "AnymailInboundWebhookView",
    "AnymailTrackingWebhookView",
    "ReplayProtection",
]


logger = logging.getLogger("anymail.webhooks")


def read_json(body: bytes) -> Any:
    """A JSON body; a ValueError (a 400) for one that isn't JSON or is nested too deeply
    to parse (the parser's RecursionError)."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _file_digest(upload: Any) -> str:
    """An uploaded file's name and content, as a digest (for derived event ids)."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return f"{upload.name}:{digest.hexdigest()}"


#: The Retry-After (seconds) sent with a retry answer.
RETRY_AFTER_SECONDS = 60


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
        try:
            self.basic_auth = string_list(
                get_anymail_setting("webhook_secret", kwargs=settings_kwargs, default=None),
                "WEBHOOK_SECRET",
                "a 'user:password' string",
            )
            self.replay_store = get_replay_store(
                get_anymail_setting(
                    "webhook_replay_store", kwargs=settings_kwargs, default="database"
                ),
                get_anymail_setting(
                    "webhook_replay_cache", kwargs=settings_kwargs, default="default"
                ),
            )
            self.claim_lease = float(
                get_anymail_setting("webhook_claim_lease", default=self.claim_lease)
            )
            self.processing = get_anymail_setting(
                "webhook_processing", kwargs=settings_kwargs, default="inline"
            )
            if self.processing not in ("inline", "background"):
                raise AnymailConfigurationError(
                    "ANYMAIL['WEBHOOK_PROCESSING'] must be 'inline' or 'background', "
                    f"not {self.processing!r}."
                )
        except AnymailConfigurationError as err:
            # post() and head() answer so the ESP retries, before using either.
            self.configuration_error = self.configuration_error or err
            self.basic_auth, self.replay_store, self.processing = [], None, "inline"
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
            from anymail.webhooks import background

            try:
                body = background.read_body(request, self.max_body_size)
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

    def accept_for_background(self, request: HttpRequest, body: bytes) -> HttpResponse:
        """Background processing: store the verified request and enqueue its task (one
        write, which is also the duplicate claim), then answer 200 at once."""
        from anymail.webhooks import background

        try:
            stored = background.accept(self, request, body)
        except AnymailWebhookUnavailable as err:
            return self.retry_later("the webhook can't be stored for processing now", err)
        if not stored:
            logger.info("Duplicate %s webhook acknowledged, already stored", self.esp_name)
            return HttpResponse("Already received", content_type="text/plain")
        return HttpResponse("Accepted", content_type="text/plain")

    def deliver(self, events: Sequence[AnymailEvent]) -> HttpResponse:
        """Signal the events not handled before (:func:`deliver_events`), and answer
        the ESP by the outcome."""
        outcome = deliver_events(
            self, events, self.pending_tokens, getattr(self, "token_lifetime", 0.0)
        )
        if outcome.kind == Outcome.DUPLICATE:
            logger.info("Duplicate %s webhook acknowledged, not re-signalled", self.esp_name)
            return HttpResponse("Already received", content_type="text/plain")
        if outcome.kind != Outcome.DELIVERED:
            return self.retry_later(outcome.reason, outcome.error)
        return HttpResponse()

    def derive_event_id(self, request: HttpRequest, event: AnymailEvent, index: int) -> str:
        """A stable id for an event the ESP gave none: the digest of its raw event
        (:func:`anymail.events.event_digest`), or, for a raw event with no canonical
        form, of the request body and the event's position in it."""
        try:
            return event_digest(event.esp_event)
        except (TypeError, RecursionError):  # no canonical form; nested too deeply
            pass
        try:
            body: Any = request.body
        except RawPostDataException:  # a multipart post, already read into POST/FILES
            body = {
                "fields": request.POST,
                "files": {
                    name: [_file_digest(upload) for upload in request.FILES.getlist(name)]
                    for name in request.FILES
                },
            }
        return event_digest([body, index])

    def retry_later(self, reason: str, err: BaseException | None = None) -> HttpResponse:
        """A fault on our side: the answer that makes this ESP retry (its declared
        ``webhook_retry_status``), logged with the traceback."""
        logger.error(
            "Anymail %s webhook: %s; answering %s so %s retries",
            self.esp_name,
            reason,
            self.retry_status,
            self.esp_name,
            exc_info=(type(err), err, err.__traceback__) if err is not None else None,
        )
        response = HttpResponse(
            f"Temporarily unable to process the {self.esp_name} webhook; please retry",
            content_type="text/plain",
            status=self.retry_status,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    def unavailable(self) -> HttpResponse:
        """Kept for ESP views that answered a fault themselves: the retry answer."""
        return self.retry_later("the webhook can't be processed now")

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
        """Refuse a request outside the timestamp window (400). Its token is claimed
        with its events, once they are read: a token already handled makes the request
        a duplicate (200, no second signal). Call from validate_esp after verifying the
        signature that covers them."""
        protection = self.replay_protection(tolerance)
        protection.check_timestamp(timestamp)
        if token:
            self.pending_tokens.append(protection.token_key(token))
            self.token_lifetime = max(
                getattr(self, "token_lifetime", 0.0), protection.token_lifetime
            )

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
        """Turn the payload into normalized events (may raise on malformed payloads)."""
        raise TypeError(f"{type(self).__name__} must implement parse_events()")


class AnymailTrackingWebhookView(AnymailBaseWebhookView):
    """Base for tracking webhooks: sends the ``tracking`` signal."""

    signal = tracking


class AnymailInboundWebhookView(AnymailBaseWebhookView):
    """Base for inbound webhooks: sends the ``inbound`` signal."""

    signal = inbound
