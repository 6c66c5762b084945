"""Postmark's conformance profile: a fake email API on 127.0.0.1 that checks and
answers requests the way Postmark documents, read back from its JSON bodies.

Postmark's tracking and inbound webhooks are unsigned (basic auth only), so the
fixtures are posted as they are.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Iterable
from email.utils import getaddresses
from typing import Any

from anymail_conformance import (
    FakeResponse,
    Profile,
    RecordedRequest,
    SentAttachment,
    SentMessage,
)
from anymail_conformance.cases import use_template
from anymail_conformance.profile import address_list

__all__ = [
    "MESSAGE_TOKEN",
    "PROFILE",
    "SERVER_TOKEN",
    "FakePostmarkAPI",
    "PostmarkProfile",
    "read_call",
]

SERVER_TOKEN = "test-postmark-server-token"
#: the server token the esp_extra example gives one message
MESSAGE_TOKEN = "test-postmark-message-token"

#: The email API's endpoints: path → (templated, batch)
ENDPOINTS = {
    "/email": (False, False),
    "/email/batch": (False, True),
    "/email/withTemplate": (True, False),
    "/email/batchWithTemplates": (True, True),
}

SUBMITTED_AT = "2026-01-01T12:00:00.0000000Z"


def _addr_specs(value: Any) -> list[str]:
    return [addr for _, addr in getaddresses([value])] if isinstance(value, str) and value else []


def _error(code: int, message: str, status: int = 422) -> FakeResponse:
    return FakeResponse.json({"ErrorCode": code, "Message": message}, status)


class FakePostmarkAPI:
    """Postmark's email API, as far as the tests need it.

    It refuses what Postmark refuses (a missing server token, invalid JSON, an
    address whose domain isn't ASCII, a
    templated message with its own subject or body, a batch of more than 500, a
    message without a body or recipients) and treats the addresses in ``inactive``
    as suppressed (give them as Postmark would list them: an internationalized domain
    in its IDNA form): a message to only inactive recipients gets ErrorCode 406 (HTTP 422
    when sent alone), one with some gets "Message OK, but will not deliver to these
    inactive addresses: ...". ``inactive`` may also be a function of the recipients
    (to make each message's last recipient inactive, say).
    """

    def __init__(
        self,
        inactive: Iterable[str] | Any = (),
        *,
        tokens: Iterable[str] = (SERVER_TOKEN, MESSAGE_TOKEN),
        refuse: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.inactive = inactive if callable(inactive) else {a.lower() for a in inactive}
        self.tokens = set(tokens)
        #: {recipient: (ErrorCode, Message)}: messages to these get that error
        self.refuse = refuse or {}
        self._ids = itertools.count(1)

    def __call__(self, request: RecordedRequest) -> FakeResponse:
        if request.method != "POST" or request.path not in ENDPOINTS:
            return FakeResponse(404, "Not found", {"Content-Type": "text/plain"})
        token = request.headers.get("X-Postmark-Server-Token")
        if token not in self.tokens:
            return FakeResponse.json(
                {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."},
                401,
            )
        try:
            body = request.json()
        except ValueError:
            return _error(402, "Received invalid JSON input.")
        template, batch = ENDPOINTS[request.path]
        if batch:
            messages = body.get("Messages") if template and isinstance(body, dict) else body
            if not isinstance(messages, list):
                return _error(403, "Incompatible JSON input.")
            if len(messages) > 500:
                return _error(410, "Too many batch messages. Limit 500.")
            return FakeResponse.json([self.result(m, template, batch=True) for m in messages])
        if not isinstance(body, dict):
            return _error(403, "Incompatible JSON input.")
        result = self.result(body, template, batch=False)
        return FakeResponse.json(result, 200 if result["ErrorCode"] == 0 else 422)

    def result(self, message: Any, template: bool, *, batch: bool) -> dict[str, Any]:
        problem = self.problem(message, template)
        if problem:
            return {"ErrorCode": 300, "Message": problem}
        recipients = [
            addr for field in ("To", "Cc", "Bcc") for addr in _addr_specs(message.get(field))
        ]
        for recipient in recipients:
            if recipient in self.refuse:
                code, text = self.refuse[recipient]
                return {"ErrorCode": code, "Message": text}
        is_inactive = self.inactive if callable(self.inactive) else None
        inactive = (
            set(is_inactive(recipients))
            if is_inactive
            else {addr for addr in recipients if addr.lower() in self.inactive}
        )
        listed = ", ".join(addr.lower() for addr in recipients if addr in inactive)
        if inactive and inactive >= set(recipients):
            return {
                "ErrorCode": 406,
                "Message": (
                    f"You tried to send to {'a recipient' if batch else 'recipient(s)'} that "
                    f"{'has' if batch else 'have'} been marked as inactive. Found inactive "
                    f"addresses: {listed}. Inactive recipients are ones that have generated "
                    "a hard bounce, a spam complaint, or a manual suppression. "
                ),
            }
        return {
            "To": message.get("To", ""),
            "SubmittedAt": SUBMITTED_AT,
            "MessageID": str(uuid.UUID(int=next(self._ids))),
            "ErrorCode": 0,
            "Message": (
                f"Message OK, but will not deliver to these inactive addresses: {listed}."
                if inactive
                else "OK"
            ),
        }

    @staticmethod
    def problem(message: Any, template: bool) -> str | None:
        """Why Postmark would refuse the message (ErrorCode 300), or None."""
        if not isinstance(message, dict):
            return "Invalid message."
        if not message.get("From"):
            return "Invalid 'From' address: ''."
        for field in ("From", "To", "Cc", "Bcc", "ReplyTo"):
            for addr in _addr_specs(message.get(field)):
                # Anymail sends every domain in its ASCII (IDNA) form; hold it to that.
                if not addr.rpartition("@")[2].isascii():
                    return f"Invalid '{field}' address: '{addr}'."
        if not any(message.get(field) for field in ("To", "Cc", "Bcc")):
            return "Zero recipients specified"
        if sum(len(_addr_specs(message.get(f))) for f in ("To", "Cc", "Bcc")) > 50:
            return "Maximum of 50 recipients allowed."
        if template:
            if ("TemplateId" in message) == ("TemplateAlias" in message):
                return "Provide either a TemplateId or a TemplateAlias."
            if "TemplateId" in message and not isinstance(message["TemplateId"], int):
                return "The 'TemplateId' must be an integer."
            if not isinstance(message.get("TemplateModel"), dict):
                return "The 'TemplateModel' is required."
            extra = {"Subject", "TextBody", "HtmlBody"} & set(message)
            if extra:
                return f"Unexpected field(s) for a template send: {sorted(extra)}"
        elif not (message.get("TextBody") or message.get("HtmlBody")):
            return "Provide either email TextBody or HtmlBody or both."
        return None


class PostmarkProfile(Profile):
    esp_id = "postmark"
    # Postmark sends (or refuses) each message during the API call.
    accepted_status = "sent"
    # Inactive (suppressed) recipients are reported in the send response.
    reports_rejections = True
    # One MessageID per Postmark message: a plain send has one for all its recipients.
    per_recipient_message_ids = False
    from_email = "Sender <sender@example.com>"
    esp_extra_example = {"MessageStream": "broadcast", "server_token": MESSAGE_TOKEN}

    def check_esp_extra(self, sent: SentMessage) -> None:
        # A Postmark field, and this message's server token (its header, not a field).
        message = sent.raw["json"]
        assert message["MessageStream"] == "broadcast", message
        assert "server_token" not in message, message
        assert sent.raw["token"] == MESSAGE_TOKEN, sent.raw

    def adapt_message(self, message: Any, feature: str) -> None:
        # Postmark fills in merge data only with a stored template.
        if feature in ("merge_data", "merge_global_data"):
            use_template(message)

    # ---------------------------------------------------------------- sending

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_API_URL": f"{server.url}/"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        if scenario == "client_error":
            return _error(300, "Invalid 'To' address: 'nobody'.")
        if scenario == "server_error":
            return FakeResponse(500, "Internal Server Error", {"Content-Type": "text/plain"})
        if scenario == "malformed":
            return FakeResponse(200, "<html>Sent?</html>", {"Content-Type": "text/html"})
        if scenario == "all_rejected":
            return FakePostmarkAPI(inactive=lambda recipients: recipients)(request)
        if scenario == "partial_rejection":
            return FakePostmarkAPI(inactive=lambda recipients: recipients[-1:])(request)
        return self.api(request)

    api = FakePostmarkAPI()

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [read_call(request) for request in self.send_requests(server)]

    def request_count(self, server: Any) -> int:
        """The Postmark messages the API received. Each message of a batch call counts:
        Postmark's batch endpoints are many sends in one request, and Anymail uses them
        for send_messages of several messages."""
        count = 0
        for request in self.send_requests(server):
            _, batch = ENDPOINTS[request.path]
            body = request.json()
            count += len(_messages(body)) if batch else 1
        return count

    @staticmethod
    def send_requests(server: Any) -> list[RecordedRequest]:
        return [
            request
            for request in server.requests
            if request.method == "POST" and request.path in ENDPOINTS
        ]


def _messages(body: Any) -> list[dict[str, Any]]:
    """The Postmark messages of a call's body."""
    if isinstance(body, dict) and "Messages" in body:
        return list(body["Messages"])
    return list(body) if isinstance(body, list) else [body]


def read_call(request: RecordedRequest) -> SentMessage:
    """One API call read back as one message. A batch call's messages are one
    message per "to" recipient: their To addresses are joined, and each one's
    Metadata and TemplateModel become that recipient's merge_metadata / merge_data."""
    body = request.json()
    template, batch = ENDPOINTS[request.path]
    messages = _messages(body)
    first = messages[0]
    sent = SentMessage(
        from_email=address_list(first.get("From")),
        to=[address for message in messages for address in address_list(message.get("To"))],
        cc=address_list(first.get("Cc")),
        bcc=address_list(first.get("Bcc")),
        reply_to=address_list(first.get("ReplyTo")),
        subject=first.get("Subject"),
        text=first.get("TextBody"),
        html=first.get("HtmlBody"),
        headers={header["Name"]: header["Value"] for header in first.get("Headers", [])},
        tags=[first["Tag"]] if first.get("Tag") else [],
        track_clicks=(None if first.get("TrackLinks") is None else first["TrackLinks"] != "None"),
        track_opens=first.get("TrackOpens"),
        raw={
            "path": request.path,
            "token": request.headers.get("X-Postmark-Server-Token"),
            "json": body,
        },
    )
    for attachment in first.get("Attachments", []):
        item = SentAttachment(
            filename=attachment.get("Name"),
            content=base64.b64decode(attachment["Content"]),
            mimetype=attachment["ContentType"],
        )
        if attachment.get("ContentID"):
            item.content_id = attachment["ContentID"].removeprefix("cid:")
            sent.inline_images.append(item)
        else:
            sent.attachments.append(item)
    if template:
        sent.template_id = str(first.get("TemplateId", first.get("TemplateAlias")))
    metadata = [message.get("Metadata") or {} for message in messages]
    if batch:
        # What every message shares is the message's metadata; each recipient's own
        # is their merge_metadata (as their webhook events will report it).
        sent.metadata = {
            key: value
            for key, value in metadata[0].items()
            if all(other.get(key) == value for other in metadata[1:])
        }
        recipients = [(_addr_specs(message.get("To")) or [""])[0] for message in messages]
        if any(metadata):
            sent.merge_metadata = dict(zip(recipients, metadata, strict=True))
        if template:
            sent.merge_data = {
                recipient: message.get("TemplateModel") or {}
                for recipient, message in zip(recipients, messages, strict=True)
            }
    else:
        sent.metadata = metadata[0]
        if template:
            sent.merge_global_data = first.get("TemplateModel") or None
    return sent


PROFILE = PostmarkProfile()
