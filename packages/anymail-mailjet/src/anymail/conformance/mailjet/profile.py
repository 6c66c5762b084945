"""Mailjet's conformance profile: a fake Mailjet on 127.0.0.1, read back from its
JSON posts. Mailjet doesn't sign webhooks: fixtures are posted as they are.

The fake (:class:`FakeMailjetAPI`) speaks both Send APIs the backend can use:

- **Send API v3.1** (``POST /v3.1/send``, the backend's default). Mailjet publishes no
  machine-readable schema for it, so the request is checked against its documented
  properties: the guide's "Send API JSON properties" table, error table and examples
  (mailjet/api-documentation ``guides/_send-api.md`` at commit 06a7979e, the source of
  https://dev.mailjet.com/email/guides/send-api-v31/) and the reference
  (https://dev.mailjet.com/reference/email/send-emails/: 50 messages a call). Where
  the docs are silent, Mailjet's own answers on its issue trackers: the limit counts
  recipients, 50 a call, refused with send-0015 (mailjet/api-documentation#12,
  mailjet/mailjet-apiv3-nodejs#67); ``TemplateID`` must be an integer (mj-0004,
  mailjet/api-documentation#8); a call with some messages refused is answered 400 with
  every message's result, the others sent (mailjet/mailjet-apiv3-java#121); a request
  over 15 MB gets a 413 (mailjet/mailjet-apiv3-nodejs#269). Each message gets its own
  ``Status``: ``"success"`` with a MessageID per recipient, or ``"error"`` with its
  ``Errors``. The fake is stricter than documented in one way: a property the
  reference doesn't list is refused, so a misspelt (or v3) property can't pass
  unnoticed.
- **Send API v3** (``POST /v3/send``, with ``MAILJET_API_VERSION = "v3"``): a ``Sent``
  entry, with its own MessageID, for every recipient; and the template API the v3
  backend reads a template's sender from (``GET /v3/REST/template/<id>/
  detailcontent``, from :data:`TEMPLATES`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Any, ClassVar

from anymail_conformance import FakeResponse, Profile, RecordedRequest, SentAttachment, SentMessage
from anymail_conformance.profile import formatted_address

__all__ = [
    "API_KEY",
    "CONFORMANCE_TEMPLATE_ID",
    "PROFILE",
    "SECRET_KEY",
    "TEMPLATES",
    "FakeMailjetAPI",
    "MailjetProfile",
    "addresses",
    "read_v31_call",
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
#: Send API v3.1 sends a template without a From with the template's.
TEMPLATES: dict[int, dict[str, str]] = {
    176375: {
        "From": '"Order Desk" <orders@example.com>',
        "Subject": "Your order {{var:order_no}}",
        "Reply-to": "help@example.com",
    },
    176376: {"From": "<bare@bücher.example>", "Subject": "Bare sender"},
    176377: {"From": "Widgets, Inc. <widgets@example.com>"},  # an unquoted comma
    176378: {"Subject": "No sender stored"},
    176380: {"From": "Sender <sender@example.com>", "Subject": "Conformance"},
}

#: The names of the fake account's templates, where the suite needs one: its template
#: case names "conformance-template", and Send API v3.1 takes templates by number (the
#: profile sends that template's number, and reads it back as its name).
CONFORMANCE_TEMPLATE_ID = 176380
TEMPLATE_NAMES = {CONFORMANCE_TEMPLATE_ID: "conformance-template"}

_TEMPLATE_CONTENT = re.compile(r"/v3/REST/template/(?P<id>[^/]+)/detailcontent")

# ---------------------------------------------------------------------- Send API v3.1

#: The guide's "Message JSON properties" (and their JSON types, from its samples).
_ADDRESS_PROPERTIES = ("From", "Sender", "ReplyTo", "TemplateErrorReporting")
_ADDRESS_LIST_PROPERTIES = ("To", "Cc", "Bcc")
_STRING_PROPERTIES = (
    "Subject",
    "TextPart",
    "HTMLPart",
    "CustomCampaign",
    "CustomID",
    "EventPayload",
    "MonitoringCategory",
    "URLTags",
)
_BOOLEAN_PROPERTIES = ("TemplateLanguage", "TemplateErrorDeliver", "DeduplicateCampaign")
_INTEGER_PROPERTIES = ("TemplateID", "Priority")
_ATTACHMENT_PROPERTIES = ("Attachments", "InlinedAttachments")
_OBJECT_PROPERTIES = ("Headers", "Variables")
_TRACKING_PROPERTIES = ("TrackOpens", "TrackClicks")
MESSAGE_PROPERTIES = frozenset(
    _ADDRESS_PROPERTIES
    + _ADDRESS_LIST_PROPERTIES
    + _STRING_PROPERTIES
    + _BOOLEAN_PROPERTIES
    + _INTEGER_PROPERTIES
    + _ATTACHMENT_PROPERTIES
    + _OBJECT_PROPERTIES
    + _TRACKING_PROPERTIES
)
#: Root properties: ``Messages``, ``SandboxMode`` (the guide) and ``Globals`` (message
#: properties for every message of the call; a message's own take precedence).
ROOT_PROPERTIES = frozenset({"Messages", "SandboxMode", "Globals"})
TRACKING_VALUES = ("account_default", "disabled", "enabled")
#: The guide's "List of forbidden headers" (those with a property of their own, and
#: Mailjet's): send-0011 in Headers.
FORBIDDEN_HEADERS = frozenset(
    name.lower()
    for name in [
        "From",
        "Sender",
        "Subject",
        "To",
        "Cc",
        "Bcc",
        "Return-Path",
        "Delivered-To",
        "DKIM-Signature",
        "DomainKey-Status",
        "Received-SPF",
        "Authentication-Results",
        "Received",
        "X-Mailjet-Prio",
        "X-Mailjet-Debug",
        "User-Agent",
        "X-Mailer",
        "X-MJ-CustomID",
        "X-MJ-EventPayload",
        "X-MJ-Vars",
        "X-MJ-TemplateErrorDeliver",
        "X-MJ-TemplateErrorReporting",
        "X-MJ-TemplateLanguage",
        "X-Mailjet-TrackOpen",
        "X-Mailjet-TrackClick",
        "X-MJ-TemplateID",
        "X-MJ-WorkflowID",
        "X-Feedback-Id",
        "X-Mailjet-Segmentation",
        "List-Id",
        "X-MJ-MID",
        "X-MJ-ErrorMessage",
        "Date",
        "X-CSA-Complaints",
        "Message-Id",
        "X-Mailjet-Campaign",
        "X-MJ-StatisticsContactsListID",
    ]
)
MAX_MESSAGES = 50
MAX_RECIPIENTS = 50
MAX_BODY_BYTES = 15 * 1000 * 1000

#: An error: (ErrorCode, StatusCode, ErrorMessage, ErrorRelatedTo)
Error = tuple[str, int, str, list[str]]


def error_object(error: Error) -> dict[str, Any]:
    """An error as Send API v3.1 reports it."""
    code, status, text, related = error
    return {
        "ErrorIdentifier": str(uuid.uuid4()),
        "ErrorCode": code,
        "StatusCode": status,
        "ErrorMessage": text,
        "ErrorRelatedTo": related,
    }


def mailjet_error(status: int, message: str, **fields: str) -> FakeResponse:
    """A Mailjet API error answer: ``{<fields>, "ErrorMessage", "StatusCode"}``."""
    return FakeResponse.json({**fields, "ErrorMessage": message, "StatusCode": status}, status)


def _call_refused(errors: list[Error]) -> FakeResponse:
    """A v3.1 call refused as a whole, before any message (its errors, no results)."""
    return FakeResponse.json(
        {"Errors": [error_object(error) for error in errors], "Messages": []}, 400
    )


def _is_email(value: Any) -> bool:
    """An address as the API takes it: one @, no spaces, the domain in its ASCII
    (IDNA) form. (Mailjet documents no rule for a non-ASCII local part: let it be.)"""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain and "@" not in local and domain.isascii())


def _check_address(name: str, value: Any) -> list[Error]:
    if not isinstance(value, dict) or not set(value) <= {"Email", "Name"}:
        return [("mj-0004", 400, 'Type mismatch. Expected type "emailIn".', [name])]
    if "Name" in value and not isinstance(value["Name"], str):
        return [("mj-0004", 400, 'Type mismatch. Expected type "string".', [f"{name}.Name"])]
    if not _is_email(value.get("Email")):
        return [("mj-0013", 400, f'"{value.get("Email")}" is an invalid email address.', [name])]
    return []


def _check_attachments(name: str, value: Any) -> list[Error]:
    if not isinstance(value, list):
        return [("mj-0004", 400, 'Type mismatch. Expected type "array".', [name])]
    keys = {"ContentType", "Filename", "Base64Content"}
    if name == "InlinedAttachments":
        keys.add("ContentID")
    errors: list[Error] = []
    for item in value:
        if not isinstance(item, dict) or not set(item) <= keys:
            errors.append(("mj-0004", 400, 'Type mismatch. Expected type "attachment".', [name]))
            continue
        for key in sorted(keys - {"ContentID"}):
            if not isinstance(item.get(key), str) or not item[key]:
                errors.append(("mj-0012", 400, "Empty string value.", [f"{name}.{key}"]))
        try:
            base64.b64decode(item.get("Base64Content") or "", validate=True)
        except (binascii.Error, ValueError):
            errors.append(("mj-0004", 400, "Invalid base64 content.", [f"{name}.Base64Content"]))
    return errors


def check_message(message: Mapping[str, Any]) -> list[Error]:
    """What Send API v3.1 would refuse in one message (Globals already merged in)."""
    errors: list[Error] = []
    for name in sorted(set(message) - MESSAGE_PROPERTIES):
        errors.append(("mj-0004", 400, f'Unknown property "{name}".', [name]))
    for name in _ADDRESS_PROPERTIES:
        if name in message:
            errors += _check_address(name, message[name])
    for name in _ADDRESS_LIST_PROPERTIES:
        if name not in message:
            continue
        value = message[name]
        if not isinstance(value, list):
            errors.append(
                ("mj-0004", 400, 'Type mismatch. Expected type "array of emails".', [name])
            )
        elif not value and name == "To":
            errors.append(("mj-0007", 400, "Empty array.", [name]))
        else:
            for item in value:
                errors += _check_address(name, item)
    if not message.get("To") and "To" not in message:
        errors.append(("mj-0003", 400, "The To is mandatory but missing from the input", ["To"]))
    for name in _STRING_PROPERTIES:
        if name in message and not isinstance(message[name], str):
            errors.append(("mj-0004", 400, 'Type mismatch. Expected type "string".', [name]))
    if isinstance(message.get("Subject"), str) and len(message["Subject"]) > 255:
        errors.append(("mj-0006", 400, "Subject is longer than 255 characters.", ["Subject"]))
    if isinstance(message.get("URLTags"), str) and len(message["URLTags"]) > 256:
        errors.append(("mj-0006", 400, "URLTags is longer than 256 characters.", ["URLTags"]))
    for name in _BOOLEAN_PROPERTIES:
        if name in message and not isinstance(message[name], bool):
            errors.append(("mj-0004", 400, 'Type mismatch. Expected type "boolean".', [name]))
    for name in _INTEGER_PROPERTIES:
        value = message.get(name)
        if name in message and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append(("mj-0004", 400, 'Type mismatch. Expected type "integer".', [name]))
    for name in _ATTACHMENT_PROPERTIES:
        if name in message:
            errors += _check_attachments(name, message[name])
    for name in _TRACKING_PROPERTIES:
        if name in message and message[name] not in TRACKING_VALUES:
            errors.append(("mj-0005", 400, f"{name} is not an allowed value.", [name]))
    headers = message.get("Headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(value, str) for value in headers.values()
    ):
        errors.append(("mj-0004", 400, 'Type mismatch. Expected type "headers".', ["Headers"]))
    else:
        for header in headers:
            if header.lower() in FORBIDDEN_HEADERS:
                errors.append(
                    (
                        "send-0011",
                        400,
                        f'Header "{header}" can\'t be set.',
                        [f'Headers["{header}"]'],
                    )
                )
    if not isinstance(message.get("Variables", {}), dict):
        errors.append(("mj-0004", 400, 'Type mismatch. Expected type "object".', ["Variables"]))
    template_id = message.get("TemplateID")
    if not any(key in message for key in ("TextPart", "HTMLPart", "TemplateID")):
        errors.append(
            (
                "send-0003",
                400,
                'At least "HTMLPart", "TextPart" or "TemplateID" must be provided.',
                ["HTMLPart", "TextPart"],
            )
        )
    if isinstance(template_id, int) and template_id not in TEMPLATES:
        errors.append(
            (
                "send-0010",
                400,
                f"Template ID {template_id} can't be used by this API key.",
                ["TemplateID"],
            )
        )
    # From may be left out only for a template that stores a sender (the guide).
    stored_from = (
        TEMPLATES.get(template_id, {}).get("From") if isinstance(template_id, int) else None
    )
    if "From" not in message and not stored_from:
        errors.append(("mj-0003", 400, "Missing mandatory property.", ["From"]))
    if (
        "TemplateErrorReporting" in message or "TemplateErrorDeliver" in message
    ) and "TemplateLanguage" not in message:
        errors.append(("send-0016", 400, "TemplateLanguage is missing.", ["TemplateLanguage"]))
    if "DeduplicateCampaign" in message and "CustomCampaign" not in message:
        errors.append(
            (
                "send-0012",
                400,
                "DeduplicateCampaign needs a CustomCampaign.",
                ["CustomCampaign", "DeduplicateCampaign"],
            )
        )
    return errors


def _emails(message: Mapping[str, Any], key: str) -> list[str]:
    value = message.get(key)
    return (
        [item["Email"] for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def merged_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A v3.1 call's messages, each with the call's Globals under its own properties."""
    globals_ = body.get("Globals") if isinstance(body.get("Globals"), dict) else {}
    return [{**globals_, **message} for message in body["Messages"]]


class FakeMailjetAPI:
    """Answers like Mailjet: Send API v3.1 and v3, and the template content API.

    ``refuse`` maps a recipient address to the error (ErrorCode, StatusCode,
    ErrorMessage) Mailjet gives a v3.1 message that has them; ``fail_calls`` maps a
    v3.1 call's number (1 for the first) to the answer it gets instead.
    """

    def __init__(
        self,
        first_id: int = FIRST_MESSAGE_ID,
        refuse: Mapping[str, tuple[str, int, str]] | None = None,
        fail_calls: Mapping[int, FakeResponse] | None = None,
    ) -> None:
        self.ids = itertools.count(first_id)
        self.refuse = {address.lower(): error for address, error in (refuse or {}).items()}
        self.fail_calls = dict(fail_calls or {})
        self.v31_calls = 0

    def __call__(self, request: RecordedRequest) -> FakeResponse:
        if request.method == "GET":
            return self.template_content(request)
        if request.method == "POST" and request.path.endswith("/v3.1/send"):
            return self.send_v31(request)
        if request.method == "POST" and request.path.endswith("/v3/send"):
            return self.send_v3(request)
        return mailjet_error(404, "Unknown resource", ErrorInfo="")

    # --- Send API v3.1 ---

    def send_v31(self, request: RecordedRequest) -> FakeResponse:
        self.v31_calls += 1
        if self.v31_calls in self.fail_calls:
            return self.fail_calls[self.v31_calls]
        if len(request.body) > MAX_BODY_BYTES:
            return FakeResponse(
                413,
                "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
                {"Content-Type": "text/html"},
            )
        try:
            body = request.json()
        except ValueError:
            return FakeResponse.json(
                error_object(
                    (
                        "mj-0002",
                        400,
                        "Malformed JSON, please review the syntax and properties types.",
                        [],
                    )
                ),
                400,
            )
        refused = self.check_call(body)
        if refused is not None:
            return refused
        results = []
        for message in merged_messages(body):
            errors = check_message(message)
            recipients = [
                email for key in _ADDRESS_LIST_PROPERTIES for email in _emails(message, key)
            ]
            errors += [
                (*self.refuse[email.lower()], ["To"])
                for email in recipients
                if email.lower() in self.refuse
            ][:1]
            if errors:
                results.append({"Status": "error", "Errors": [error_object(e) for e in errors]})
            else:
                results.append(self.sent(message, sandbox=body.get("SandboxMode") is True))
        failed = any(result["Status"] == "error" for result in results)
        return FakeResponse.json({"Messages": results}, 400 if failed else 200)

    @staticmethod
    def check_call(body: Any) -> FakeResponse | None:
        """A call Mailjet refuses as a whole (None: each message is looked at)."""
        if not isinstance(body, dict) or not isinstance(body.get("Messages"), list):
            return _call_refused(
                [
                    ("mj-0004", 400, 'Type mismatch. Expected type "Messages".', ["Messages"]),
                    ("mj-0003", 400, "Missing mandatory property.", ["Messages"]),
                ]
            )
        unknown = sorted(set(body) - ROOT_PROPERTIES)
        if unknown:
            return _call_refused([("mj-0004", 400, f"Unknown property {unknown}.", unknown)])
        if "SandboxMode" in body and not isinstance(body["SandboxMode"], bool):
            return _call_refused(
                [("mj-0004", 400, 'Type mismatch. Expected type "boolean".', ["SandboxMode"])]
            )
        if "Globals" in body and not isinstance(body["Globals"], dict):
            return _call_refused(
                [("mj-0004", 400, 'Type mismatch. Expected type "object".', ["Globals"])]
            )
        if not body["Messages"]:
            return _call_refused([("mj-0007", 400, "Empty array.", ["Messages"])])
        if len(body["Messages"]) > MAX_MESSAGES or not all(
            isinstance(message, dict) for message in body["Messages"]
        ):
            return _call_refused(
                [("mj-0008", 400, "Too many elements (max 50).", ["Messages"])]
                if len(body["Messages"]) > MAX_MESSAGES
                else [("mj-0004", 400, 'Type mismatch. Expected type "Message".', ["Messages"])]
            )
        total = sum(
            len(_emails(message, key))
            for message in merged_messages(body)
            for key in _ADDRESS_LIST_PROPERTIES
        )
        if total > MAX_RECIPIENTS:
            # Refused as a whole, with the error at the top (mailjet/api-documentation#12).
            return FakeResponse.json(
                error_object(
                    (
                        "send-0015",
                        400,
                        "Total number of recipients exceeded. Max allowed - 50.",
                        ["To", "Bcc", "Cc"],
                    )
                ),
                400,
            )
        return None

    def sent(self, message: Mapping[str, Any], sandbox: bool) -> dict[str, Any]:
        """A message's success result: a MessageID and UUID for each recipient
        (SandboxMode: MessageID 0 and no UUID, as the guide shows)."""
        result: dict[str, Any] = {"Status": "success", "CustomID": message.get("CustomID", "")}
        for key in _ADDRESS_LIST_PROPERTIES:
            items = []
            for email in _emails(message, key):
                message_id = 0 if sandbox else next(self.ids)
                items.append(
                    {
                        "Email": email,
                        "MessageUUID": "" if sandbox else str(uuid.uuid4()),
                        "MessageID": message_id,
                        "MessageHref": f"https://api.mailjet.com/v3/REST/message/{message_id}",
                    }
                )
            result[key] = items
        return result

    # --- Send API v3 ---

    def send_v3(self, request: RecordedRequest) -> FakeResponse:
        body = request.json()
        messages = body.get("Messages") or [body]
        sent = [
            {"Email": email, "MessageID": next(self.ids), "MessageUUID": str(uuid.uuid4())}
            for message in messages
            for email in recipients_of(message)
        ]
        return FakeResponse.json({"Sent": sent})

    @staticmethod
    def template_content(request: RecordedRequest) -> FakeResponse:
        """``GET /v3/REST/template/<id>/detailcontent``: the template's content, in the
        REST API's ``{"Count", "Data", "Total"}`` envelope; 404 for a template the
        account doesn't have."""
        match = _TEMPLATE_CONTENT.fullmatch(request.path)
        template_id = match["id"] if match else ""
        if not template_id.isdigit() or int(template_id) not in TEMPLATES:
            return mailjet_error(404, "Object not found", ErrorInfo="")
        content = {
            "Headers": TEMPLATES[int(template_id)],
            "Html-part": "<p>Hello {{var:name}}</p>",
            "MJMLContent": "",
            "Text-part": "Hello {{var:name}}",
        }
        return FakeResponse.json({"Count": 1, "Data": [content], "Total": 1})


# ---------------------------------------------------------------------- reading back


def _readable(name: str) -> str:
    """A display name as recipients see it (RFC 2047 encoded-words decoded)."""
    return str(make_header(decode_header(name))) if "=?" in name else name


def addresses(value: str | None) -> list[str]:
    """An address-list string (a v3 To, Cc, Bcc; a Reply-To header) as "Name <addr>"
    strings."""
    if not value:
        return []
    return [formatted_address(addr, _readable(name)) for name, addr in getaddresses([value])]


def v31_address(item: Mapping[str, Any]) -> str:
    """A v3.1 address object (``{"Email": ..., "Name": ...}``) as a SentMessage records it."""
    return formatted_address(item["Email"], item.get("Name"))


def recipients_of(message: dict[str, Any]) -> list[str]:
    """Every recipient address of one v3 message, as Mailjet lists them in ``Sent``."""
    found = [item["Email"] for item in message.get("Recipients", ())]
    for key in ("To", "Cc", "Bcc"):
        found += [addr for _name, addr in getaddresses([message.get(key) or ""]) if addr]
    return found


def _tracking_v3(value: Any) -> bool | None:
    return {2: True, 1: False}.get(value)


def _tracking_v31(value: Any) -> bool | None:
    return {"enabled": True, "disabled": False}.get(value)


def _payload(value: Any) -> dict[str, Any] | None:
    """An EventPayload that holds a JSON object (Anymail's metadata), else None."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


#: What a batch's messages (one per "to" recipient) don't share.
_PER_RECIPIENT = frozenset({"To", "Variables", "EventPayload"})


def _one_batch(group: list[dict[str, Any]], message: dict[str, Any]) -> bool:
    """Whether ``message`` continues ``group`` as one batch-sent Django message: each
    has a single, different "to" recipient and everything else but its Variables and
    EventPayload is the same."""
    first = group[0]
    if not all(isinstance(m.get("To"), list) and len(m["To"]) == 1 for m in (*group, message)):
        return False
    if message["To"][0].get("Email") in {m["To"][0].get("Email") for m in group}:
        return False

    def shared(m: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in m.items() if key not in _PER_RECIPIENT}

    return shared(message) == shared(first)


def read_v31_call(body: Mapping[str, Any]) -> list[SentMessage]:
    """A v3.1 call's messages as SentMessages: one per Django message. Consecutive
    messages that differ only in their single "to" recipient, Variables and
    EventPayload are read as one batch send (merge_data / merge_metadata per
    recipient). (So two otherwise identical messages to one recipient each, sent in
    one call, read back as one batch: check such calls' raw JSON instead.)"""
    groups: list[list[dict[str, Any]]] = []
    for message in merged_messages(body):
        if groups and _one_batch(groups[-1], message):
            groups[-1].append(message)
        else:
            groups.append([message])
    return [_read_group(group) for group in groups]


def _read_group(group: list[dict[str, Any]]) -> SentMessage:
    first = group[0]
    headers = dict(first.get("Headers") or {})
    reply_to = [v31_address(first["ReplyTo"])] if "ReplyTo" in first else []
    reply_to += addresses(headers.pop("Reply-To", None))
    template_id = first.get("TemplateID")
    sent = SentMessage(
        from_email=[v31_address(first["From"])] if "From" in first else [],
        to=[v31_address(item) for message in group for item in message.get("To", ())],
        cc=[v31_address(item) for item in first.get("Cc", ())],
        bcc=[v31_address(item) for item in first.get("Bcc", ())],
        reply_to=reply_to,
        subject=first.get("Subject"),
        text=first.get("TextPart"),
        html=first.get("HTMLPart"),
        headers=headers,
        envelope_sender=first["Sender"]["Email"] if "Sender" in first else None,
        tags=[first["CustomCampaign"]] if "CustomCampaign" in first else [],
        track_clicks=_tracking_v31(first.get("TrackClicks")),
        track_opens=_tracking_v31(first.get("TrackOpens")),
        template_id=(
            TEMPLATE_NAMES.get(template_id, str(template_id)) if template_id is not None else None
        ),
        raw=first,
    )
    if len(group) == 1:
        sent.merge_global_data = first.get("Variables")
        sent.metadata = _payload(first.get("EventPayload")) or {}
    else:
        for message in group:
            addr = message["To"][0]["Email"]
            if "Variables" in message:
                sent.merge_data = {**(sent.merge_data or {}), addr: message["Variables"]}
            payload = _payload(message.get("EventPayload"))
            if payload is not None:
                sent.merge_metadata = {**(sent.merge_metadata or {}), addr: payload}
    sent.attachments += [_v31_attachment(item) for item in first.get("Attachments", ())]
    sent.inline_images += [
        _v31_attachment(item, inline=True) for item in first.get("InlinedAttachments", ())
    ]
    return sent


def _v31_attachment(item: Mapping[str, Any], inline: bool = False) -> SentAttachment:
    """A v3.1 ``Attachments`` or ``InlinedAttachments`` item. (The HTML refers to an
    inline part as cid:<ContentID>, or its Filename.)"""
    return SentAttachment(
        filename=item["Filename"],
        content=base64.b64decode(item["Base64Content"]),
        mimetype=item["ContentType"],
        content_id=(item.get("ContentID") or item["Filename"]) if inline else None,
    )


def read_v3_call(body: dict[str, Any]) -> SentMessage:
    """One v3 API call as a SentMessage. A ``Messages`` batch (one message per "to"
    recipient) is folded into one: its "to" recipients, with each message's Vars as
    merge_data and its event payload as merge_metadata."""
    messages = body.get("Messages") or [body]
    first = messages[0]
    headers = dict(first.get("Headers") or {})
    sent = SentMessage(
        from_email=(
            [formatted_address(first["FromEmail"], first.get("FromName"))]
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
        track_clicks=_tracking_v3(first.get("Mj-trackclick")),
        track_opens=_tracking_v3(first.get("Mj-trackopen")),
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
            v31_address(item) for item in body.get("Recipients", ())
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


# ---------------------------------------------------------------------- the profile


def _v31_errors_for_every_message(request: RecordedRequest, error: Error) -> FakeResponse:
    """A v3.1 call whose every message Mailjet refused (HTTP 400, a result each)."""
    try:
        count = len(request.json()["Messages"])
    except (ValueError, KeyError, TypeError):
        count = 1
    results = [{"Status": "error", "Errors": [error_object(error)]} for _ in range(count)]
    return FakeResponse.json({"Messages": results}, 400)


class MailjetProfile(Profile):
    esp_id = "mailjet"
    # Mailjet has taken the message for sending (the Send API doesn't queue for later).
    accepted_status = "sent"
    # The Send API refuses messages (v3.1: one by one), not recipients: bad recipients
    # show up later, as blocked or bounce events.
    reports_rejections = False
    per_recipient_message_ids = True
    from_email = "Sender <sender@example.com>"
    esp_extra_example: ClassVar[dict[str, Any] | None] = {
        "Priority": 3,
        "CustomID": "conformance-custom-id",
    }

    api = FakeMailjetAPI()

    # ---------------------------------------------------------------- sending

    def adapt_message(self, message: Any, feature: str) -> None:
        if feature == "template_id":
            # Send API v3.1 takes a template by its number: the fake account's
            # "conformance-template" (read back by that name).
            message.template_id = str(CONFORMANCE_TEMPLATE_ID)

    def backend_settings(self, server: Any, api_version: str = "v3.1") -> dict[str, Any]:
        """Settings for the backend's default (Send API v3.1), or ``api_version="v3"``."""
        settings = {
            "MAILJET_API_KEY": API_KEY,
            "MAILJET_SECRET_KEY": SECRET_KEY,
            "MAILJET_API_URL": f"{server.url}/{api_version}",
        }
        if api_version != "v3.1":
            settings["MAILJET_API_VERSION"] = api_version
        return settings

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        v31 = request.path.endswith("/v3.1/send")
        if scenario == "client_error":
            if v31:
                return _v31_errors_for_every_message(
                    request,
                    (
                        "send-0008",
                        403,
                        '"sender@example.com" is not an authorized sender email address '
                        "for your account.",
                        ["From"],
                    ),
                )
            # Send API v3's error shape (StatusCode, ErrorMessage, ErrorInfo).
            return mailjet_error(400, 'Missing "To" or "Recipients" property', ErrorInfo="")
        if scenario == "server_error":
            return mailjet_error(
                500,
                "Internal Server Error",
                ErrorIdentifier="D4DF574C-0C5F-45C7-BA52-7AA8E533C3DE",
            )
        if scenario == "malformed":
            return FakeResponse(200, "<html>Sent?</html>", {"Content-Type": "text/html"})
        return self.api(request)

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["Priority"] == 3, sent.raw
        assert sent.raw["CustomID"] == "conformance-custom-id", sent.raw

    def template_content(self, request: RecordedRequest) -> FakeResponse:
        return FakeMailjetAPI.template_content(request)

    @staticmethod
    def send_calls(server: Any) -> Iterator[tuple[bool, Any]]:
        """Each Send API call so far (template reads are not sends): whether it was a
        v3.1 call, and its JSON body."""
        for request in getattr(server, "requests", ()):
            if request.method == "POST" and request.path.endswith(("/v3.1/send", "/v3/send")):
                yield request.path.endswith("/v3.1/send"), request.json()

    def sent_messages(self, server: Any) -> list[SentMessage]:
        """The messages sent so far, in order: a v3 call is one message, a v3.1 call
        as many as the Django messages it carries (see :func:`read_v31_call`)."""
        sent: list[SentMessage] = []
        for v31, body in self.send_calls(server):
            sent += read_v31_call(body) if v31 else [read_v3_call(body)]
        return sent

    def request_count(self, server: Any) -> int:
        """The Mailjet messages the Send API received: each message of a v3.1 call
        counts (Anymail puts several Django messages in one call), a v3 call is one
        (template reads that precede a v3 send don't count)."""
        return sum(
            len(body["Messages"]) if v31 and isinstance(body, dict) else 1
            for v31, body in self.send_calls(server)
        )


PROFILE = MailjetProfile()
