"""Mailgun's conformance profile: a fake messages API on 127.0.0.1, read back from
its multipart form posts, and fixtures re-signed with a test webhook signing key."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import time
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from anymail_conformance import FakeResponse, FormField, Profile, SentAttachment, SentMessage
from anymail_conformance.profile import WebhookRequest, address_list, encode_fixture_request

if TYPE_CHECKING:
    from anymail_conformance import RecordedRequest

API_KEY = "test-mailgun-api-key"
WEBHOOK_SIGNING_KEY = "test-mailgun-webhook-signing-key"


class SignedWebhookRequest(WebhookRequest):
    """A prepared request that remembers its signature (so tamper() can break it)."""

    def __init__(self, body: bytes, content_type: str, headers: dict[str, str], signature: str):
        super().__init__(body, content_type, headers)
        self.signature = signature


def _bool(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


def _filename(form_field: FormField) -> str | None:
    """The upload's filename. requests (urllib3 2) sends it as raw UTF-8, which the
    HTTP header parser hands back as surrogate escapes."""
    if form_field.filename is None:
        return None
    try:
        return form_field.filename.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return form_field.filename


class MailgunProfile(Profile):
    esp_id = "mailgun"
    accepted_status = "queued"
    # Mailgun's messages API queues or refuses the whole message; recipients'
    # fates arrive by webhook.
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    esp_extra_example: ClassVar[dict[str, Any]] = {"o:testmode": "yes", "o:require-tls": "true"}

    _ids = itertools.count(1)

    # ---------------------------------------------------------------- sending

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"MAILGUN_API_KEY": API_KEY, "MAILGUN_API_URL": f"{server.url}/v3"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        if scenario == "client_error":
            return FakeResponse.json({"message": "'to' parameter is not a valid address"}, 400)
        if scenario == "server_error":
            return FakeResponse(500, "Internal Server Error", {"Content-Type": "text/plain"})
        if scenario == "malformed":
            return FakeResponse(200, "<html>Queued?</html>", {"Content-Type": "text/html"})
        domain = unquote(request.path.split("/")[-2])
        message_id = f"<20260101000000.{next(self._ids)}@{domain}>"
        return FakeResponse.json({"id": message_id, "message": "Queued. Thank you."})

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [
            self.read_message(request)
            for request in server.requests
            if request.method == "POST" and request.path.endswith(("/messages", "/messages.mime"))
        ]

    def read_message(self, request: RecordedRequest) -> SentMessage:
        fields = request.form()
        uploads = request.files()
        if request.path.endswith("/messages.mime"):
            fields, uploads = _mime_fields(fields, uploads)
        first = {name: values[0] for name, values in fields.items()}
        recipient_variables = json.loads(first.get("recipient-variables", "null"))

        def addresses(name: str) -> list[str]:
            # Fields of one address each (to, cc...), or a header of several (h:Reply-To).
            return address_list(", ".join(fields.get(name, [])))

        sent = SentMessage(
            from_email=addresses("from"),
            to=addresses("to"),
            cc=addresses("cc"),
            bcc=addresses("bcc"),
            reply_to=addresses("h:Reply-To"),
            subject=first.get("subject"),
            text=first.get("text"),
            html=first.get("html"),
            headers={
                name[2:]: value
                for name, value in first.items()
                if name.startswith("h:") and name != "h:Reply-To"
            },
            # Mailgun takes only the sending domain, from the URL.
            envelope_sender="@" + unquote(request.path.split("/")[-2]),
            tags=fields.get("o:tag", []),
            track_clicks=_bool(first.get("o:tracking-clicks")),
            track_opens=_bool(first.get("o:tracking-opens")),
            send_at=(
                parsedate_to_datetime(first["o:deliverytime"])
                if "o:deliverytime" in first
                else None
            ),
            template_id=first.get("template"),
            # A template renders with t:variables (Mailgun's global template data).
            merge_global_data=json.loads(first.get("t:variables", "null")),
            raw=fields,
        )
        for name, value in first.items():
            if name.startswith("v:") and not value.startswith("%recipient."):
                sent.metadata[name[2:]] = value
        if recipient_variables:
            merge_metadata = {
                addr: {key[2:]: value for key, value in variables.items() if key.startswith("v:")}
                for addr, variables in recipient_variables.items()
            }
            if sent.template_id is not None:
                # A template sees a recipient variable only through a v:<key> field of
                # "%recipient.<key>%": count only those as its merge data.
                merge_keys = {
                    name[2:]
                    for name, value in first.items()
                    if name.startswith("v:") and value == f"%recipient.{name[2:]}%"
                }
            else:
                # The message's own subject and bodies can use every %recipient.<key>%.
                merge_keys = {
                    key
                    for variables in recipient_variables.values()
                    for key in variables
                    if not key.startswith("v:")
                }
            merge_data = {
                addr: {key: value for key, value in variables.items() if key in merge_keys}
                for addr, variables in recipient_variables.items()
            }
            sent.merge_metadata = merge_metadata if any(merge_metadata.values()) else None
            sent.merge_data = merge_data if any(merge_data.values()) else None
        for upload in uploads:
            attachment = SentAttachment(
                filename=_filename(upload),
                content=upload.value,
                mimetype=upload.content_type or "application/octet-stream",
            )
            if upload.name == "inline":
                # Mailgun makes an inline part's filename its Content-ID.
                attachment.content_id = attachment.filename
                sent.inline_images.append(attachment)
            else:
                sent.attachments.append(attachment)
        return sent

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["o:testmode"] == ["yes"], sent.raw
        assert sent.raw["o:require-tls"] == ["true"], sent.raw

    # ---------------------------------------------------------------- webhooks

    def webhook_settings(self) -> dict[str, Any]:
        return {"MAILGUN_WEBHOOK_SIGNING_KEY": WEBHOOK_SIGNING_KEY}

    def prepare_webhook(self, request: dict[str, Any]) -> WebhookRequest:
        """Sign the fixture afresh: a current timestamp and a new token each time
        (the webhook refuses stale timestamps and reused tokens)."""
        request = copy.deepcopy(request)
        timestamp = str(int(time.time()))
        token = secrets.token_hex(25)
        signature = hmac.new(
            WEBHOOK_SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
        ).hexdigest()
        signed = {"timestamp": timestamp, "token": token, "signature": signature}
        if "json" in request:
            request["json"]["signature"] = signed
        else:
            form = request.get("form", request.get("multipart"))
            form.update(signed)
        encoded = encode_fixture_request(request)
        return SignedWebhookRequest(
            encoded.body, encoded.content_type, encoded.headers, signature=signature
        )

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        assert isinstance(request, SignedWebhookRequest)
        assert request.signature
        wrong = hmac.new(b"not-the-signing-key", request.signature.encode(), hashlib.sha256)
        body = request.body.replace(request.signature.encode(), wrong.hexdigest().encode())
        assert body != request.body
        return SignedWebhookRequest(body, request.content_type, dict(request.headers), "")


def _mime_fields(
    fields: dict[str, list[str]], uploads: list[FormField]
) -> tuple[dict[str, list[str]], list[FormField]]:
    """A ``messages.mime`` post read as the ``messages`` form fields it stands for: the
    MIME message's headers, body parts and attachments, the recipients not in its To
    or Cc header as bcc, and the options as posted."""
    [upload] = [upload for upload in uploads if upload.name == "message"]
    mime = BytesParser(policy=policy.default).parsebytes(upload.value)
    result: dict[str, list[str]] = {name: values for name, values in fields.items() if name != "to"}
    for name in ("From", "To", "Cc", "Subject"):
        if name in mime:
            result[name.lower()] = [str(mime[name])]
    in_headers = {addr for _name, addr in getaddresses(result.get("to", []) + result.get("cc", []))}
    bcc = [addr for _name, addr in getaddresses(fields.get("to", [])) if addr not in in_headers]
    if bcc:
        result["bcc"] = bcc
    skip = {"from", "to", "cc", "subject", "date", "mime-version", "content-type",
            "content-transfer-encoding"}  # fmt: skip
    for name, value in mime.items():
        if name.lower() not in skip:
            result.setdefault(f"h:{name}", []).append(str(value))
    files = []
    for part in mime.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() in ("attachment", "inline") and part is not mime:
            name = "inline" if part.get_content_disposition() == "inline" else "attachment"
            filename = (
                str(part["Content-ID"]).strip("<>") if name == "inline" else part.get_filename()
            )
            files.append(
                FormField(name, part.get_payload(decode=True), filename, part.get_content_type())
            )
        elif part.get_content_type() in ("text/plain", "text/html"):
            kind = "text" if part.get_content_type() == "text/plain" else "html"
            result[kind] = [part.get_content()]
    return result, files


PROFILE = MailgunProfile()
