"""SendGrid's conformance profile: a fake v3 Mail Send API on 127.0.0.1 that checks
every request against SendGrid's OpenAPI description, read back from its JSON
bodies, and fixtures signed like SendGrid's Signed Event Webhook with a test key
pair.

**The schema check.** ``api/tsg_mail_v3.json`` is SendGrid's published description
of the v3 Mail Send API (see ``api/NOTICE.md``). The fake API refuses any request
that violates it, the way SendGrid answers 400, and reports each violation, so a
test can't pass with a request SendGrid would refuse. It also refuses what the
description forbids only in prose (reply_to with reply_to_list, a repeated
reply_to_list address). It needs ``jsonschema`` (in anymail-sendgrid's ``test``
extra).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from anymail_conformance import FakeResponse, Profile, SentAttachment, SentMessage, WebhookRequest
from anymail_conformance.profile import encode_fixture_request, formatted_address

if TYPE_CHECKING:
    from anymail_conformance import RecordedRequest

API_KEY = "SG.test-sendgrid-api-key.not-a-real-one"
API_PATH = "/v3/mail/send"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MESSAGE_ID_ARG = "anymail_id"

#: SendGrid's OpenAPI description of Mail Send (a published copy: see api/NOTICE.md)
SPEC_PATH = Path(__file__).parent / "api" / "tsg_mail_v3.json"
_SPEC_URI = "urn:sendgrid:tsg_mail_v3"
#: The request body schema of POST /v3/mail/send, as a JSON pointer into the spec.
_BODY_SCHEMA = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


# JSON Schema's "email" format is RFC 5321's Mailbox, which is ASCII: an
# internationalized address is "idn-email" (RFC 6531), a format SendGrid's spec doesn't
# use. jsonschema's own "email" check only looks for an "@", so the fake API checks
# the format itself: a dot-atom or quoted-string local part, and a domain of
# letter-digit-hyphen labels (an internationalized one in its IDNA "xn--" form) or an
# address literal.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = rf'(?:{_ATEXT}(?:\.{_ATEXT})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")'
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[\x21-\x5a\x5e-\x7e]+\])"
_MAILBOX = re.compile(rf"{_LOCAL_PART}@{_DOMAIN}")


def is_email(value: object) -> bool:
    """Whether ``value`` has JSON Schema's "email" format (RFC 5321 Mailbox). Anything
    not a str passes, as JSON Schema formats do (the schema's "type" checks it)."""
    if not isinstance(value, str):
        return True
    return value.isascii() and _MAILBOX.fullmatch(value) is not None


@cache
def _validator() -> Any:
    try:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError as err:  # pragma: no cover - in the test extra
        raise ImportError(
            "Checking SendGrid requests against its OpenAPI description needs jsonschema: "
            'pip install "anymail-sendgrid[test]"'
        ) from err
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; the spec's own "#/components/..."
    # references resolve inside the registered document.
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(_SPEC_URI, resource)
    format_checker = FormatChecker()
    format_checker.checks("email")(is_email)
    return Draft202012Validator(
        {"$ref": _SPEC_URI + _BODY_SCHEMA}, registry=registry, format_checker=format_checker
    )


def mail_send_violations(body: Any) -> list[str]:
    """Each way ``body`` (a parsed Mail Send JSON body) breaks SendGrid's schema, or
    a rule the schema states only in prose (:func:`prose_rule_violations`), as
    "path: message" (empty if it is valid)."""
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
    ] + prose_rule_violations(body)


def prose_rule_violations(body: Any) -> list[str]:
    """Mail Send rules that SendGrid's OpenAPI description states only in the text of
    a ``description``, not as schema, and its Mail Send overview lists
    (https://www.twilio.com/docs/sendgrid/api-reference/mail-send, "Multiple Reply-To
    Emails"): ``reply_to`` and ``reply_to_list`` are mutually exclusive ("the API call
    will be rejected"), and each ``reply_to_list`` address is unique. (The schema's
    ``uniqueItems`` compares whole objects, names too; this check compares the
    addresses, ignoring case: the strictest reading.)"""
    if not isinstance(body, dict):
        return []
    problems = []
    reply_to_list = body.get("reply_to_list")
    if "reply_to" in body and "reply_to_list" in body:
        problems.append("reply_to_list: reply_to and reply_to_list are mutually exclusive")
    if isinstance(reply_to_list, list):
        seen: set[str] = set()
        for index, item in enumerate(reply_to_list):
            email = item.get("email") if isinstance(item, dict) else None
            if not isinstance(email, str):
                continue  # the schema reports it
            if email.lower() in seen:
                problems.append(f"reply_to_list.{index}.email: {email!r} is repeated")
            seen.add(email.lower())
    return problems


def sent_address(item: dict[str, Any]) -> str:
    """A Mail Send email object ({email, name}) as SentMessage records it."""
    return formatted_address(item["email"], item.get("name"))


class SendGridProfile(Profile):
    esp_id = "sendgrid"
    accepted_status = "queued"
    # Mail Send accepts the whole message or refuses it; SendGrid drops bad
    # recipients later and reports them as "dropped" events.
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    # One anymail_id per message (per "to" recipient only in batch sends).
    per_recipient_message_ids = False
    esp_extra_example: ClassVar[dict[str, Any]] = {
        "ip_pool_name": "transactional",
        "asm": {"group_id": 12, "groups_to_display": [12, 13]},
        "mail_settings": {"bypass_list_management": {"enable": False}},
    }
    # The Signed Event Webhook (tracking); Inbound Parse posts aren't signed (see README).

    def __init__(self) -> None:
        #: schema violations the fake API refused, since the server started
        self.violations: list[str] = []
        self._last_timestamp = 0
        self._lock = threading.Lock()

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["ip_pool_name"] == "transactional", sent.raw
        assert sent.raw["asm"] == {"group_id": 12, "groups_to_display": [12, 13]}, sent.raw
        assert sent.raw["mail_settings"] == {"bypass_list_management": {"enable": False}}, sent.raw

    # ---------------------------------------------------------------- sending

    @contextmanager
    def server(self) -> Iterator[Any]:
        self.violations = []
        with super().server() as server:
            yield server

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"SENDGRID_API_KEY": API_KEY, "SENDGRID_API_URL": f"{server.url}/v3/"}

    def request_problems(self, request: RecordedRequest) -> list[str]:
        """What SendGrid would refuse about the request (empty: it would accept it)."""
        if request.method != "POST" or request.path != API_PATH:
            return [f"no such endpoint: {request.method} {request.path}"]
        problems = []
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            problems.append("Authorization: expected the API key as a bearer token")
        if request.content_type != "application/json":
            problems.append(f"Content-Type: expected application/json, got {request.content_type}")
        try:
            body = request.json()
        except ValueError as err:
            return [*problems, f"body: not JSON ({err})"]
        return problems + mail_send_violations(body)

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        problems = self.request_problems(request)
        if problems:
            # What SendGrid does with an invalid request, and a record for the tests.
            self.violations += problems
            return FakeResponse.json(
                {"errors": [{"message": problem, "field": None} for problem in problems]}, 400
            )
        if scenario == "client_error":
            return FakeResponse.json(
                {
                    "errors": [
                        {
                            "message": "The from email does not contain a valid address.",
                            "field": "from.email",
                            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.from",
                        }
                    ]
                },
                400,
            )
        if scenario == "server_error":
            return FakeResponse.json(
                {"errors": [{"message": "internal error", "field": None}]}, 500
            )
        if scenario == "malformed":
            return FakeResponse(200, "<html>Accepted?</html>", {"Content-Type": "text/html"})
        # SendGrid's answer: 202 Accepted, no body.
        return FakeResponse(202, b"", {"Content-Type": "text/plain", "X-Message-Id": "fake-id"})

    def send_requests(self, server: Any) -> list[RecordedRequest]:
        """The Mail Send calls the server received. Raises if any broke SendGrid's
        schema (so no test passes with a request SendGrid would refuse)."""
        assert not self.violations, f"requests SendGrid would refuse: {self.violations}"
        return [r for r in server.requests if r.method == "POST" and r.path == API_PATH]

    def request_count(self, server: Any) -> int:
        return len(self.send_requests(server))

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [self.read_message(request.json()) for request in self.send_requests(server)]

    def read_message(self, body: dict[str, Any]) -> SentMessage:
        """One Mail Send body, normalized. Each personalization's custom_args (but
        anymail_id) is its recipients' metadata: what all share is the message's
        metadata, the rest merge_metadata."""
        personalizations = body["personalizations"]
        to: list[str] = []
        cc: list[str] = []
        bcc: list[str] = []
        for personalization in personalizations:
            for kind, found in (("to", to), ("cc", cc), ("bcc", bcc)):
                for item in personalization.get(kind, []):
                    if sent_address(item) not in found:
                        found.append(sent_address(item))
        content = body.get("content", [])
        sent = SentMessage(
            from_email=[sent_address(body["from"])],
            to=to,
            cc=cc,
            bcc=bcc,
            # one Reply-To is `reply_to`, several `reply_to_list` (never both)
            reply_to=[sent_address(item) for item in body.get("reply_to_list", [])]
            + ([sent_address(body["reply_to"])] if "reply_to" in body else []),
            subject=body.get("subject"),
            text=next((c["value"] for c in content if c["type"] == "text/plain"), None),
            html=next((c["value"] for c in content if c["type"] == "text/html"), None),
            alternatives=[
                (c["value"], c["type"])
                for c in content
                if c["type"] not in ("text/plain", "text/html")
            ],
            headers=dict(body.get("headers", {})),
            send_at=datetime.fromtimestamp(body["send_at"], tz=UTC) if "send_at" in body else None,
            tags=list(body.get("categories", [])),
            track_clicks=body.get("tracking_settings", {}).get("click_tracking", {}).get("enable"),
            track_opens=body.get("tracking_settings", {}).get("open_tracking", {}).get("enable"),
            template_id=body.get("template_id"),
            raw=body,
        )
        for attachment in body.get("attachments", []):
            item = SentAttachment(
                filename=attachment.get("filename"),
                content=base64.b64decode(attachment["content"]),
                mimetype=attachment.get("type", "application/octet-stream"),
            )
            if attachment.get("disposition") == "inline":
                item.content_id = attachment.get("content_id")
                sent.inline_images.append(item)
            else:
                sent.attachments.append(item)

        args = [
            {k: v for k, v in p.get("custom_args", {}).items() if k != MESSAGE_ID_ARG}
            for p in personalizations
        ]
        shared = {k: v for k, v in args[0].items() if all(a.get(k) == v for a in args)}
        sent.metadata = shared
        if len(personalizations) > 1:
            own = {
                p["to"][0]["email"]: {k: v for k, v in a.items() if k not in shared}
                for p, a in zip(personalizations, args, strict=True)
            }
            sent.merge_metadata = own if any(own.values()) else None
        merge_data = {}
        for personalization in personalizations:
            data = personalization.get(
                "dynamic_template_data", personalization.get("substitutions")
            )
            if data:
                for item in personalization["to"]:
                    merge_data[item["email"]] = data
        sent.merge_data = merge_data or None
        return sent

    # ---------------------------------------------------------------- webhooks

    @cached_property
    def signing_key(self) -> Any:
        """A P-256 key pair standing in for the one SendGrid signs with."""
        from cryptography.hazmat.primitives.asymmetric import ec

        return ec.generate_private_key(ec.SECP256R1())

    @property
    def verification_key(self) -> str:
        """The public key as SendGrid shows it: base64 of its DER SubjectPublicKeyInfo."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        der = self.signing_key.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def webhook_settings(self) -> dict[str, Any]:
        return {"SENDGRID_WEBHOOK_VERIFICATION_KEY": self.verification_key}

    def sign(self, timestamp: str, body: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self.signing_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def fresh_timestamp(self) -> str:
        """Now, but never the same second twice: the webhook accepts a signed
        (timestamp, body) only once, and tests post the same fixture repeatedly."""
        with self._lock:
            self._last_timestamp = max(int(time.time()), self._last_timestamp + 1)
            return str(self._last_timestamp)

    def prepare_webhook(self, request: dict[str, Any]) -> WebhookRequest:
        """Event Webhook posts are signed afresh (like SendGrid's Signed Event Webhook);
        Inbound Parse posts are sent as they are."""
        request = copy.deepcopy(request)
        headers = {
            name: value
            for name, value in (request.get("headers") or {}).items()
            if name not in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
        }
        request["headers"] = headers
        encoded = encode_fixture_request(request)
        if encoded.content_type != "application/json":
            return encoded
        timestamp = self.fresh_timestamp()
        signed_headers = {
            **encoded.headers,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: self.sign(timestamp, encoded.body),
        }
        return WebhookRequest(encoded.body, encoded.content_type, signed_headers)

    def tamper(self, request: WebhookRequest) -> WebhookRequest | None:
        """The same request with a signature from a key SendGrid never used (None for
        an Inbound Parse post, which isn't signed)."""
        if TIMESTAMP_HEADER not in request.headers:
            return None
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        timestamp = request.headers[TIMESTAMP_HEADER]
        other_key = ec.generate_private_key(ec.SECP256R1())
        signature = other_key.sign(timestamp.encode() + request.body, ec.ECDSA(hashes.SHA256()))
        headers = {**request.headers, SIGNATURE_HEADER: base64.b64encode(signature).decode()}
        return WebhookRequest(request.body, request.content_type, headers)


PROFILE = SendGridProfile()
