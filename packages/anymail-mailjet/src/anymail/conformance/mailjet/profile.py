"""Mailjet's conformance profile: a fake Send API v3 on 127.0.0.1 that answers like
Mailjet (a ``Sent`` entry, with its own MessageID, for every recipient), read back
from its JSON posts. It also serves the template API call the backend makes for a
stored template sent with ``from_email = None`` (``GET /v3/REST/template/<id>/
detailcontent``, from :data:`TEMPLATES`). Mailjet doesn't sign webhooks: fixtures
are posted as they are."""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from email.header import decode_header, make_header
from email.utils import formataddr, getaddresses
from typing import Any

from anymail_conformance import FakeResponse, Profile, RecordedRequest, SentAttachment, SentMessage

__all__ = [
    "API_KEY",
    "PROFILE",
    "SECRET_KEY",
    "TEMPLATES",
    "MailjetProfile",
    "addresses",
    "recipients_of",
]

API_KEY = "test-mailjet-api-key"
SECRET_KEY = "test-mailjet-secret-key"

#: MessageIDs above 2**53 (as Mailjet's are), to prove they are read exactly.
FIRST_MESSAGE_ID = 288230376151711744

#: The fake account's stored templates: numeric ID -> the ``Headers`` of the template's
#: content, as ``GET /v3/REST/template/<id>/detailcontent`` returns them. (Mailjet's
#: template guide: "From" is the sender, in one of the forms ``a@example.com``,
#: ``<a@example.com>`` or ``"Name" <a@example.com>``; "Subject" and "Reply-to" too.)
TEMPLATES: dict[int, dict[str, str]] = {
    176375: {
        "From": '"Order Desk" <orders@example.com>',
        "Subject": "Your order {{var:order_no}}",
        "Reply-to": "help@example.com",
    },
    176376: {"From": "<bare@bücher.example>", "Subject": "Bare sender"},
    176377: {"From": "Widgets, Inc. <widgets@example.com>"},  # an unquoted comma
    176378: {"Subject": "No sender stored"},
}

_TEMPLATE_CONTENT = re.compile(r"/v3/REST/template/(?P<id>[^/]+)/detailcontent")


def _readable(name: str) -> str:
    """A display name as recipients see it (RFC 2047 encoded-words decoded)."""
    return str(make_header(decode_header(name))) if "=?" in name else name


def addresses(value: str | None) -> list[str]:
    """A v3 address-list string (To, Cc, Bcc, a Reply-To header) as "Name <addr>" strings."""
    if not value:
        return []
    return [
        formataddr((_readable(name), addr)) if name else addr
        for name, addr in getaddresses([value])
    ]


def recipients_of(message: dict[str, Any]) -> list[str]:
    """Every recipient address of one v3 message, as Mailjet lists them in ``Sent``."""
    found = [item["Email"] for item in message.get("Recipients", ())]
    for key in ("To", "Cc", "Bcc"):
        found += [addr for _name, addr in getaddresses([message.get(key) or ""]) if addr]
    return found


def _tracking(value: Any) -> bool | None:
    return {2: True, 1: False}.get(value)


class MailjetProfile(Profile):
    esp_id = "mailjet"
    # Mailjet has taken the message for sending (v3 doesn't queue for later).
    accepted_status = "sent"
    # Send API v3 accepts or refuses the whole call: bad recipients show up later,
    # as blocked or bounce events.
    reports_rejections = False
    per_recipient_message_ids = True
    from_email = "Sender <sender@example.com>"
    esp_extra_example = (
        {"Mj-prio": 3, "Mj-CustomID": "conformance-custom-id"},
        lambda sent: _check_extra(sent),
    )

    _message_ids = itertools.count(FIRST_MESSAGE_ID)

    # ---------------------------------------------------------------- sending

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {
            "MAILJET_API_KEY": API_KEY,
            "MAILJET_SECRET_KEY": SECRET_KEY,
            "MAILJET_API_URL": f"{server.url}/v3",
        }

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        if scenario == "client_error":
            # Send API v3's error shape (StatusCode, ErrorMessage, ErrorInfo).
            return FakeResponse.json(
                {
                    "ErrorInfo": "",
                    "ErrorMessage": 'Missing "To" or "Recipients" property',
                    "StatusCode": 400,
                },
                400,
            )
        if scenario == "server_error":
            return FakeResponse.json(
                {
                    "ErrorIdentifier": "D4DF574C-0C5F-45C7-BA52-7AA8E533C3DE",
                    "ErrorMessage": "Internal Server Error",
                    "StatusCode": 500,
                },
                500,
            )
        if scenario == "malformed":
            return FakeResponse(200, "<html>Sent?</html>", {"Content-Type": "text/html"})
        if request.method == "GET":
            return self.template_content(request)
        body = request.json()
        messages = body.get("Messages") or [body]
        sent = [
            {"Email": email, "MessageID": next(self._message_ids), "MessageUUID": str(uuid.uuid4())}
            for message in messages
            for email in recipients_of(message)
        ]
        return FakeResponse.json({"Sent": sent})

    def template_content(self, request: RecordedRequest) -> FakeResponse:
        """``GET /v3/REST/template/<id>/detailcontent``: the template's content, in the
        REST API's ``{"Count", "Data", "Total"}`` envelope; 404 for a template the
        account doesn't have."""
        match = _TEMPLATE_CONTENT.fullmatch(request.path)
        template_id = match["id"] if match else ""
        if not template_id.isdigit() or int(template_id) not in TEMPLATES:
            return FakeResponse.json(
                {"ErrorInfo": "", "ErrorMessage": "Object not found", "StatusCode": 404}, 404
            )
        content = {
            "Headers": TEMPLATES[int(template_id)],
            "Html-part": "<p>Hello {{var:name}}</p>",
            "MJMLContent": "",
            "Text-part": "Hello {{var:name}}",
        }
        return FakeResponse.json({"Count": 1, "Data": [content], "Total": 1})

    @staticmethod
    def is_send(request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path.endswith("/v3/send")

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [self.read_message(request) for request in server.requests if self.is_send(request)]

    def request_count(self, server: Any) -> int:
        """Send API calls only (not the template reads that may precede them)."""
        return sum(1 for request in getattr(server, "requests", ()) if self.is_send(request))

    def read_message(self, request: RecordedRequest) -> SentMessage:
        """One API call as a SentMessage. A ``Messages`` batch (one message per "to"
        recipient) is folded into one: its "to" recipients, with each message's Vars
        as merge_data and its event payload as merge_metadata."""
        body = request.json()
        messages = body.get("Messages") or [body]
        first = messages[0]
        headers = dict(first.get("Headers") or {})
        sent = SentMessage(
            from_email=(
                [formataddr((first.get("FromName", ""), first["FromEmail"]))]
                if "FromEmail" in first
                else []
            ),
            cc=addresses(first.get("Cc")),
            bcc=addresses(first.get("Bcc")),
            reply_to=addresses(headers.pop("Reply-To", None)),
            subject=first.get("Subject"),
            text=first.get("Text-part"),
            html=first.get("Html-part"),
            headers=headers,
            envelope_sender=first.get("Sender"),
            tags=[first["Mj-campaign"]] if "Mj-campaign" in first else [],
            track_clicks=_tracking(first.get("Mj-trackclick")),
            track_opens=_tracking(first.get("Mj-trackopen")),
            template_id=str(first["Mj-TemplateID"]) if "Mj-TemplateID" in first else None,
            raw=body,
        )
        if "Messages" in body:
            for message in messages:
                [to] = addresses(message.get("To"))
                sent.to.append(to)
                addr = getaddresses([to])[0][1]
                if "Vars" in message:
                    sent.merge_data = {**(sent.merge_data or {}), addr: message["Vars"]}
                if "Mj-EventPayLoad" in message:
                    payload = json.loads(message["Mj-EventPayLoad"])
                    sent.merge_metadata = {**(sent.merge_metadata or {}), addr: payload}
        else:
            sent.to = addresses(body.get("To")) + [
                formataddr((item.get("Name", ""), item["Email"]))
                for item in body.get("Recipients", ())
            ]
            merge_data = {
                item["Email"]: item["Vars"] for item in body.get("Recipients", ()) if "Vars" in item
            }
            sent.merge_data = merge_data or None
            sent.merge_global_data = body.get("Vars")
            if "Mj-EventPayLoad" in body:
                sent.metadata = json.loads(body["Mj-EventPayLoad"])
        for key, into in (
            ("Attachments", sent.attachments),
            ("Inline_attachments", sent.inline_images),
        ):
            for item in first.get(key, ()):
                attachment = SentAttachment(
                    filename=item["Filename"],
                    content=base64.b64decode(item["content"]),
                    mimetype=item["Content-type"],
                )
                if key == "Inline_attachments":
                    # An inline part's Filename is what the HTML's cid: refers to.
                    attachment.content_id = item["Filename"]
                into.append(attachment)
        return sent


def _check_extra(sent: SentMessage) -> None:
    assert sent.raw["Mj-prio"] == 3, sent.raw
    assert sent.raw["Mj-CustomID"] == "conformance-custom-id", sent.raw


PROFILE = MailjetProfile()
