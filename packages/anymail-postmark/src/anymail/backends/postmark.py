"""Anymail's Postmark backend: sends through Postmark's email API.

A message is one JSON post to ``email`` (``email/withTemplate`` with a stored
template). A message with ``merge_data`` or ``merge_metadata`` becomes one Postmark
message per "to" recipient, sent together through ``email/batch``
(``email/batchWithTemplates``). With ``POSTMARK_BATCH_SEND_MESSAGES = True``,
``send_messages`` with several messages sends them together through the same batch
endpoints, up to Postmark's limits per call, instead of one HTTP round trip per
message (off by default: one call per message, as every Anymail backend does); the
grouping is anymail-base's :class:`~anymail.backends.batching.BatchingBackend`. Every
request carries the server token in ``X-Postmark-Server-Token``.

API reference: https://postmarkapp.com/developer/api/email-api and
https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.batching import BatchCall, BatchingBackend
from anymail.backends.transport import ApiCredentials
from anymail.esps.postmark import ESP
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus

if TYPE_CHECKING:
    import requests

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_MESSAGES",
    "DEFAULT_API_URL",
    "EmailBackend",
    "PostmarkPayload",
    "inactive_addresses",
]

DEFAULT_API_URL = "https://api.postmarkapp.com/"

#: The request header that carries the server token.
SERVER_TOKEN_HEADER = "X-Postmark-Server-Token"
#: Every call posts JSON and asks for it.
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}

#: Postmark's limits for one batch call: 500 messages and 50 MB, attachments included
#: (https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails).
#: Megabytes are taken as 10**6 bytes, the smaller reading.
BATCH_MAX_MESSAGES = 500
BATCH_MAX_BYTES = 50 * 1000 * 1000

#: Postmark's ErrorCode for a message it won't send because its recipients are
#: inactive (a hard bounce, a spam complaint or a manual suppression).
INACTIVE_RECIPIENT = 406

# Postmark names inactive recipients only in its human-readable Message, as
# "...Found inactive addresses: a@example.com, b@example.com. Inactive recipients are..."
# (ErrorCode 406: none was sent) or "Message OK, but will not deliver to these inactive
# addresses: a@example.com." (ErrorCode 0: the others were sent).
_INACTIVE_ADDRESSES = re.compile(
    r"inactive addresses:\s*(?P<addresses>.*?)\.?\s*(?:Inactive recipients|$)",
    re.IGNORECASE | re.DOTALL,
)


def inactive_addresses(message: Any) -> set[str]:
    """The (lowercased) addresses a Postmark response Message names as inactive."""
    match = _INACTIVE_ADDRESSES.search(message) if isinstance(message, str) else None
    if match is None:
        return set()
    return {
        address.strip().rstrip(".").lower()
        for address in match["addresses"].split(",")
        if address.strip()
    }


def _join(emails: Sequence[EmailAddress]) -> str:
    """Postmark's address fields are one comma-separated string ("Name <addr>, addr"),
    with each domain in its ASCII (IDNA) form: ``user@bücher.example`` is sent as
    ``user@xn--bcher-kva.example``."""
    return ", ".join(email.idna_address for email in emails)


def endpoint(*, template: bool, batch: bool) -> str:
    """The email API path for a call (relative to POSTMARK_API_URL)."""
    if template:
        return "email/batchWithTemplates" if batch else "email/withTemplate"
    return "email/batch" if batch else "email"


def _is_batch_call(call: BatchCall) -> bool:
    """Whether a call goes to a batch endpoint: several messages, or a batch send's."""
    return len(call.parts) > 1 or call.parts[0][0].is_batch


def batch_body(entries: Sequence[bytes], *, template: bool) -> bytes:
    """A batch call's body from serialized messages: a JSON array, which the
    templates endpoint wants wrapped as ``{"Messages": [...]}``."""
    array = b"[" + b",".join(entries) + b"]"
    return b'{"Messages":' + array + b"}" if template else array


def _valid_send_result(result: Any) -> bool:
    """A send result: {"ErrorCode": int, "Message": str, "MessageID": str (if sent)}."""
    if not isinstance(result, dict):
        return False
    code = result.get("ErrorCode")
    if not isinstance(code, int) or isinstance(code, bool):
        return False
    return code != 0 or (isinstance(result.get("MessageID"), str) and bool(result["MessageID"]))


def _entry_statuses(
    recipients: Sequence[EmailAddress], result: dict[str, Any] | None
) -> list[tuple[str, AnymailRecipientStatus]]:
    """The statuses of one Postmark message's recipients, from its send result."""
    if result is None:  # its call failed
        return [(email.addr_spec, AnymailRecipientStatus(None, "failed")) for email in recipients]
    code = result["ErrorCode"]
    inactive = inactive_addresses(result.get("Message"))
    statuses = []
    for email in recipients:
        # Postmark names them as it knows them: lowercased, the domain in IDNA form.
        is_inactive = email.idna_addr_spec.lower() in inactive
        if code == 0:
            status = AnymailRecipientStatus(
                result["MessageID"], "rejected" if is_inactive else "sent"
            )
        elif code == INACTIVE_RECIPIENT:
            # Nothing was sent (no MessageID). If Postmark's list can't be read, every
            # recipient counts as inactive; one it doesn't name failed with the rest.
            refused = is_inactive or not inactive
            status = AnymailRecipientStatus(None, "rejected" if refused else "failed")
        else:
            status = AnymailRecipientStatus(None, "failed")
        statuses.append((email.addr_spec, status))
    return statuses


class PostmarkPayload(BasePayload):
    """A Django message as one or more Postmark messages (JSON objects).

    After the hooks, :meth:`finish` writes ``batch_entries``: the serialized Postmark
    message(s), with ``entry_recipients`` (who each one goes to). One entry
    normally; one per "to" recipient for a batch send (merge_data/merge_metadata).
    """

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        #: this message's server token: the backend's, or esp_extra["server_token"]
        self.credentials: ApiCredentials = backend.credentials
        self.to: list[EmailAddress] = []
        self.cc: list[EmailAddress] = []
        self.bcc: list[EmailAddress] = []
        self.subject: str | None = None
        self.text: str | None = None
        self.html: str | None = None
        self.template_id: str | None = None
        self.metadata: dict[str, Any] = {}
        self.merge_metadata: dict[str, dict[str, Any]] = {}
        self.merge_data: dict[str, dict[str, Any]] | None = None
        self.merge_global_data: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        #: the serialized Postmark messages, and each one's recipients
        self.batch_entries: list[bytes] = []
        self.entry_recipients: list[list[EmailAddress]] = []
        super().__init__(message, defaults, backend)

    @property
    def is_template(self) -> bool:
        return self.template_id is not None

    @property
    def is_batch(self) -> bool:
        """Whether each "to" recipient gets their own message (the batch endpoints)."""
        return self.data.is_batch

    @property
    def batch_key(self) -> tuple[bool, str]:
        """Postmark messages share a call when they go to the same endpoint (templated
        or not) with the same server token."""
        return self.is_template, self.credentials.headers[SERVER_TOKEN_HEADER]

    def entry_weight(self, index: int) -> int:
        """Postmark limits a call by messages and bytes only (no batch_max_weight)."""
        return 1

    def init_payload(self) -> None:
        #: fields every Postmark message of this payload shares
        self.fields: dict[str, Any] = {}

    # --- the hooks the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.fields["From"] = email.idna_address

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        getattr(self, recipient_type).extend(emails)

    def set_subject(self, subject: str) -> None:
        self.subject = subject

    def set_text_body(self, body: str) -> None:
        self.text = body

    def set_html_body(self, body: str) -> None:
        self.html = body

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self.fields["ReplyTo"] = _join(emails)

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.fields["Headers"] = [{"Name": name, "Value": value} for name, value in headers.items()]

    def add_attachment(self, attachment: Attachment) -> None:
        item: dict[str, str] = {}
        if attachment.name:
            item["Name"] = attachment.name
        item["Content"] = attachment.b64content
        item["ContentType"] = attachment.mimetype
        if attachment.inline and attachment.content_id:
            # As in Postmark's own example: "ContentID": "cid:image.jpg"
            item["ContentID"] = f"cid:{attachment.content_id}"
        self.fields.setdefault("Attachments", []).append(item)

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self.merge_metadata = merge_metadata

    def set_tags(self, tags: list[str]) -> None:
        self.fields["Tag"] = tags[0]  # tags=MAX_ONE: the base payload allows one

    def set_track_clicks(self, track_clicks: bool) -> None:
        # Postmark's other options ("HtmlOnly", "TextOnly") are for esp_extra["TrackLinks"].
        self.fields["TrackLinks"] = "HtmlAndText" if track_clicks else "None"

    def set_track_opens(self, track_opens: bool) -> None:
        self.fields["TrackOpens"] = track_opens

    def set_template_id(self, template_id: str) -> None:
        self.template_id = template_id

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.merge_global_data = merge_global_data

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        extra = dict(extra)
        # Not a Postmark field: this message's server token (the request header).
        token = extra.pop("server_token", None)
        if token:
            self.credentials = ApiCredentials.header(SERVER_TOKEN_HEADER, str(token))
        self.extra = extra

    # --- after the hooks ---

    def finish(self) -> None:
        if self.is_template:
            self.add_template()
        else:
            self.add_content()
        self.build_entries()

    def add_template(self) -> None:
        """Postmark's template supplies the subject and bodies: Django's default
        empty ones are left out (Postmark refuses them); real ones can't be sent."""
        assert self.template_id is not None
        if self.subject or self.text or self.html:
            self.unsupported_feature(
                Feature.TEMPLATE_ID,
                "a Postmark template supplies the subject and body, so the message can't "
                "have its own (leave subject and body empty, or put them in the template)",
            )
        # A numeric id is Postmark's TemplateId; anything else is a TemplateAlias
        # (an alias must start with a letter).
        template_id = self.template_id.strip()
        if template_id.isdigit():
            self.fields["TemplateId"] = int(template_id)
        else:
            self.fields["TemplateAlias"] = self.template_id

    def add_content(self) -> None:
        if self.subject is not None:
            self.fields["Subject"] = self.subject
        if self.text:
            self.fields["TextBody"] = self.text
        if self.html is not None:
            self.fields["HtmlBody"] = self.html
        # Postmark substitutes variables only in stored templates.
        if self.merge_data:
            self.unsupported_feature(
                Feature.MERGE_DATA,
                "Postmark fills in merge data only with a stored template (set template_id); "
                "for a batch send without a template, set merge_data = {}",
            )
        if self.merge_global_data:
            self.unsupported_feature(
                Feature.MERGE_GLOBAL_DATA,
                "Postmark fills in merge data only with a stored template (set template_id)",
            )

    def build_entries(self) -> None:
        """One Postmark message, or (batch) one per "to" recipient, each with that
        recipient's merge data and metadata, and every cc and bcc."""
        groups = [[to] for to in self.to] if self.is_batch and self.to else [self.to]
        for to in groups:
            entry = dict(self.fields)
            if to:
                entry["To"] = _join(to)
            if self.cc:
                entry["Cc"] = _join(self.cc)
            if self.bcc:
                entry["Bcc"] = _join(self.bcc)
            own = to[0].addr_spec if self.is_batch and to else None
            metadata = {**self.metadata, **self.merge_metadata.get(own or "", {})}
            if metadata:
                entry["Metadata"] = metadata
            if self.is_template:
                entry["TemplateModel"] = {
                    **(self.merge_global_data or {}),
                    **(self.merge_data or {}).get(own or "", {}),
                }
            entry.update(self.extra)
            self.batch_entries.append(self.serialize_json(entry, "esp_extra").encode("utf-8"))
            self.entry_recipients.append([*to, *self.cc, *self.bcc])


class EmailBackend(BatchingBackend):
    """Postmark's email API, as a Django email backend."""

    esp = ESP
    payload_class = PostmarkPayload
    default_api_url = DEFAULT_API_URL
    batch_max_messages: ClassVar[int] = BATCH_MAX_MESSAGES
    batch_max_bytes: ClassVar[int] = BATCH_MAX_BYTES
    #: POSTMARK_BATCH_SEND_MESSAGES: off unless asked for (one call per message, as
    #: every Anymail backend sends)
    batch_send_default: ClassVar[bool] = False
    #: POSTMARK_SERVER_TOKEN (also a bare setting), read by the base into ``api_key``
    api_key_setting: ClassVar[str | None] = "server_token"

    def api_credentials(self) -> ApiCredentials:
        return ApiCredentials.header(SERVER_TOKEN_HEADER, self.api_key)

    def call_overhead(self, payload: Any) -> int:
        """None: a call counts its messages and a comma after each (as Anymail always
        has), not the array's brackets or the templates endpoint's ``{"Messages":}``
        wrapper, so a body may pass BATCH_MAX_BYTES by at most 14 bytes (of 50 MB,
        itself the smaller reading of Postmark's limit)."""
        return 0

    # --- sending ---

    def post_call(self, call: BatchCall) -> tuple[requests.Response, list[dict[str, Any]]]:
        """Post one call: a message alone to ``email`` (``email/withTemplate``), several
        (or a batch send's) to ``email/batch`` (``email/batchWithTemplates``). Return
        the response and its result for each message."""
        payload: PostmarkPayload = call.parts[0][0]
        message = payload.message
        batch = _is_batch_call(call)
        body = batch_body(call.entries, template=payload.is_template) if batch else call.entries[0]
        # A call's payloads share their server token (batch_key): the first's
        # credentials are the call's.
        response = self.send_request(
            payload,
            message,
            {
                "method": "POST",
                "url": self.api_url + endpoint(template=payload.is_template, batch=batch),
                "data": body,
                **payload.credentials.request_params(JSON_HEADERS),
            },
        )
        if response.status_code == 422 and not batch:
            # One message whose recipients are all inactive: Postmark's HTTP 422 with
            # ErrorCode 406 is a recipient status (AnymailRecipientsRefused), not an API error.
            parsed = self.deserialize_json_response(response, payload, message)
            if isinstance(parsed, dict) and parsed.get("ErrorCode") == INACTIVE_RECIPIENT:
                return response, [parsed]
        self.raise_for_status(response, payload, message)
        parsed = self.deserialize_json_response(response, payload, message)
        results = parsed if batch else [parsed]
        if (
            not isinstance(results, list)
            or len(results) != len(call.parts)
            or not all(_valid_send_result(result) for result in results)
        ):
            raise exceptions.AnymailRequestsAPIError(
                "Invalid Postmark API response format",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        return response, results

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Say how to fix the errors whose Postmark message doesn't."""
        try:
            code = response.json().get("ErrorCode")
        except (ValueError, AttributeError):
            code = None
        if response.status_code == 401 or code == 10:
            return (
                "Postmark refused the server token: check POSTMARK_SERVER_TOKEN (a server's "
                'API token, not the account token) or esp_extra["server_token"].'
            )
        if code in (400, 401):
            return (
                "Send from an address (or domain) that is a confirmed Sender Signature of "
                "the Postmark server."
            )
        return None

    # --- status ---

    def recipient_status(
        self, payload: PostmarkPayload, results: Sequence[dict[str, Any] | None]
    ) -> dict[str, AnymailRecipientStatus]:
        """Each recipient's status, from the results of the payload's Postmark messages
        (None for one whose call failed). Cc and bcc recipients are in every message
        of a batch: one accepted copy makes them "sent"."""
        statuses: dict[str, AnymailRecipientStatus] = {}
        for recipients, result in zip(payload.entry_recipients, results, strict=True):
            for email, status in _entry_statuses(recipients, result):
                known = statuses.get(email)
                if known is None or (known.status != "sent" and status.status == "sent"):
                    statuses[email] = status
        return statuses

    def raise_for_results(
        self,
        payload: PostmarkPayload,
        results: Sequence[dict[str, Any] | None],
        response: requests.Response,
    ) -> None:
        """Postmark refused every message of the payload, for a reason other than
        inactive recipients: an API error (even with IGNORE_RECIPIENT_STATUS)."""
        if any(result and result["ErrorCode"] == 0 for result in results):
            return
        errors = [
            result for result in results if result and result["ErrorCode"] != INACTIVE_RECIPIENT
        ]
        if errors:
            raise exceptions.AnymailRequestsAPIError(
                f"Postmark refused the message: ErrorCode {errors[0]['ErrorCode']}: "
                f"{errors[0].get('Message')}",
                email_message=payload.message,
                payload=payload,
                response=response,
                backend=self,
            )
