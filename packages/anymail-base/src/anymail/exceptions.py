"""Every exception and warning Anymail raises.

The class names and bases are public API, kept compatible with django-anymail so
that ``except AnymailAPIError`` (or ``except requests.RequestException``) in
existing code keeps working.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

if TYPE_CHECKING:
    from requests import Response

    from anymail.exceptions_requests import AnymailRequestsAPIError

__all__ = [
    "AnymailAPIError",
    "AnymailCancelSend",
    "AnymailConfigurationError",
    "AnymailDeprecationWarning",
    "AnymailError",
    "AnymailImproperlyInstalled",
    "AnymailInsecureWebhookWarning",
    "AnymailInvalidAddress",
    "AnymailRecipientsRefused",
    "AnymailRequestsAPIError",
    "AnymailSerializationError",
    "AnymailUnsupportedFeature",
    "AnymailWarning",
    "AnymailWebhookUnavailable",
    "AnymailWebhookValidationFailure",
    "redact",
]

REDACTED = "********"


_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each (non-trivial) secret in text, including inside
    base64 (an HTTP basic auth header is base64 of "user:secret")."""
    found: list[str] = [secret for secret in secrets if secret and len(secret) >= 4]
    if not found:
        return text

    def hide_encoded(match: re.Match[str]) -> str:
        token = match.group(0)
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace")
        except ValueError:
            return token
        return REDACTED if any(secret in decoded for secret in found) else token

    text = _BASE64_TOKEN.sub(hide_encoded, text)
    for secret in found:
        text = text.replace(secret, REDACTED)
    return text


class AnymailError(Exception):
    """Base class for exceptions raised by Anymail.

    Extra keyword arguments give context for the error message:

    - ``email_message``: the Django EmailMessage being sent
    - ``payload``: the ESP payload built from it
    - ``response``: the ESP's HTTP response (requests-based backends)
    - ``backend``: the backend instance (its secrets are redacted from the message)
    - ``description``: extra human-readable explanation
    """

    def __init__(
        self,
        *args: Any,
        email_message: Any = None,
        payload: Any = None,
        response: Response | None = None,
        backend: Any = None,
        description: str | None = None,
        status_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.email_message = email_message
        self.payload = payload
        self.response = response
        self.backend = backend
        self.description = description
        if status_code is None and response is not None:
            status_code = getattr(response, "status_code", None)
        self.status_code = status_code
        self.esp_name = getattr(backend, "esp_name", None)

    def __str__(self) -> str:
        parts = [" ".join(str(arg) for arg in self.args)]
        if self.description:
            parts.append(self.description)
        if self.response is not None:
            parts.append(self.describe_response())
        text = "\n".join(part for part in parts if part)
        return redact(text, self._secrets())

    def _secrets(self) -> Iterable[str | None]:
        get_secrets = getattr(self.backend, "secret_values", None)
        return get_secrets() if callable(get_secrets) else ()

    def describe_response(self) -> str:
        """A readable summary of the ESP's error response, for the exception message."""
        response = self.response
        if response is None:
            return ""
        status = getattr(response, "status_code", None)
        reason = getattr(response, "reason", None) or ""
        description = f"{self.esp_name or 'ESP'} API response {status}"
        if reason:
            description += f" {reason}"
        try:
            body = response.json()
        except (ValueError, AttributeError):
            body_text = getattr(response, "text", "") or ""
            if body_text:
                description += ": " + _truncate(body_text)
        else:
            description += ": " + _truncate(json.dumps(body, ensure_ascii=False, default=str))
        return description


def _truncate(text: str, limit: int = 1000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "... (truncated)"


class AnymailAPIError(AnymailError):
    """The ESP's API failed, or answered with an error."""


class AnymailRecipientsRefused(AnymailError):
    """Every recipient of the message was rejected or invalid at send time."""

    def __init__(self, message: str | None = None, *args: Any, **kwargs: Any) -> None:
        if message is None:
            message = "All message recipients were rejected or invalid"
        super().__init__(message, *args, **kwargs)


class AnymailInvalidAddress(AnymailError, ValueError):
    """An email address could not be parsed (from_email, to, cc, bcc, reply_to, ...)."""


class AnymailUnsupportedFeature(AnymailError, ValueError):
    """The message uses a feature the ESP cannot send.

    ``feature`` names the feature (an ``anymail.features.Feature`` value) when known.
    """

    def __init__(self, *args: Any, feature: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feature = feature


class AnymailSerializationError(AnymailError, TypeError):
    """A message attribute could not be represented to the ESP (for example a Decimal in metadata).

    ``field`` names the attribute (and key) that could not be serialized.
    """

    def __init__(
        self,
        message: str | None = None,
        *args: Any,
        field: str | None = None,
        orig_err: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        if message is None:
            esp = kwargs.get("backend") and getattr(kwargs["backend"], "esp_name", None)
            message = (
                f"Don't know how to send {field or 'this data'} to {esp or 'your ESP'}. "
                "Try converting it to a string or number first."
            )
            if orig_err is not None:
                message += f"\n{orig_err}"
        super().__init__(message, *args, **kwargs)
        self.field = field
        self.orig_err = orig_err


class AnymailCancelSend(Exception):
    """Raise from a pre_send receiver to cancel sending the message, silently."""


class AnymailWebhookValidationFailure(AnymailError, SuspiciousOperation):
    """A webhook request failed authentication or validation (Django answers 400)."""


class AnymailConfigurationError(ImproperlyConfigured):
    """Anymail is misconfigured: a required setting is missing or invalid."""


class AnymailImproperlyInstalled(AnymailConfigurationError, ImportError):
    """A package an ESP needs is not installed."""

    def __init__(self, missing_package: str, install_extra: str | None = None) -> None:
        install = install_extra or missing_package
        message = (
            f"The {missing_package} package is required to use this ESP, but isn't installed.\n"
            f'(Be sure to install "{install}" with pip.)'
        )
        super().__init__(message)
        self.missing_package = missing_package


class AnymailWarning(Warning):
    """Base class for warnings issued by Anymail."""


class AnymailInsecureWebhookWarning(AnymailWarning):
    """A webhook is in use without WEBHOOK_SECRET authentication."""


class AnymailDeprecationWarning(AnymailWarning, DeprecationWarning):
    """A feature or setting is deprecated and will be removed."""


class AnymailWebhookUnavailable(AnymailError):
    """A webhook can't be processed now because of a fault on our side (the replay
    store or a certificate fetch failing): the view answers 503, so the ESP retries
    later, and nothing is signalled. Never for anything the request itself got wrong."""


def __getattr__(name: str) -> Any:
    # AnymailRequestsAPIError is also a requests.RequestException: defining it imports
    # requests (and urllib3, ...), which only a requests-based backend sending needs.
    if name == "AnymailRequestsAPIError":
        from anymail.exceptions_requests import AnymailRequestsAPIError

        return AnymailRequestsAPIError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
