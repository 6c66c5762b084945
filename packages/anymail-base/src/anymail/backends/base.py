"""The base email backend that every ESP backend builds on.

Sending a message goes through four steps, each in one place:

1. :class:`~anymail.backends.message_data.MessageData` normalizes the message;
2. :func:`anymail.enforcement.enforce` applies the ESP's feature declaration;
3. the ESP's :class:`~anymail.backends.payload.BasePayload` subclass turns the data
   into an API request through its hooks;
4. the backend posts it and parses the response into ``anymail_status``.

An ESP backend names its :class:`~anymail.registry.EspDescription` (``esp = ESP``)
and its payload class; its display name, settings prefix, distribution and
feature declaration all come from the description.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from anymail.backends.message_data import DEFAULTABLE_ATTRIBUTES, MessageData
from anymail.backends.payload import BasePayload
from anymail.exceptions import (
    AnymailCancelSend,
    AnymailConfigurationError,
    AnymailError,
    AnymailRecipientsRefused,
)
from anymail.features import FeatureSupport
from anymail.message import REFUSED_STATUSES, AnymailRecipientStatus, AnymailStatus
from anymail.settings import get_anymail_setting
from anymail.signals import post_send, pre_send

if TYPE_CHECKING:
    from anymail.registry import EspDescription

__all__ = ["AnymailBaseBackend", "BasePayload", "MessageData"]


# ---------------------------------------------------------------------------
# Backend


def _background_aware(send_messages: Any) -> Any:
    import functools

    @functools.wraps(send_messages)
    def wrapper(self: AnymailBaseBackend, email_messages: Sequence[EmailMessage]) -> int:
        if self.background and email_messages:
            from anymail.outbox_queue import enqueue_messages

            return enqueue_messages(self, email_messages)
        return int(send_messages(self, email_messages))

    wrapper._anymail_background_aware = True  # type: ignore[attr-defined]
    return wrapper


class AnymailBaseBackend(BaseEmailBackend):
    """Base Anymail email backend: settings, send defaults, signals, status.

    Subclasses set ``esp`` (their EspDescription) and ``payload_class``, and
    implement ``post_to_esp`` and ``parse_recipient_status``. ``esp_name``,
    ``esp_id``, ``features`` and ``distribution`` are derived from ``esp``.
    """

    #: the ESP this backend sends through (sets the four attributes below)
    esp: ClassVar[EspDescription | None] = None
    esp_name: ClassVar[str] = "ESP"
    esp_id: ClassVar[str] = "esp"
    features: ClassVar[FeatureSupport] = FeatureSupport.all_supported()
    #: the distribution that provides the backend (for the User-Agent header)
    distribution: ClassVar[str] = "anymail-base"
    #: the payload class build_message_payload instantiates
    payload_class: ClassVar[type[BasePayload] | None] = None

    @classmethod
    def payload_classes(cls) -> tuple[type[BasePayload], ...]:
        """Every payload class the backend may use (the conformance suite checks that
        together they implement the hook of each feature the ESP declares supported)."""
        return (cls.payload_class,) if cls.payload_class is not None else ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("send_messages")
        if own is not None and not getattr(own, "_anymail_background_aware", False):
            # An ESP that groups messages into its own API calls (Postmark's batch
            # endpoint, Mailjet's v3.1 Messages) overrides send_messages: a background
            # send must still only store and enqueue.
            cls.send_messages = _background_aware(own)  # type: ignore[method-assign]
        esp = cls.__dict__.get("esp")
        if esp is not None:
            cls.esp_name = esp.name
            cls.esp_id = esp.id
            cls.features = esp.features
            cls.distribution = esp.distribution

    #: names of instance attributes holding secrets (redacted from errors and debug output)
    secret_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Every Anymail option is read from kwargs first (a backend keyword argument, or
        # an OPTIONS key of a Django 6.1+ MAILERS alias), then from the ANYMAIL settings;
        # each is popped as it is read, so what is left over is unknown: Django's
        # BaseEmailBackend reports it (InvalidMailer under MAILERS).
        # fail_silently is ours to keep (Django 6.1 deprecates it on BaseEmailBackend).
        fail_silently = bool(kwargs.pop("fail_silently", False))
        if args:  # BaseEmailBackend(fail_silently) positionally, as Django < 6.1 allowed
            fail_silently, args = bool(args[0]), args[1:]
        #: the options as given (a background send stores the non-secret ones, so its
        #: task builds the same backend)
        self.background_options = {k: v for k, v in kwargs.items() if k != "alias"}
        #: send in the background (anymail.outbox): a backend option, or
        #: <ESP>_SEND_IN_BACKGROUND, or SEND_IN_BACKGROUND
        if "background" in kwargs:
            self.background = bool(kwargs.pop("background"))
        else:
            self.background = bool(
                get_anymail_setting(
                    "send_in_background",
                    esp_name=self.esp_id,
                    default=get_anymail_setting("send_in_background", default=False),
                )
            )
        self.ignore_recipient_status = bool(
            get_anymail_setting("ignore_recipient_status", kwargs=kwargs, default=False)
        )
        self.ignore_unsupported_features = bool(
            get_anymail_setting("ignore_unsupported_features", kwargs=kwargs, default=False)
        )
        self.send_defaults = self._combined_send_defaults(kwargs)
        super().__init__(*args, **kwargs)
        self.fail_silently = fail_silently
        self._lock = threading.RLock()

    def _combined_send_defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """SEND_DEFAULTS with <ESP>_SEND_DEFAULTS on top (ESP-specific values replace,
        not merge)."""
        general = get_anymail_setting("send_defaults", kwargs=kwargs, default={}) or {}
        specific, specific_setting = self.esp_send_defaults(kwargs)
        combined: dict[str, Any] = {}
        for source, setting in ((general, "SEND_DEFAULTS"), (specific or {}, specific_setting)):
            if not isinstance(source, Mapping):
                raise AnymailConfigurationError(f"ANYMAIL {setting} must be a dict.")
            unknown = set(source) - DEFAULTABLE_ATTRIBUTES
            if unknown:
                raise AnymailConfigurationError(
                    f"ANYMAIL {setting} has unknown key(s) {sorted(unknown)}; "
                    f"send defaults can set {sorted(DEFAULTABLE_ATTRIBUTES)}."
                )
            combined.update(source)
        return combined

    def esp_send_defaults(self, kwargs: dict[str, Any]) -> tuple[Any, str]:
        """The ESP's own send defaults and the setting they came from (an ESP that was
        renamed reads its old setting too)."""
        value = get_anymail_setting(
            "send_defaults", esp_name=self.esp_id, kwargs=kwargs, default={}
        )
        return value, f"{self.esp_id.upper()}_SEND_DEFAULTS"

    def secret_values(self) -> list[str]:
        """The secrets this backend holds, so errors and debug output can redact them."""
        return [
            str(value)
            for value in (getattr(self, name, None) for name in self.secret_attributes)
            if value
        ]

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} ({self.esp_name})>"

    # --- sending ---

    def open(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send each message, returning how many were sent.

        The connection (see ``open``) is opened once for the batch and closed after
        it unless it was already open.
        """
        if not email_messages:
            return 0
        if self.background:
            from anymail.outbox_queue import enqueue_messages

            return enqueue_messages(self, email_messages)
        with self._lock:
            created_connection = self.open()
            num_sent = 0
            try:
                for message in email_messages:
                    try:
                        sent = self._send(message)
                    except AnymailError:
                        if self.fail_silently:
                            sent = False
                        else:
                            raise
                    if sent:
                        num_sent += 1
            finally:
                if created_connection:
                    self.close()
        return num_sent

    def _send(self, message: EmailMessage) -> bool:
        message.anymail_status = AnymailStatus()  # type: ignore[attr-defined]
        if not self.run_pre_send(message):
            return False
        if not message.recipients():
            return False

        payload = self.build_message_payload(message, self.send_defaults)
        response = self.post_to_esp(payload, message)
        message.anymail_status.esp_response = response  # type: ignore[attr-defined]

        recipient_status = self.parse_recipient_status(response, payload, message)
        message.anymail_status.set_recipient_status(recipient_status)  # type: ignore[attr-defined]

        self.run_post_send(message)
        self.raise_for_recipient_status(message.anymail_status, response, payload, message)  # type: ignore[attr-defined]
        return True

    def run_pre_send(self, message: EmailMessage) -> bool:
        """Send the pre_send signal; False if a receiver cancelled the message."""
        try:
            pre_send.send(type(self), message=message, esp_name=self.esp_name)
        except AnymailCancelSend:
            return False
        return True

    def run_post_send(self, message: EmailMessage) -> None:
        """Send post_send to every receiver, then re-raise the first receiver error (if any)."""
        results = post_send.send_robust(
            type(self),
            message=message,
            status=message.anymail_status,  # type: ignore[attr-defined]
            esp_name=self.esp_name,
        )
        for _receiver, result in results:
            if isinstance(result, BaseException):
                raise result

    def raise_for_recipient_status(
        self, anymail_status: AnymailStatus, response: Any, payload: Any, message: EmailMessage
    ) -> None:
        if self.ignore_recipient_status or not anymail_status.status:
            return
        if anymail_status.status.issubset(REFUSED_STATUSES):
            raise AnymailRecipientsRefused(
                email_message=message, payload=payload, response=response, backend=self
            )

    # --- for subclasses ---

    def build_message_payload(
        self, message: EmailMessage, defaults: Mapping[str, Any]
    ) -> BasePayload:
        if self.payload_class is None:
            raise TypeError(f"{type(self).__name__} must set payload_class")
        return self.payload_class(message, defaults, self)

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> Any:
        raise TypeError(f"{type(self).__name__} must implement post_to_esp()")

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        raise TypeError(f"{type(self).__name__} must implement parse_recipient_status()")
