"""The Profile API: what an ESP package gives the conformance suite.

An ESP package ships its profile as ``anymail/conformance/<esp id>/profile.py``
(``PROFILE = <YourProfile>()``), with its webhook fixtures in ``fixtures/*.json``
beside it, and registers it in the ``anymail_conformance.profiles`` entry-point
group: adding an ESP changes nothing here.

A profile answers three questions:

1. How to point the backend at a fake server (:meth:`Profile.backend_settings`,
   :meth:`Profile.server`).
2. How the fake server answers each API scenario (:meth:`Profile.respond`).
3. How to read a captured API request back into a :class:`SentMessage`, the
   normalized view of what the ESP was asked to send (:meth:`Profile.sent_messages`).

For webhooks, it prepares each fixture's request (:meth:`Profile.prepare_webhook`),
re-signing it with a fresh timestamp where the ESP signs its webhooks.
"""

from __future__ import annotations

import base64
import inspect
import json
import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from anymail.registry import EspDescription, get_esp
from anymail_conformance.fake_server import FakeESPServer, FakeResponse, RecordedRequest

if TYPE_CHECKING:
    from anymail.message import AnymailMessage

__all__ = [
    "SCENARIOS",
    "Profile",
    "SentAttachment",
    "SentMessage",
    "ServerLike",
    "WebhookRequest",
    "address_list",
    "formatted_address",
]

#: API scenarios the suite asks a profile's fake server to play.
SCENARIOS = (
    "success",  # every recipient accepted
    "partial_rejection",  # some recipients rejected at send time (if the ESP reports that)
    "all_rejected",  # every recipient rejected at send time (if the ESP reports that)
    "client_error",  # a 4xx error response
    "server_error",  # a 5xx error response
    "malformed",  # a 2xx response whose body the backend can't parse
    "slow",  # a success answered only after SLOW_SECONDS (for timeout checks)
)

#: how long the "slow" scenario waits before answering (timeout_settings must be shorter)
SLOW_SECONDS = 2.0


def formatted_address(email: str, name: str | None = None) -> str:
    """How a SentMessage records an address: "Name <email>" (the name quoted where
    RFC 5322 needs it), or the bare email without a name. For profiles reading an
    API's {email, name} objects back."""
    from email.utils import formataddr

    return formataddr((name, email)) if name else email


def address_list(header: str | None) -> list[str]:
    """The addresses of a header value ("A <a@example.com>, b@example.com"), each as
    :func:`formatted_address` records it ([] for a missing or empty header)."""
    from email.utils import getaddresses

    if not header:
        return []
    return [formatted_address(email, name) for name, email in getaddresses([header])]


class ServerLike(Protocol):
    """What the suite needs of a fake ESP server (FakeESPServer, or a moto wrapper)."""

    url: str

    @property
    def connection_count(self) -> int: ...


@dataclass
class SentAttachment:
    filename: str | None
    content: bytes
    mimetype: str
    content_id: str | None = None  #: inline images only


@dataclass
class SentMessage:
    """The normalized view of one API request's message, as the profile reads it back.

    Addresses are formatted strings as the ESP received them ("Name <addr>" or
    "addr"); leave a field at its default when the request doesn't carry it.
    """

    from_email: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    alternatives: list[tuple[str, str]] = field(default_factory=list)  #: (content, mimetype)
    attachments: list[SentAttachment] = field(default_factory=list)
    inline_images: list[SentAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  #: extra headers, as sent
    spoofed_to: list[str] | None = None  #: the To header, when it differs from the recipients
    envelope_sender: str | None = None  #: or just "@domain" for ESPs that take only the domain
    metadata: dict[str, Any] = field(default_factory=dict)
    #: {recipient addr_spec: metadata}
    merge_metadata: dict[str, dict[str, Any]] | None = None
    send_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    track_clicks: bool | None = None
    track_opens: bool | None = None
    template_id: str | None = None
    #: {recipient addr_spec: data}, as the ESP receives it (emulated global data may be merged in)
    merge_data: dict[str, dict[str, Any]] | None = None
    merge_global_data: dict[str, Any] | None = None
    #: anything else the ESP was sent, for esp_extra checks
    raw: Any = None

    def effective_merge_data(self, recipient: str) -> dict[str, Any]:
        """What the recipient's merge fields resolve against."""
        return {**(self.merge_global_data or {}), **((self.merge_data or {}).get(recipient) or {})}


@dataclass
class WebhookRequest:
    """A webhook request ready to post through Django's test client."""

    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class Profile:
    """Base class for an ESP's conformance profile. Override what your ESP needs."""

    #: the ESP's registry id ("mailgun")
    esp_id: ClassVar[str]

    @property
    def esp(self) -> EspDescription:
        """The ESP's description, from the registry."""
        return get_esp(self.esp_id)

    def adapt_message(self, message: AnymailMessage, feature: str) -> None:
        """Adjust a message the suite built to prove ``feature`` so that this ESP can
        send it at all (for example, Amazon SES sends merge data only with a
        template). Default: nothing."""

    #: the send status the ESP reports for an accepted recipient ("queued" or "sent")
    accepted_status: ClassVar[str] = "queued"
    #: whether the send API reports rejected recipients (so all_rejected can raise AnymailRecipientsRefused)
    reports_rejections: ClassVar[bool] = False
    #: a from_email the ESP will accept in tests
    from_email: ClassVar[str] = "Sender <sender@example.com>"
    #: whether message_id in anymail_status is one id per recipient (a set for several)
    per_recipient_message_ids: ClassVar[bool] = False
    #: an esp_extra value that :meth:`check_esp_extra` can see reach the API: proves
    #: esp_extra is passed through
    esp_extra_example: ClassVar[dict[str, Any] | None] = None

    def check_esp_extra(self, sent: SentMessage) -> None:
        """Raise AssertionError unless the sent message shows ``esp_extra_example``
        reached the API."""
        raise TypeError(f"{type(self).__name__} must implement check_esp_extra()")

    # ---------------------------------------------------------------- sending

    @contextmanager
    def server(self) -> Iterator[Any]:
        """A running fake API server. The default is a FakeESPServer answering via
        :meth:`respond` with the scenario in ``self.scenario``."""
        self.scenario = "success"

        def answer(request: RecordedRequest) -> FakeResponse:
            if self.scenario == "slow":
                response = self.respond(request, "success")
                response.delay = SLOW_SECONDS
                return response
            return self.respond(request, self.scenario)

        with FakeESPServer(answer) as server:
            yield server

    def set_scenario(self, server: Any, scenario: str) -> None:
        """Make the server play ``scenario`` (one of SCENARIOS) from now on."""
        self.scenario = scenario

    def backend_settings(self, server: Any) -> dict[str, Any]:
        """ANYMAIL settings that point the ESP's backend at ``server`` (keys, API URL)."""
        raise TypeError(f"{type(self).__name__} must implement backend_settings()")

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        """The fake API's answer to ``request`` in ``scenario``."""
        raise TypeError(f"{type(self).__name__} must implement respond()")

    def sent_messages(self, server: Any) -> list[SentMessage]:
        """The messages the backend sent to ``server`` so far, in order, one per API call."""
        raise TypeError(f"{type(self).__name__} must implement sent_messages()")

    def request_count(self, server: Any) -> int:
        """How many send API calls ``server`` received."""
        return len(getattr(server, "requests", ()))

    def timeout_settings(self) -> dict[str, Any]:
        """Settings that make the backend give up well before SLOW_SECONDS."""
        return {"REQUESTS_TIMEOUT": 0.5}

    def unreachable_settings(self) -> dict[str, Any]:
        """Settings that point the backend at a closed port on 127.0.0.1: by default,
        :meth:`backend_settings` for a server whose ``url`` nothing listens on."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        # The socket is closed when the block ends: nothing listens on the port.
        return self.backend_settings(_ClosedServer(f"http://127.0.0.1:{port}"))

    # ---------------------------------------------------------------- webhooks

    @property
    def fixtures_dir(self) -> Path:
        """``fixtures/`` beside the subclass's own profile.py."""
        return Path(inspect.getfile(type(self))).parent / "fixtures"

    def webhook_settings(self) -> dict[str, Any]:
        """ANYMAIL settings the ESP's webhooks need in tests (signing keys, ...)."""
        return {}

    #: The fixture (file name) benchmarks and load tests post as this ESP's typical
    #: tracking webhook; None: :meth:`representative_tracking_fixture` picks one.
    benchmark_fixture: ClassVar[str | None] = None

    def representative_tracking_fixture(self) -> Path:
        """The tracking fixture that stands for this ESP's webhook traffic:
        ``benchmark_fixture``, else the accepted (200) tracking post with the most
        events (a batch, where the ESP batches), preferring one with a delivered event,
        then by name."""
        if self.benchmark_fixture:
            return self.fixtures_dir / self.benchmark_fixture
        candidates = []
        for path in sorted(self.fixtures_dir.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            events = data.get("expected_events") or []
            if data.get("expected_status", 200) != 200 or not events:
                continue
            if any(event.get("event_type") == "inbound" for event in events):
                continue
            delivered = any(event.get("event_type") == "delivered" for event in events)
            candidates.append((-len(events), not delivered, path.name, path))
        if not candidates:
            raise LookupError(f"{self.esp_id} has no tracking fixture with events")
        return min(candidates)[3]

    @property
    def signs_webhooks(self) -> bool:
        """Whether the ESP signs webhooks (so the suite checks tampered signatures are
        refused): its description's ``signed_webhooks`` ("optional" signing is tested
        with the key ``webhook_settings()`` sets)."""
        return bool(self.esp.signed_webhooks)

    def prepare_webhook(self, request: dict[str, Any]) -> WebhookRequest:
        """Turn a fixture's "request" into bytes to post. Signed ESPs override this
        to refresh timestamps and sign with the test key from webhook_settings()."""
        return encode_fixture_request(request)

    def tamper(self, request: WebhookRequest) -> WebhookRequest | None:
        """A copy of a prepared, signed request whose signature no longer matches
        (None for a request on a route the ESP doesn't sign)."""
        raise TypeError(f"{type(self).__name__} signs webhooks, so must implement tamper()")


@dataclass
class _ClosedServer:
    url: str
    connection_count: int = 0
    requests: tuple[Any, ...] = ()


# -------------------------------------------------------------------- fixtures

MULTIPART_BOUNDARY = "conformance-fixture-boundary"


def encode_fixture_request(request: dict[str, Any]) -> WebhookRequest:
    """Encode a fixture's request. Exactly one body form may be given:

    - ``"json"``: any JSON value, sent as application/json
    - ``"form"``: {name: value or [values]}, sent as x-www-form-urlencoded
    - ``"multipart"``: {name: value} plus optional ``"files"``:
      {field: {"filename", "content_type", "content" | "content_base64"}}
    - ``"body"`` (text) or ``"body_base64"`` (bytes) with ``"content_type"``
    """
    headers = dict(request.get("headers") or {})
    if "json" in request:
        return WebhookRequest(json.dumps(request["json"]).encode(), "application/json", headers)
    if "form" in request:
        body = urllib.parse.urlencode(request["form"], doseq=True).encode()
        return WebhookRequest(body, "application/x-www-form-urlencoded", headers)
    if "multipart" in request:
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test.client import encode_multipart

        data: dict[str, Any] = dict(request["multipart"])
        for name, spec in (request.get("files") or {}).items():
            content = (
                base64.b64decode(spec["content_base64"])
                if "content_base64" in spec
                else spec.get("content", "").encode("utf-8")
            )
            data[name] = SimpleUploadedFile(
                spec.get("filename") or name, content, spec.get("content_type")
            )
        body = encode_multipart(MULTIPART_BOUNDARY, data)
        return WebhookRequest(body, f"multipart/form-data; boundary={MULTIPART_BOUNDARY}", headers)
    if "body_base64" in request:
        return WebhookRequest(
            base64.b64decode(request["body_base64"]), request["content_type"], headers
        )
    return WebhookRequest(
        str(request.get("body", "")).encode("utf-8"),
        request.get("content_type", "text/plain"),
        headers,
    )
