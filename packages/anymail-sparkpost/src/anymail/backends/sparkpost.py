"""Anymail's SparkPost backend: sends through SparkPost's Python client (``sparkpost``).

Each message is one call of the client's ``Transmissions.send``, with the keyword
arguments python-sparkpost documents (``recipients``, ``from_email``, ``campaign``,
``template``, ...): the client turns them into the transmissions API's JSON.

The client is kept (rather than posting the JSON ourselves) because ``esp_extra`` is,
as the 6.0 docs promise, keyword arguments for ``Transmissions.send``: the client's
translation of them is part of the behaviour.

Connection reuse: python-sparkpost sends through a pluggable transport (its
``transport_class``), which Anymail gives the session of AnymailRequestsBackend.
One session lives from the backend's ``open()`` to its ``close()``, so
``send_messages`` sends every message over one pooled HTTP connection (Anymail 6.0
created a new client, and so a new connection, for every message). The transport
also applies ``REQUESTS_TIMEOUT`` (which the client alone can't), Anymail's
User-Agent, and the API key as the backend's ``ApiCredentials`` (the client itself is
never given the key).

The client is imported when the backend opens its connection, never at import, so
listing the registry or importing ``anymail.urls`` doesn't import it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from anymail import exceptions
from anymail.addresses import EmailAddress, recipient_entry
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend
from anymail.backends.transport import ApiCredentials, user_agent
from anymail.esps.sparkpost import ESP
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailImproperlyInstalled,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.settings import get_anymail_setting

if TYPE_CHECKING:
    import requests
    from django.core.mail import EmailMessage

__all__ = [
    "API_KEY_ENVIRONMENT_VARIABLE",
    "DEFAULT_API_URL",
    "EmailBackend",
    "SparkPostPayload",
    "sparkpost_client",
]

DISTRIBUTION = ESP.distribution

#: python-sparkpost's default endpoint. SparkPost EU is "https://api.eu.sparkpost.com/api/v1".
DEFAULT_API_URL = "https://api.sparkpost.com/api/v1"
#: Where python-sparkpost looks for an API key when none is given (Anymail does too).
API_KEY_ENVIRONMENT_VARIABLE = "SPARKPOST_API_KEY"
#: Transmissions.send keywords that give the transmission its content: without one
#: of them, Anymail sends an empty text part. (Not amp_html: SparkPost wants text or
#: html beside it. "content" is a whole content object given in esp_extra, such as
#: an A/B test's.)
CONTENT_KEYWORDS = ("text", "html", "template", "email_rfc822", "content")


@functools.cache
def sparkpost_client() -> tuple[type, type]:
    """python-sparkpost's ``Transmissions`` resource, and a transport class for it
    that sends through a session it is given. Imported on first use."""
    try:
        from sparkpost.base import RequestsTransport
        from sparkpost.transmissions import Transmissions
    except ImportError as err:
        raise AnymailImproperlyInstalled("sparkpost", install_extra=DISTRIBUTION) from err

    class PooledTransport(RequestsTransport):
        """The client's own transport (its error handling and ``results`` unwrapping),
        on the backend's session, with its timeout and credentials. ``last_response``
        is the response to the latest request, for errors about a response the
        client couldn't read."""

        def __init__(
            self, session: requests.Session, timeout: Any, credentials: ApiCredentials
        ) -> None:
            # Not RequestsTransport.__init__: it would open a session of its own.
            self.sess = session
            self.timeout = timeout
            self.credentials = credentials
            self.last_response: requests.Response | None = None

        def request(self, method: str, uri: str, headers: dict[str, str], **kwargs: Any) -> Any:
            self.last_response = None
            kwargs.setdefault("timeout", self.timeout)
            kwargs["hooks"] = {"response": self._remember}
            # "anymail-sparkpost/<version> python-sparkpost/<version>"
            client = user_agent(DISTRIBUTION, headers.get("User-Agent", ""))
            kwargs.update(self.credentials.request_params({**headers, "User-Agent": client}))
            return super().request(method, uri, **kwargs)

        def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self.last_response = response

    return Transmissions, PooledTransport


def _api_url(value: Any) -> str:
    url = str(value).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AnymailConfigurationError(
            f"SPARKPOST_API_URL must be the full, versioned API endpoint, such as "
            f'"{DEFAULT_API_URL}" or "https://api.eu.sparkpost.com/api/v1" '
            f"(not just a host name); got {value!r}."
        )
    return url


def idna_header_value(emails: Sequence[EmailAddress]) -> str:
    """Addresses as a header value ("Name <user@example.com>, ..."), domains in IDNA."""
    return ", ".join(email.idna_address for email in emails)


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------------------
# Payload


class SparkPostPayload(BasePayload):
    """A message as keyword arguments for python-sparkpost's ``Transmissions.send``
    (``self.params``).

    With a stored template (``template_id``), the transmission's content is the
    template alone: the message's From and Reply-To go in the API's ``override``
    block, and a subject, body, attachment or extra header can't be sent.

    Addresses go as the transmissions API's {email, name} objects
    (:meth:`EmailAddress.as_object`: no parsing left to the client, so display names
    with commas or quotes arrive as they are).
    """

    backend: EmailBackend

    def init_payload(self) -> None:
        #: keyword arguments for Transmissions.send
        self.params: dict[str, Any] = {}
        self.headers: dict[str, str] = {}
        self.spoofed_to: list[EmailAddress] | None = None
        self.merge_data: dict[str, dict[str, Any]] | None = None
        self.merge_metadata: dict[str, dict[str, Any]] | None = None
        self.extra: dict[str, Any] = {}
        self.template = self.data.template_id is not None

    def finish(self) -> None:
        # Recipients depend on cc, bcc, the spoofed To, merge data and merge metadata.
        self.params["recipients"] = self.build_recipients()
        if self.headers:
            self.params["custom_headers"] = self.headers
        # esp_extra replaces whatever Anymail set for the same keyword (6.0 docs).
        self.params.update(self.extra)
        if not any(key in self.params for key in CONTENT_KEYWORDS):
            # No body at all: SparkPost's content needs text or html. Send an empty
            # text part, as Django's own (SMTP) send of the message would.
            self.params["text"] = ""

    def _unsupported_with_template(self, feature: str, what: str) -> None:
        self.unsupported_feature(
            feature, f"{what} with a stored template (template_id): the template has its own"
        )

    def _override(self) -> dict[str, Any]:
        override: dict[str, Any] = self.params.setdefault("override", {})
        return override

    # --- core hooks ---

    def set_from_email(self, email: EmailAddress) -> None:
        if self.template:
            # The API's way to replace a stored template's From. (To use the
            # template's own From, set message.from_email = None.)
            self._override()["from"] = email.as_object()
        else:
            self.params["from_email"] = email.as_object()

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        pass  # build_recipients (in finish) reads them from self.data, with cc and bcc

    def set_subject(self, subject: str) -> None:
        self._content("subject", subject, "subject", "a subject")

    def set_text_body(self, body: str) -> None:
        self._content("text", body, "body", "a body")

    def set_html_body(self, body: str) -> None:
        self._content("html", body, "body", "an HTML body")

    def _content(self, keyword: str, value: str, feature: str, what: str) -> None:
        """The message's own content, unless a stored template gives it (then only an
        empty value is accepted)."""
        if not self.template:
            self.params[keyword] = value
        elif value:
            self._unsupported_with_template(feature, what)

    # --- feature hooks ---

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # SparkPost may replace the local part (all but Enterprise accounts).
        self.params["return_path"] = email.idna_addr_spec

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.params["metadata"] = metadata

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self.merge_metadata = merge_metadata

    def set_send_at(self, send_at: datetime) -> None:
        # options.start_time: YYYY-MM-DDTHH:MM:SS+-HH:MM (send_at is always aware here)
        self.params["start_time"] = send_at.isoformat(timespec="seconds")

    def set_tags(self, tags: list[str]) -> None:
        # tags=MAX_ONE: the declaration has already refused (or cut) more than one.
        self.params["campaign"] = tags[0]

    def set_track_clicks(self, track_clicks: bool) -> None:
        self.params["track_clicks"] = track_clicks

    def set_track_opens(self, track_opens: bool) -> None:
        self.params["track_opens"] = track_opens

    def set_template_id(self, template_id: str) -> None:
        self.params["template"] = template_id

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        # Includes SparkPost's special dynamic_html / dynamic_plain keys, as they are.
        self.params["substitution_data"] = merge_global_data

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        value = idna_header_value(emails)
        if self.template:
            self._override()["reply_to"] = value
        else:
            self.params["reply_to"] = value

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        if self.template:
            self._unsupported_with_template(Feature.HEADERS, "extra headers")
            return
        self.headers.update(headers)

    def add_attachment(self, attachment: Attachment) -> None:
        feature = Feature.INLINE_IMAGES if attachment.inline else Feature.ATTACHMENTS
        if self.template:
            self._unsupported_with_template(feature, Feature(feature).human_name)
            return
        if attachment.inline:
            # SparkPost makes an inline image's name its Content-ID (HTML uses cid:NAME).
            if not attachment.content_id:
                self.unsupported_feature(
                    feature,
                    "SparkPost needs a Content-ID for every inline image "
                    "(anymail.message.attach_inline_image gives it one)",
                )
                return
            name, key = attachment.content_id, "inline_images"
        else:
            if not attachment.name:
                self.unsupported_feature(
                    feature,
                    "SparkPost needs a filename for every attachment "
                    '(use message.attach(filename="...", ...))',
                )
                return
            name, key = attachment.name, "attachments"
        self.params.setdefault(key, []).append(
            {"name": name, "type": self.attachment_type(attachment), "data": attachment.b64content}
        )

    def attachment_type(self, attachment: Attachment) -> str:
        """The attachment's MIME type, with a charset for non-ASCII text (SparkPost
        uses the type as the part's Content-Type header, as it is)."""
        mimetype = attachment.mimetype
        if not mimetype.startswith("text/") or "charset" in mimetype.lower():
            return mimetype
        content = attachment.content
        if content.isascii():
            return mimetype
        encoding = self.data.encoding or "utf-8"
        try:
            content.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            return mimetype
        return f'{mimetype}; charset="{encoding}"'

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self.spoofed_to = list(emails)

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        # The client would fail on a value JSON can't represent: say which one, now.
        self.serialize_json(extra, "esp_extra")
        self.extra = dict(extra)

    # --- recipients ---

    def build_recipients(self) -> list[dict[str, Any]]:
        """The transmission's recipient objects.

        SparkPost sends each recipient a message of its own, whose To header is the
        recipient's own address unless ``address.header_to`` says otherwise. So to
        look like one message to everyone (several To recipients, cc, bcc or a
        spoofed To), every recipient gets the To header in ``header_to``, and cc
        addresses go in a CC header. A batch send (merge_data or merge_metadata)
        leaves each To recipient its own To header, as Anymail's batch sends do.
        """
        to, cc, bcc = self.data.to, self.data.cc, self.data.bcc
        batch = self.merge_data is not None or self.merge_metadata is not None
        shown = self.spoofed_to if self.spoofed_to is not None else to
        to_header = idna_header_value(shown)
        share_to_header = bool(to_header) and bool(
            self.spoofed_to is not None or cc or bcc or (len(to) > 1 and not batch)
        )
        if cc and not self.template:
            # (A stored template's content can't carry headers: with one, cc
            # recipients still get their copy, showing the To header, but no CC header.)
            self.headers["CC"] = idna_header_value(cc)

        recipients = []
        for kind, emails in (("to", to), ("cc", cc), ("bcc", bcc)):
            for email in emails:
                own_to = kind == "to" and batch and self.spoofed_to is None
                if share_to_header and not own_to:
                    # header_to replaces the whole To header (a name here would be
                    # put in front of it), so display names live in to_header.
                    address: dict[str, str] = {
                        "email": email.idna_addr_spec,
                        "header_to": to_header,
                    }
                else:
                    address = email.as_object()
                recipient: dict[str, Any] = {"address": address}
                metadata = recipient_entry(self.merge_metadata, email)
                if metadata is not None:
                    recipient["metadata"] = metadata
                substitution_data = recipient_entry(self.merge_data, email)
                if substitution_data is not None:
                    recipient["substitution_data"] = substitution_data
                recipients.append(recipient)
        return recipients


# ---------------------------------------------------------------------------
# Backend


class EmailBackend(AnymailRequestsBackend):
    """SparkPost's transmissions API through python-sparkpost, as a Django email backend."""

    esp = ESP
    payload_class = SparkPostPayload

    def __init__(self, **kwargs: Any) -> None:
        api_key = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, default=None, allow_bare=True
        )
        if not api_key:
            # What python-sparkpost itself does when it isn't given a key.
            api_key = os.environ.get(API_KEY_ENVIRONMENT_VARIABLE)
        if not api_key:
            raise AnymailConfigurationError(
                "SparkPost needs an API key: set SPARKPOST_API_KEY in your Django settings, "
                'as ANYMAIL = {"SPARKPOST_API_KEY": ...}, ANYMAIL_SPARKPOST_API_KEY or '
                'SPARKPOST_API_KEY, or pass api_key="..." to the backend (get_connection), '
                f"or set the {API_KEY_ENVIRONMENT_VARIABLE} environment variable."
            )
        self.api_key = str(api_key)
        #: python-sparkpost's Transmissions resource, while the connection is open
        self.transmissions: Any = None
        # (api_url without a trailing slash: the client adds "/transmissions")
        api_url = get_anymail_setting(
            "api_url", esp_name=self.esp_id, kwargs=kwargs, default=DEFAULT_API_URL
        )
        super().__init__(_api_url(api_url), **kwargs)

    def api_credentials(self) -> ApiCredentials:
        # The bare key, as python-sparkpost sends it (no "Bearer").
        return ApiCredentials.header("Authorization", self.api_key)

    # --- connection: one session (and so one pooled HTTP connection) per open ---

    def open(self) -> bool:
        """Create the session and the client on it; True if this call created them
        (so the caller closes them)."""
        if self.session is not None:
            return False
        transmissions_class, transport_class = sparkpost_client()
        super().open()
        assert self.session is not None
        try:
            # Transmissions(base_uri, api_key, transport_class): its base_uri is the
            # full versioned endpoint, which is what SPARKPOST_API_URL holds. The
            # transport applies the key (self.credentials), so the client gets none.
            self.transmissions = transmissions_class(
                self.api_url,
                None,
                functools.partial(transport_class, self.session, self.timeout, self.credentials),
            )
        except BaseException:
            self.close()
            raise
        return True

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.transmissions = None

    # --- sending ---

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> Any:
        """Transmissions.send; any failure becomes an AnymailAPIError."""
        assert isinstance(payload, SparkPostPayload)
        created = self.open()  # (send_messages has normally opened it already)
        try:
            return self._send_transmission(payload, message)
        finally:
            if created:
                self.close()

    def _send_transmission(self, payload: SparkPostPayload, message: EmailMessage) -> Any:
        import requests
        from sparkpost.exceptions import SparkPostAPIException, SparkPostException

        transport = self.transmissions.transport
        try:
            return self.transmissions.send(**payload.params)
        except SparkPostAPIException as err:
            # An error status from SparkPost: its own messages, then the whole body.
            raise exceptions.AnymailRequestsAPIError(
                describe_sparkpost_errors(err.response),
                email_message=message,
                payload=payload,
                response=err.response,
                backend=self,
            ) from err
        except SparkPostException as err:
            # The client refused the arguments (esp_extra can give it anything).
            raise AnymailAPIError(
                f"python-sparkpost refused the transmission: {err}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err
        except (requests.RequestException, ValueError, TypeError) as err:
            response = transport.last_response
            if response is not None:
                # A success status with a body the client couldn't read.
                raise exceptions.AnymailRequestsAPIError(
                    "Invalid SparkPost API response: not the JSON SparkPost sends",
                    email_message=message,
                    payload=payload,
                    response=response,
                    backend=self,
                ) from err
            if isinstance(err, requests.RequestException):
                raise exceptions.AnymailRequestsAPIError(
                    f"Error posting to {self.transmissions.uri}:",
                    description=f"{type(err).__name__}: {err}",
                    email_message=message,
                    payload=payload,
                    backend=self,
                ) from err
            raise
        finally:
            if self.debug_api_requests and transport.last_response is not None:
                self.print_debug(transport.last_response)

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        """Every recipient gets the transmission id. SparkPost reports only how many
        recipients it accepted and rejected, not which: all accepted is "queued",
        all rejected "rejected", and a mix "unknown" for everyone."""
        assert isinstance(payload, SparkPostPayload)
        transmission_id = response.get("id") if isinstance(response, Mapping) else None
        if not transmission_id:
            raise AnymailAPIError(
                f"Unexpected SparkPost API response, with no transmission id: {response!r}",
                email_message=message,
                payload=payload,
                backend=self,
            )
        accepted = _count(response.get("total_accepted_recipients"))
        rejected = _count(response.get("total_rejected_recipients"))
        if not rejected:
            status = "queued"
        elif not accepted:
            status = "rejected"
        else:
            status = "unknown"
        return {
            email.addr_spec: AnymailRecipientStatus(message_id=str(transmission_id), status=status)
            for email in payload.data.all_recipients
        }


def describe_sparkpost_errors(response: requests.Response) -> str:
    """SparkPost's error messages ("Invalid domain: Unconfigured or unverified sending
    domain. (code 7001)"), or a plain summary if the body has none."""
    try:
        errors = response.json()["errors"]
        described = []
        for error in errors:
            text = str(error.get("message") or "error")
            if error.get("description"):
                text += f": {error['description']}"
            if error.get("code"):
                text += f" (code {error['code']})"
            described.append(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        described = []
    if not described:
        return f"SparkPost API error {response.status_code}"
    return "SparkPost API error: " + "; ".join(described)
