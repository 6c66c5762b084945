"""Base backend for ESPs with an HTTP API, built on a ``requests.Session``.

One session per open connection: ``send_messages`` opens it once, every message
in the batch reuses its pooled HTTP connection, and ``close()`` releases it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.backends.base import AnymailBaseBackend, BasePayload
from anymail.backends.transport import (
    DEFAULT_TIMEOUT,
    ApiCredentials,
    pin_environment,
    user_agent,
    validate_timeout,
)
from anymail.exceptions import AnymailConfigurationError, redact
from anymail.settings import get_anymail_setting

if TYPE_CHECKING:
    import requests

__all__ = [
    "AnymailRequestsBackend",
    "ApiCredentials",
    "RequestsPayload",
    "user_agent",
    "validate_timeout",
]

#: Header names whose values are credentials (redacted in DEBUG_API_REQUESTS output).
_SECRET_HEADER = re.compile(
    r"authorization|api[-_]?key|token|secret|signature|password", re.IGNORECASE
)


_NO_CREDENTIALS = ApiCredentials()


class RequestsPayload(BasePayload):
    """A payload sent as one HTTP request. Subclasses fill in the request parts."""

    method = "POST"
    #: where the API credentials go (see __init__)
    credentials: ApiCredentials = _NO_CREDENTIALS

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: AnymailRequestsBackend
    ):
        self.headers: dict[str, str] = {}
        self.params: dict[str, Any] | None = None
        self.files: list[tuple[str, Any]] | None = None
        self.auth: Any = None
        #: where the API credentials go: the backend's, unless the payload replaces
        #: them (a per-message key from esp_extra, say)
        self.credentials: ApiCredentials = backend.credentials
        super().__init__(message, defaults, backend)

    def get_api_endpoint(self) -> str:
        """The path of the API call, relative to the backend's api_url."""
        raise TypeError(f"{type(self).__name__} must implement get_api_endpoint()")

    def get_request_params(self, api_url: str) -> dict[str, Any]:
        """Keyword arguments for ``requests.Session.request``, the credentials applied."""
        params = {
            "method": self.method,
            "url": api_url + self.get_api_endpoint(),
            "params": self.params,
            "data": self.serialize_data(),
            "files": self.files,
            "headers": self.headers,
            "auth": self.auth,
        }
        if self.credentials is not _NO_CREDENTIALS:
            params.update(self.credentials.request_params(self.headers))
        return params

    def serialize_data(self) -> Any:
        """The request body (a str for JSON APIs, or a dict/list of fields for form posts)."""
        return None


class AnymailRequestsBackend(AnymailBaseBackend):
    """Base for requests-based ESP backends.

    ``api_url`` defaults to the ``<ESP>_API_URL`` setting, else ``default_api_url``
    (always ending in "/", so payloads give endpoints relative to it). Subclasses
    explain an API error by overriding :meth:`error_hint`.
    """

    #: the ESP's API root, when <ESP>_API_URL isn't set
    default_api_url: ClassVar[str | None] = None
    #: the name of the ESP's API key setting ("api_key": <ID>_API_KEY, also as a bare
    #: Django setting), read into ``self.api_key`` when the backend is built; None for
    #: an ESP that reads its credentials itself
    api_key_setting: ClassVar[str | None] = None

    def __init__(self, api_url: str | None = None, **kwargs: Any) -> None:
        if self.api_key_setting:
            self.api_key: str = get_anymail_setting(
                self.api_key_setting, esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
            )
        # (A backend keyword or MAILERS option api_url arrives here as the argument.)
        if api_url is None:
            api_url = get_anymail_setting(
                "api_url", esp_name=self.esp_id, kwargs=kwargs, default=self.default_api_url
            )
            if not api_url:
                raise AnymailConfigurationError(
                    f"{type(self).__name__} has no default_api_url: set "
                    f"{self.esp_id.upper()}_API_URL"
                )
        if self.default_api_url is not None and not api_url.endswith("/"):
            api_url += "/"
        self.api_url = api_url
        self.timeout = validate_timeout(
            get_anymail_setting("requests_timeout", kwargs=kwargs, default=DEFAULT_TIMEOUT)
        )
        self.debug_api_requests = bool(
            get_anymail_setting("debug_api_requests", kwargs=kwargs, default=False)
        )
        self.session: requests.Session | None = None
        super().__init__(**kwargs)

    @cached_property
    def credentials(self) -> ApiCredentials:
        """Where the API credentials go in each request (built once, on first use)."""
        return self.api_credentials()

    def api_credentials(self) -> ApiCredentials:
        """The ESP's credentials and where they go: ``ApiCredentials.bearer(self.api_key)``
        and the like. Default: none (an ESP that authenticates otherwise)."""
        return _NO_CREDENTIALS

    def secret_values(self) -> list[str]:
        try:
            credentials = self.credentials
        except Exception:  # a setting missing: nothing more to redact
            credentials = _NO_CREDENTIALS
        return [*super().secret_values(), *credentials.secrets()]

    def open(self) -> bool:
        """Create the session; True if this call created it (so the caller closes it)."""
        if self.session is not None:
            return False
        self.session = self.create_session()
        return True

    def create_session(self) -> requests.Session:
        import requests  # only when a connection is opened: importing a backend is cheap

        session = requests.Session()
        session.headers["User-Agent"] = user_agent(self.distribution)
        pin_environment(session, self.api_url)
        return session

    def close(self) -> None:
        if self.session is None:
            return
        try:
            self.session.close()
        finally:
            self.session = None

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> requests.Response:
        """Send the payload's request; raise AnymailRequestsAPIError on any failure."""
        assert isinstance(payload, RequestsPayload)
        response = self.send_request(payload, message, payload.get_request_params(self.api_url))
        self.raise_for_status(response, payload, message)
        return response

    def send_request(
        self, payload: Any, message: EmailMessage, params: dict[str, Any]
    ) -> requests.Response:
        """Make one API request (``params``: keyword arguments for
        ``requests.Session.request``, credentials applied) on the open session, or a
        one-off one; AnymailRequestsAPIError if it can't be made. The answer's status
        is not checked (a batch API answers 4xx with a result per message).

        The params hold credentials (auth, an API key header or field): they are
        cleared before an error is raised from this frame, since Django's error reports
        (DEBUG pages, AdminEmailHandler) show every frame's locals. (Django's
        sensitive_variables would do it too, but importing it costs every site ~200
        modules at startup.) Callers pass the params inline, never as a local.
        """
        url = params["url"]
        session = self.session
        created = session is None
        if session is None:  # send called outside send_messages: use a one-off session
            session = self.create_session()
        try:
            response = session.request(**{"timeout": self.timeout, **params})
        except Exception as err:
            import requests

            params.clear()  # the credentials, out of this frame's locals
            if not isinstance(err, requests.RequestException):
                raise
            error = exceptions.AnymailRequestsAPIError(
                f"Error posting to {url}:",
                description=f"{type(err).__name__}: {err}",
                email_message=message,
                payload=payload,
                backend=self,
            )
            error.orig_err = err  # (for debugging: not chained, see below)
            # Not chained ("from None"): the requests and urllib3 frames below hold the
            # request's headers and body, credentials included, and Django's error
            # reports show every chained frame's locals.
            raise error from None
        finally:
            if created:
                session.close()
        if self.debug_api_requests:
            self.print_debug(response)
        return response

    def raise_for_status(
        self, response: requests.Response, payload: BasePayload, message: EmailMessage
    ) -> None:
        """Raise AnymailRequestsAPIError for a non-2xx answer, with the ESP's own error
        (from the response) and, where the ESP gives one, a hint on what to change."""
        if not 200 <= response.status_code < 300:
            raise exceptions.AnymailRequestsAPIError(
                description=self.error_hint(response, payload),
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """What to change, for the ESP's least helpful errors (default: nothing)."""
        return None

    def deserialize_json_response(
        self, response: requests.Response, payload: BasePayload, message: EmailMessage
    ) -> Any:
        """The response's JSON body; AnymailRequestsAPIError if it is not valid JSON."""
        try:
            return response.json()
        except ValueError as err:
            raise exceptions.AnymailRequestsAPIError(
                f"Invalid JSON in {self.esp_name} API response",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            ) from err

    # --- DEBUG_API_REQUESTS ---

    def print_debug(self, response: requests.Response) -> None:
        """Print the request and response, with credentials redacted."""
        request = response.request
        lines = [f"===== Anymail API request: {request.method} {request.url}"]
        lines += [
            f"{name}: {self._redact_header(name, value)}" for name, value in request.headers.items()
        ]
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        lines += ["", body or ""]
        lines += ["", f"===== Response: {response.status_code} {response.reason}"]
        lines += [
            f"{name}: {self._redact_header(name, value)}"
            for name, value in response.headers.items()
        ]
        lines += ["", response.text, "====="]
        print(redact("\n".join(lines), self.secret_values()), file=sys.stdout)

    @staticmethod
    def _redact_header(name: str, value: str) -> str:
        if _SECRET_HEADER.search(name):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            return f"{scheme} ********".strip()
        return value
