"""SendinBlue's conformance profile: a fake Brevo ``smtp/email`` API on 127.0.0.1,
read back from its JSON posts. Brevo doesn't sign webhooks, so fixtures are posted
as they are (with the suite's basic auth).

The fake checks what Brevo's API reference makes mandatory for every message (the
``api-key`` header; ``to``; ``sender`` and ``subject`` unless ``templateId``; ASCII
addresses, which the reference types ``format: email``; an integer ``templateId``
naming a template of the account; each attachment's name and base64 content) and
answers as Brevo documents (201 ``{"messageId"}``, 202 for a scheduled message,
errors as ``{"code", "message"}``). With ``strict=True``
(:func:`brevo_error`) it also applies the two rules the suite's own messages don't
follow: an HTML body unless there is a template, and attachment extensions from
Brevo's published list.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import mimetypes
from email.utils import parseaddr
from typing import Any

from anymail.backends.sendinblue import ALLOWED_ATTACHMENT_EXTENSIONS, METADATA_HEADER
from anymail.utils import EmailAddress
from anymail_conformance import FakeResponse, Profile, RecordedRequest, SentAttachment, SentMessage

API_KEY = "xkeysib-test-sendinblue-api-key"

#: The fake account's stored templates: numeric id → name. (Brevo identifies
#: templates by number; the suite's template case names "conformance-template".)
TEMPLATES = {7: "conformance-template"}
CONFORMANCE_TEMPLATE_ID = 7


def error(status: int, code: str, message: str) -> FakeResponse:
    """An error answer in Brevo's documented shape (``errorModel``)."""
    return FakeResponse.json({"code": code, "message": message}, status)


def brevo_error(request: RecordedRequest, *, strict: bool = False) -> FakeResponse | None:
    """Brevo's error answer for a request its API reference says it refuses, or None."""
    if request.method != "POST" or request.path != "/v3/smtp/email":
        return error(404, "document_not_found", f"{request.method} {request.path} not found")
    if request.headers.get("api-key") != API_KEY:
        return error(401, "unauthorized", "Key not found")
    try:
        body = request.json()
    except ValueError:
        return error(400, "bad_request", "Input must be a valid JSON object")
    if not isinstance(body, dict):
        return error(400, "bad_request", "Input must be a valid JSON object")
    for field, address in _address_fields(body):
        # The reference types each address "format: email": an ASCII addr-spec (an
        # internationalized domain goes in its IDNA form).
        if not isinstance(address, str) or not address.isascii() or "@" not in address:
            return error(400, "invalid_parameter", f"email is not valid in {field}")
    template_id = body.get("templateId")
    if template_id is not None:
        if not isinstance(template_id, int) or isinstance(template_id, bool):
            return error(400, "invalid_parameter", "templateId should be type integer")
        if template_id not in TEMPLATES:
            return error(400, "invalid_parameter", "Template ID is not valid")
    if not body.get("to") and not body.get("messageVersions"):
        return error(400, "missing_parameter", "to is missing")
    if template_id is None:
        for field in ("sender", "subject"):
            if not body.get(field):
                return error(400, "missing_parameter", f"{field} is missing")
        if strict and not body.get("htmlContent"):
            return error(400, "missing_parameter", "htmlContent is missing")
    for attachment in body.get("attachment", ()):
        name = attachment.get("name")
        if not name:
            return error(400, "missing_parameter", "attachment name is missing")
        try:
            base64.b64decode(attachment.get("content", ""), validate=True)
        except binascii.Error:
            return error(400, "invalid_parameter", "attachment content is not base64")
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if strict and extension not in ALLOWED_ATTACHMENT_EXTENSIONS:
            return error(400, "invalid_parameter", f"Unsupported file extension for {name}")
    return None


def _address_fields(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, email) for each address of a ``smtp/email`` body, message versions too."""
    found = []
    for part in [body, *(v for v in body.get("messageVersions") or () if isinstance(v, dict))]:
        for field in ("sender", "to", "cc", "bcc", "replyTo"):
            entries = part.get(field)
            if isinstance(entries, dict):
                entries = [entries]
            for entry in entries or ():
                if isinstance(entry, dict) and "email" in entry:
                    found.append((field, entry["email"]))
    return found


def _addresses(entries: Any) -> list[str]:
    if isinstance(entries, dict):
        entries = [entries]
    return [
        EmailAddress(entry.get("name") or "", entry["email"]).address for entry in entries or ()
    ]


class SendinBlueProfile(Profile):
    esp_id = "sendinblue"
    accepted_status = "queued"
    # Brevo's send API accepts or refuses the whole message; recipients' fates
    # arrive by webhook.
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    # Scheduling through esp_extra (Brevo's "scheduledAt", a public beta the 6.0
    # docs predate): Brevo answers 202 with a batchId.
    esp_extra_example = (
        {"scheduledAt": "2030-01-02T03:04:05+00:00", "batchId": "conformance-batch"},
        lambda sent: _check_extra(sent),
    )

    _ids = itertools.count(1)

    # ---------------------------------------------------------------- sending

    def adapt_message(self, message: Any, feature: str) -> None:
        if feature == "template_id":
            # Brevo templates have numeric ids, bring their own From, and refuse
            # display names (Anymail 6.0 docs, "Batch sending/merge and ESP templates").
            message.template_id = CONFORMANCE_TEMPLATE_ID
            message.from_email = None
            message.to = _bare(message.to)

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"SENDINBLUE_API_KEY": API_KEY, "SENDINBLUE_API_URL": f"{server.url}/v3/"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        refused = brevo_error(request)
        if refused is not None:
            return refused
        if scenario == "client_error":
            return error(400, "invalid_parameter", "email is not valid in to")
        if scenario == "server_error":
            return FakeResponse(500, "Internal Server Error", {"Content-Type": "text/plain"})
        if scenario == "malformed":
            return FakeResponse(201, "<html>Created?</html>", {"Content-Type": "text/html"})
        message_id = f"<20260101000000.{next(self._ids)}@smtp-relay.example.com>"
        body = request.json()
        if "scheduledAt" in body:
            batch_id = body.get("batchId") or "generated-batch"
            return FakeResponse.json({"messageId": message_id, "batchId": batch_id}, 202)
        return FakeResponse.json({"messageId": message_id}, 201)

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [
            read_message(request)
            for request in server.requests
            if request.method == "POST" and request.path.endswith("/smtp/email")
        ]


def _bare(addresses: list[str]) -> list[str]:
    return [parseaddr(address)[1] for address in addresses]


def read_message(request: RecordedRequest) -> SentMessage:
    """One ``smtp/email`` post, read back into the suite's normalized view."""
    body = request.json()
    headers = dict(body.get("headers") or {})
    metadata_json = next(
        (headers.pop(name) for name in list(headers) if name.lower() == METADATA_HEADER.lower()),
        None,
    )
    template_id = body.get("templateId")
    return SentMessage(
        from_email=_addresses(body["sender"]) if body.get("sender") else [],
        to=_addresses(body.get("to")),
        cc=_addresses(body.get("cc")),
        bcc=_addresses(body.get("bcc")),
        reply_to=_addresses(body["replyTo"]) if body.get("replyTo") else [],
        subject=body.get("subject"),
        text=body.get("textContent"),
        html=body.get("htmlContent"),
        attachments=[
            SentAttachment(
                filename=attachment["name"],
                content=base64.b64decode(attachment["content"]),
                # Brevo has no content-type field: it reads the type from the name.
                mimetype=mimetypes.guess_type(attachment["name"])[0] or "application/octet-stream",
            )
            for attachment in body.get("attachment", ())
        ],
        headers=headers,
        metadata=json.loads(metadata_json) if metadata_json else {},
        tags=list(body.get("tags") or []),
        template_id=TEMPLATES.get(template_id, str(template_id)) if template_id else None,
        merge_global_data=body.get("params"),
        raw=body,
    )


def _check_extra(sent: SentMessage) -> None:
    assert sent.raw["scheduledAt"] == "2030-01-02T03:04:05+00:00", sent.raw
    assert sent.raw["batchId"] == "conformance-batch", sent.raw


PROFILE = SendinBlueProfile()
