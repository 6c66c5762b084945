"""Mandrill's conformance profile: a fake messages API on 127.0.0.1 that answers
like Mandrill's (one result per recipient), read back from its JSON posts, and
fixtures re-signed with a test webhook key."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from anymail_conformance import FakeResponse, Profile, SentAttachment, SentMessage, WebhookRequest
from anymail_conformance.profile import address_list, encode_fixture_request, formatted_address

if TYPE_CHECKING:
    from anymail_conformance import RecordedRequest

API_KEY = "test-mandrill-api-key"
WEBHOOK_KEY = "test-mandrill-webhook-key"
#: The URL fixtures are signed for (Django's test client posts to http://testserver).
#: MANDRILL_WEBHOOK_URL names it, so fixtures for mandrill/tracking/ verify too, as
#: for a site that gave Mandrill one URL behind a proxy.
WEBHOOK_URL = "http://testserver/anymail/mandrill/"

SEND_PATHS = ("/messages/send.json", "/messages/send-template.json")

#: Mandrill's error bodies ({"status": "error", "code", "name", "message"}).
INVALID_KEY = {"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key"}
GENERAL_ERROR = {
    "status": "error",
    "code": -100,
    "name": "GeneralError",
    "message": "An unknown error occurred processing your request.  Please try again later.",
}


class SignedWebhookRequest(WebhookRequest):
    """A prepared request that knows its form fields (so tamper() can re-sign them wrongly)."""

    def __init__(
        self, body: bytes, content_type: str, headers: dict[str, str], form: dict[str, Any]
    ):
        super().__init__(body, content_type, headers)
        self.form = form


class MandrillProfile(Profile):
    esp_id = "mandrill"
    accepted_status = "sent"
    reports_rejections = True
    # Mandrill gives each recipient its own message _id.
    per_recipient_message_ids = True
    from_email = "Sender <sender@example.com>"
    esp_extra_example = {
        "ip_pool": "Bulk Pool",
        "message": {"subaccount": "Marketing Dept.", "important": True},
    }

    _nonces = itertools.count(1)

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["ip_pool"] == "Bulk Pool", sent.raw
        assert sent.raw["message"]["subaccount"] == "Marketing Dept.", sent.raw
        assert sent.raw["message"]["important"] is True, sent.raw

    # ---------------------------------------------------------------- sending

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"MANDRILL_API_KEY": API_KEY, "MANDRILL_API_URL": f"{server.url}/api/1.0"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        if scenario == "server_error":
            return FakeResponse.json(GENERAL_ERROR, 500)
        if scenario == "malformed":
            return FakeResponse(200, "<html>Sent?</html>", {"Content-Type": "text/html"})
        if not request.path.endswith(SEND_PATHS):
            return FakeResponse.json({**GENERAL_ERROR, "message": "Unknown method"}, 404)
        body = request.json()
        if scenario == "client_error" or body.get("key") != API_KEY:
            return FakeResponse.json(INVALID_KEY, 401)
        results = []
        for index, recipient in enumerate(body["message"].get("to", [])):
            rejected = scenario == "all_rejected" or (scenario == "partial_rejection" and index)
            status = "rejected" if rejected else ("scheduled" if "send_at" in body else "sent")
            results.append(
                {
                    "email": recipient["email"],
                    "status": status,
                    "reject_reason": "hard-bounce" if rejected else None,
                    "queued_reason": None,
                    "_id": uuid.uuid4().hex,
                }
            )
        return FakeResponse.json(results)

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [
            self.read_message(request)
            for request in server.requests
            if request.method == "POST" and request.path.endswith(SEND_PATHS)
        ]

    def request_count(self, server: Any) -> int:
        return len(self.sent_messages(server))

    def read_message(self, request: RecordedRequest) -> SentMessage:
        body = request.json()
        msg = body["message"]
        recipients: dict[str, list[str]] = {"to": [], "cc": [], "bcc": []}
        for recipient in msg.get("to", []):
            kind = recipient.get("type") or "to"
            recipients[kind].append(formatted_address(recipient["email"], recipient.get("name")))
        headers = dict(msg.get("headers") or {})
        reply_to = headers.pop("Reply-To", None)
        sent = SentMessage(
            from_email=(
                [formatted_address(msg["from_email"], msg.get("from_name"))]
                if "from_email" in msg
                else []
            ),
            to=recipients["to"],
            cc=recipients["cc"],
            bcc=recipients["bcc"],
            reply_to=address_list(reply_to),
            subject=msg.get("subject"),
            text=msg.get("text"),
            html=msg.get("html"),
            attachments=[
                SentAttachment(item.get("name"), base64.b64decode(item["content"]), item["type"])
                for item in msg.get("attachments", [])
            ],
            inline_images=[
                SentAttachment(
                    item["name"], base64.b64decode(item["content"]), item["type"], item["name"]
                )
                for item in msg.get("images", [])
            ],
            headers=headers,
            # Mandrill takes only the domain.
            envelope_sender=(
                "@" + msg["return_path_domain"] if "return_path_domain" in msg else None
            ),
            metadata=dict(msg.get("metadata") or {}),
            merge_metadata=(
                {item["rcpt"]: item["values"] for item in msg["recipient_metadata"]}
                if "recipient_metadata" in msg
                else None
            ),
            send_at=(
                datetime.strptime(body["send_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                if "send_at" in body
                else None
            ),
            tags=list(msg.get("tags") or []),
            track_clicks=msg.get("track_clicks"),
            track_opens=msg.get("track_opens"),
            template_id=body.get("template_name"),
            merge_data=(
                {
                    item["rcpt"]: {var["name"]: var["content"] for var in item["vars"]}
                    for item in msg["merge_vars"]
                }
                if "merge_vars" in msg
                else None
            ),
            merge_global_data=(
                {var["name"]: var["content"] for var in msg["global_merge_vars"]}
                if "global_merge_vars" in msg
                else None
            ),
            raw=body,
        )
        return sent

    # ---------------------------------------------------------------- webhooks

    def webhook_settings(self) -> dict[str, Any]:
        return {"MANDRILL_WEBHOOK_KEY": WEBHOOK_KEY, "MANDRILL_WEBHOOK_URL": WEBHOOK_URL}

    def prepare_webhook(self, request: dict[str, Any]) -> WebhookRequest:
        """Sign the fixture with the test key. Mandrill's signature has no timestamp
        or nonce, and the view refuses a signed request it has already accepted (a
        replay); so that a fixture can be posted many times, each preparation makes
        the events' JSON unique with insignificant trailing whitespace."""
        request = copy.deepcopy(request)
        form = request.get("form")
        if not form:
            return encode_fixture_request(request)
        nonce = format(next(self._nonces), "b").replace("0", " ").replace("1", "\t")
        form["mandrill_events"] = form["mandrill_events"] + "\n" + nonce
        headers = dict(request.get("headers") or {})
        headers["X-Mandrill-Signature"] = _sign(WEBHOOK_KEY, WEBHOOK_URL, form)
        request["headers"] = headers
        encoded = encode_fixture_request(request)
        return SignedWebhookRequest(encoded.body, encoded.content_type, encoded.headers, form)

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        assert isinstance(request, SignedWebhookRequest)
        headers = dict(request.headers)
        wrong = _sign("not-the-webhook-key", WEBHOOK_URL, request.form)
        assert wrong != headers["X-Mandrill-Signature"]
        headers["X-Mandrill-Signature"] = wrong
        return SignedWebhookRequest(request.body, request.content_type, headers, request.form)


def _sign(key: str, url: str, form: dict[str, Any]) -> str:
    """Mandrill's signing, written out independently of the view's code."""
    signed = url
    for name in sorted(form):
        values = form[name] if isinstance(form[name], list) else [form[name]]
        signed += "".join(name + str(value) for value in values)
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


PROFILE = MandrillProfile()
