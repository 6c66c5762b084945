"""Brevo's conformance profile: a fake Brevo ``smtp/email`` API on 127.0.0.1, read
back from its JSON posts. Brevo doesn't sign webhooks, so fixtures are posted as
they are (with the suite's basic auth).

The fake checks what Brevo's API reference makes mandatory for every message (the
``api-key`` header; ``to``, or ``messageVersions`` each with its ``to``; ``sender``
and ``subject`` unless ``templateId``; ASCII addresses, which the reference types
``format: email``; an integer ``templateId`` naming a template of the account; each
attachment's name and base64 content; ``tags`` a list of strings; ``scheduledAt`` a
date-time with its time zone; at most 1000 message versions of at most 99
recipients, 2000 in all) and answers as Brevo documents (201 ``{"messageId"}``, or
``{"messageIds"}`` one per message version; 202 with a ``batchId`` for a scheduled
message; errors as ``{"code", "message"}``). With ``strict=True``
(:func:`brevo_error`) it also applies the two rules the suite's own messages don't
follow: an HTML body unless there is a template, and attachment extensions from
Brevo's published list.

A batch send reads back as one message: its "to" are the versions' recipients, each
version's ``params`` is that recipient's merge data, and each version's
X-Mailin-custom header their merge metadata.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import mimetypes
import urllib.parse
from datetime import datetime
from email.utils import parseaddr
from typing import Any, ClassVar

from anymail.backends.brevo import ALLOWED_ATTACHMENT_EXTENSIONS, METADATA_HEADER
from anymail_conformance import FakeResponse, Profile, RecordedRequest, SentAttachment, SentMessage
from anymail_conformance.profile import formatted_address

API_KEY = "xkeysib-test-brevo-api-key"

#: The fake account's stored templates: numeric id → name. (Brevo identifies
#: templates by number; the suite's template case names "conformance-template".)
TEMPLATES = {7: "conformance-template"}
CONFORMANCE_TEMPLATE_ID = 7

#: Brevo's documented limits for one call with messageVersions.
MAX_VERSIONS = 1000
MAX_VERSION_RECIPIENTS = 99
MAX_RECIPIENTS = 2000


def error_model(status: int, code: str, message: str) -> FakeResponse:
    """An error answer in Brevo's documented shape (``errorModel``)."""
    return FakeResponse.json({"code": code, "message": message}, status)


def brevo_error(request: RecordedRequest, *, strict: bool = False) -> FakeResponse | None:
    """Brevo's error answer for a request its API reference says it refuses, or None."""
    if request.method != "POST" or request.path != "/v3/smtp/email":
        return error_model(404, "document_not_found", f"{request.method} {request.path} not found")
    if request.headers.get("api-key") != API_KEY:
        return error_model(401, "unauthorized", "Key not found")
    try:
        body = request.json()
    except ValueError:
        return error_model(400, "bad_request", "Input must be a valid JSON object")
    if not isinstance(body, dict):
        return error_model(400, "bad_request", "Input must be a valid JSON object")
    for field, address in _address_fields(body):
        # The reference types each address "format: email": an ASCII addr-spec (an
        # internationalized domain goes in its IDNA form).
        if not isinstance(address, str) or not address.isascii() or "@" not in address:
            return error_model(400, "invalid_parameter", f"email is not valid in {field}")
    template_id = body.get("templateId")
    if template_id is not None:
        if not isinstance(template_id, int) or isinstance(template_id, bool):
            return error_model(400, "invalid_parameter", "templateId should be type integer")
        if template_id not in TEMPLATES:
            return error_model(400, "invalid_parameter", "Template ID is not valid")
    versions = body.get("messageVersions")
    if versions is not None:
        refused = _versions_error(body, versions)
        if refused is not None:
            return refused
    elif not body.get("to"):
        return error_model(400, "missing_parameter", "to is missing")
    if template_id is None:
        for field in ("sender", "subject"):
            if not body.get(field):
                return error_model(400, "missing_parameter", f"{field} is missing")
        if strict and not body.get("htmlContent"):
            return error_model(400, "missing_parameter", "htmlContent is missing")
    tags = body.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return error_model(400, "invalid_parameter", "tags should be an array of strings")
    if "scheduledAt" in body and _scheduled_at(body["scheduledAt"]) is None:
        return error_model(400, "invalid_parameter", "scheduledAt should be a valid date-time")
    for attachment in body.get("attachment", ()):
        name = attachment.get("name")
        if not name:
            return error_model(400, "missing_parameter", "attachment name is missing")
        try:
            base64.b64decode(attachment.get("content", ""), validate=True)
        except binascii.Error:
            return error_model(400, "invalid_parameter", "attachment content is not base64")
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if strict and extension not in ALLOWED_ATTACHMENT_EXTENSIONS:
            return error_model(400, "invalid_parameter", f"Unsupported file extension for {name}")
    return None


def _versions_error(body: dict[str, Any], versions: Any) -> FakeResponse | None:
    """Brevo's refusal of a ``messageVersions`` that breaks its documented rules."""
    if not isinstance(versions, list) or not versions:
        return error_model(400, "invalid_parameter", "messageVersions should be a non-empty array")
    if len(versions) > MAX_VERSIONS:
        return error_model(400, "invalid_parameter", "messageVersions: at most 1000 versions")
    total = 0
    for version in versions:
        if not isinstance(version, dict) or not version.get("to"):
            return error_model(400, "missing_parameter", "messageVersions.to is missing")
        count = sum(len(version.get(kind) or body.get(kind) or ()) for kind in ("to", "cc", "bcc"))
        if count > MAX_VERSION_RECIPIENTS:
            return error_model(400, "invalid_parameter", "messageVersions: at most 99 recipients")
        if "params" in version and not isinstance(version["params"], dict):
            return error_model(
                400, "invalid_parameter", "messageVersions.params should be an object"
            )
        total += count
    if total > MAX_RECIPIENTS:
        return error_model(400, "invalid_parameter", "at most 2000 recipients in one request")
    return None


def _scheduled_at(value: Any) -> datetime | None:
    """Brevo's ``scheduledAt``: a date-time with its time zone (else None)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


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


def inbound_attachment(request: RecordedRequest, contents: Any) -> FakeResponse:
    """Brevo's answer to ``GET /v3/inbound/attachments/{downloadToken}`` (the content
    of an inbound email's attachment), from ``contents``: {download token: bytes}.
    (https://developers.brevo.com/reference/getinboundemailattachment)"""
    prefix = "/v3/inbound/attachments/"
    if request.method != "GET" or not request.path.startswith(prefix):
        return error_model(404, "document_not_found", f"{request.method} {request.path} not found")
    if request.headers.get("api-key") != API_KEY:
        return error_model(401, "unauthorized", "Key not found")
    token = urllib.parse.unquote(request.path.removeprefix(prefix))
    if token not in contents:
        return error_model(404, "document_not_found", "Attachment not found")
    return FakeResponse(200, contents[token], {"Content-Type": "application/octet-stream"})


class BrevoProfile(Profile):
    esp_id = "brevo"
    # Benchmarks post one event per request: django-anymail, compared against, reads
    # only that form of Brevo's webhook (not the batched list).
    benchmark_fixture = "delivered_with_metadata.json"
    accepted_status = "queued"
    # Brevo's send API accepts or refuses the whole message; recipients' fates
    # arrive by webhook.
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    # A batch id for scheduled sends (Brevo's "batchId", a UUIDv4).
    esp_extra_example: ClassVar[dict[str, Any] | None] = {
        "batchId": "5c6cfa04-eed9-42c2-8b5c-6d470d978e9d"
    }

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
        return {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{server.url}/v3/"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        refused = brevo_error(request)
        if refused is not None:
            return refused
        if scenario == "client_error":
            return error_model(400, "invalid_parameter", "email is not valid in to")
        if scenario == "server_error":
            return FakeResponse(500, "Internal Server Error", {"Content-Type": "text/plain"})
        if scenario == "malformed":
            return FakeResponse(201, "<html>Created?</html>", {"Content-Type": "text/html"})
        return answer(request.json())

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["batchId"] == "5c6cfa04-eed9-42c2-8b5c-6d470d978e9d", sent.raw

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [
            self.read_message(request)
            for request in server.requests
            if request.method == "POST" and request.path.endswith("/smtp/email")
        ]

    @staticmethod
    def addresses(entries: Any) -> list[str]:
        """Brevo's {"email", "name"} object, or a list of them, as SentMessage records
        addresses."""
        if isinstance(entries, dict):
            entries = [entries] if entries else []
        return [formatted_address(entry["email"], entry.get("name")) for entry in entries or ()]

    def read_message(self, request: RecordedRequest) -> SentMessage:
        """One ``smtp/email`` post, read back into the suite's normalized view."""
        body = request.json()
        headers = dict(body.get("headers") or {})
        metadata = mailin_custom(headers)
        template_id = body.get("templateId")
        sent = SentMessage(
            from_email=self.addresses(body.get("sender")),
            to=self.addresses(body.get("to")),
            cc=self.addresses(body.get("cc")),
            bcc=self.addresses(body.get("bcc")),
            reply_to=self.addresses(body.get("replyTo")),
            subject=body.get("subject"),
            text=body.get("textContent"),
            html=body.get("htmlContent"),
            attachments=[
                SentAttachment(
                    filename=attachment["name"],
                    content=base64.b64decode(attachment["content"]),
                    # Brevo has no content-type field: it reads the type from the name.
                    mimetype=(
                        mimetypes.guess_type(attachment["name"])[0] or "application/octet-stream"
                    ),
                )
                for attachment in body.get("attachment", ())
            ],
            headers=headers,
            metadata=metadata or {},
            send_at=_scheduled_at(body["scheduledAt"]) if "scheduledAt" in body else None,
            tags=list(body.get("tags") or []),
            template_id=TEMPLATES.get(template_id, str(template_id)) if template_id else None,
            merge_global_data=body.get("params"),
            raw=body,
        )
        versions = body.get("messageVersions")
        if versions:
            # A batch send: one version per "to" recipient.
            sent.to = [address for version in versions for address in self.addresses(version["to"])]
            merge_data, merge_metadata = {}, {}
            for version in versions:
                recipient = version["to"][0]["email"]
                if "params" in version:
                    merge_data[recipient] = version["params"]
                version_metadata = mailin_custom(dict(version.get("headers") or {}))
                if version_metadata is not None:
                    merge_metadata[recipient] = version_metadata
            sent.merge_data = merge_data or None
            sent.merge_metadata = merge_metadata or None
        return sent


def answer(body: dict[str, Any]) -> FakeResponse:
    """Brevo's success answer to a ``smtp/email`` body it accepts: a message id, one
    per message version; 202 and a batch id for a scheduled message."""
    versions = body.get("messageVersions")
    ids = [
        f"<20260101000000.{next(BrevoProfile._ids)}@smtp-relay.example.com>"
        for _ in range(len(versions) if versions else 1)
    ]
    result: dict[str, Any] = {"messageIds": ids} if versions else {"messageId": ids[0]}
    if "scheduledAt" in body:
        result["batchId"] = body.get("batchId") or "5c6cfa04-0000-4000-8000-000000000000"
        return FakeResponse.json(result, 202)
    return FakeResponse.json(result, 201)


def _bare(addresses: list[str]) -> list[str]:
    return [parseaddr(address)[1] for address in addresses]


def mailin_custom(headers: dict[str, Any]) -> dict[str, Any] | None:
    """The X-Mailin-custom header (removed from ``headers``), decoded."""
    value = next(
        (headers.pop(name) for name in list(headers) if name.lower() == METADATA_HEADER.lower()),
        None,
    )
    return json.loads(value) if value else None


PROFILE = BrevoProfile()
