"""Anymail's Postmark backend: sends through Postmark's email API.

A message is one JSON post to ``email`` (``email/withTemplate`` with a stored
template). A message with ``merge_data`` or ``merge_metadata`` becomes one Postmark
message per "to" recipient, sent together through ``email/batch``
(``email/batchWithTemplates``). With ``POSTMARK_BATCH_SEND_MESSAGES = True``,
``send_messages`` with several messages sends them together through the same batch
endpoints, up to Postmark's limits per call, instead of one HTTP round trip per
message (off by default: one call per message, as every Anymail backend does). Every request carries the server token in ``X-Postmark-Server-Token``.

API reference: https://postmarkapp.com/developer/api/email-api and
https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from django.core.mail import EmailMessage

from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend
from anymail.esps.postmark import ESP
from anymail.exceptions import AnymailError, AnymailRequestsAPIError
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus, AnymailStatus
from anymail.settings import get_anymail_setting

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_MESSAGES",
    "DEFAULT_API_URL",
    "EmailBackend",
    "PostmarkPayload",
    "inactive_addresses",
]

DEFAULT_API_URL = "https://api.postmarkapp.com/"

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


class PostmarkPayload(BasePayload):
    """A Django message as one or more Postmark messages (JSON objects).

    After the hooks, :meth:`finish` writes ``entries``: the serialized Postmark
    message(s), with ``entry_recipients`` (who each one goes to). One entry
    normally; one per "to" recipient for a batch send (merge_data/merge_metadata).
    """

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.server_token: str = backend.server_token
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
        self.entries: list[bytes] = []
        self.entry_recipients: list[list[EmailAddress]] = []
        super().__init__(message, defaults, backend)

    @property
    def is_template(self) -> bool:
        return self.template_id is not None

    @property
    def is_batch(self) -> bool:
        """Whether each "to" recipient gets their own message (the batch endpoints)."""
        return self.data.is_batch

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
            self.server_token = str(token)
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
            self.entries.append(self.serialize_json(entry, "esp_extra").encode("utf-8"))
            self.entry_recipients.append([*to, *self.cc, *self.bcc])


def endpoint(*, template: bool, batch: bool) -> str:
    """The email API path for a call (relative to POSTMARK_API_URL)."""
    if template:
        return "email/batchWithTemplates" if batch else "email/withTemplate"
    return "email/batch" if batch else "email"


def batch_body(entries: Sequence[bytes], *, template: bool) -> bytes:
    """A batch call's body from serialized messages: a JSON array, which the
    templates endpoint wants wrapped as ``{"Messages": [...]}``."""
    array = b"[" + b",".join(entries) + b"]"
    return b'{"Messages":' + array + b"}" if template else array


@dataclass
class _Call:
    """One API call: some messages (entries) of one or more payloads."""

    template: bool
    token: str
    parts: list[tuple[PostmarkPayload, int]] = field(default_factory=list)
    size: int = 0

    def has_room(self, entry_size: int, max_messages: int, max_bytes: int) -> bool:
        return len(self.parts) < max_messages and (
            not self.parts or self.size + entry_size + 1 <= max_bytes
        )

    def add(self, payload: PostmarkPayload, index: int) -> None:
        self.parts.append((payload, index))
        self.size += len(payload.entries[index]) + 1

    @property
    def batch(self) -> bool:
        return len(self.parts) > 1 or self.parts[0][0].is_batch

    @property
    def endpoint(self) -> str:
        return endpoint(template=self.template, batch=self.batch)

    def body(self) -> bytes:
        if not self.batch:
            payload, index = self.parts[0]
            return payload.entries[index]
        return batch_body(
            [payload.entries[index] for payload, index in self.parts], template=self.template
        )

    @property
    def payloads(self) -> list[PostmarkPayload]:
        """The payloads in the call, each once, in order."""
        return list({id(payload): payload for payload, _ in self.parts}.values())


class EmailBackend(AnymailRequestsBackend):
    """Postmark's email API, as a Django email backend."""

    esp = ESP
    payload_class = PostmarkPayload
    secret_attributes: ClassVar[tuple[str, ...]] = ("server_token",)
    default_api_url = DEFAULT_API_URL
    #: the most Postmark messages, and bytes of JSON, in one batch call
    batch_max_messages: ClassVar[int] = BATCH_MAX_MESSAGES
    batch_max_bytes: ClassVar[int] = BATCH_MAX_BYTES

    def __init__(self, **kwargs: Any) -> None:
        self.server_token: str = get_anymail_setting(
            "server_token", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        self.batch_send_messages = bool(
            get_anymail_setting(
                "batch_send_messages", esp_name=self.esp_id, kwargs=kwargs, default=False
            )
        )
        super().__init__(**kwargs)

    def create_session(self) -> requests.Session:
        session = super().create_session()
        session.headers["Accept"] = "application/json"
        session.headers["Content-Type"] = "application/json"
        return session

    # --- sending ---

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send the messages, several to a call where Postmark allows it.

        Each message still runs pre_send and post_send, gets its own anymail_status
        and raises its own errors. When one fails, the others are still sent (and
        get their statuses); then the first error is raised (unless fail_silently).
        A message Anymail can't build stops the run there, as with one call per
        message: those before it are sent, those after it are not.
        """
        if not email_messages:
            return 0
        with self._lock:
            created_session = self.open()
            try:
                return self._send_all(email_messages)
            finally:
                if created_session:
                    self.close()

    def _send_all(self, email_messages: Sequence[EmailMessage]) -> int:
        num_sent = 0
        pending: list[PostmarkPayload] = []
        for message in email_messages:
            message.anymail_status = AnymailStatus()  # type: ignore[attr-defined]
            if not self.run_pre_send(message) or not message.recipients():
                continue
            try:
                payload = self.build_message_payload(message, self.send_defaults)
            except AnymailError:
                if self.fail_silently:
                    continue
                num_sent += self._deliver(pending)
                raise
            assert isinstance(payload, PostmarkPayload)
            pending.append(payload)
            if not self.batch_send_messages:
                num_sent += self._deliver(pending)
                pending = []
        return num_sent + self._deliver(pending)

    def plan_calls(self, payloads: Sequence[PostmarkPayload]) -> list[_Call]:
        """Group the payloads' messages into as few calls as Postmark allows: one
        endpoint (templated or not) and one server token per call."""
        calls: list[_Call] = []
        filling: dict[tuple[bool, str], _Call] = {}
        for payload in payloads:
            key = (payload.is_template, payload.server_token)
            for index, entry in enumerate(payload.entries):
                call = filling.get(key)
                if call is None or not call.has_room(
                    len(entry), self.batch_max_messages, self.batch_max_bytes
                ):
                    call = filling[key] = _Call(template=key[0], token=key[1])
                    calls.append(call)
                call.add(payload, index)
        return calls

    def _deliver(self, payloads: Sequence[PostmarkPayload]) -> int:
        """Post the payloads' calls, then give each message its status and signals."""
        if not payloads:
            return 0
        results: dict[int, list[dict[str, Any] | None]] = {
            id(payload): [None] * len(payload.entries) for payload in payloads
        }
        responses: dict[int, list[requests.Response]] = {id(payload): [] for payload in payloads}
        call_errors: dict[int, AnymailError] = {}
        for call in self.plan_calls(payloads):
            try:
                response, items = self.post_call(call)
            except AnymailError as error:
                for payload in call.payloads:
                    call_errors.setdefault(id(payload), error)
                continue
            for (payload, index), item in zip(call.parts, items, strict=True):
                results[id(payload)][index] = item
            for payload in call.payloads:
                responses[id(payload)].append(response)

        num_sent = 0
        first_error: BaseException | None = None
        for payload in payloads:
            try:
                self._finish_message(
                    payload,
                    results[id(payload)],
                    responses[id(payload)],
                    call_errors.get(id(payload)),
                )
            except AnymailError as error:
                if not self.fail_silently:
                    first_error = first_error or error
                continue
            except Exception as error:  # a post_send receiver's: never silenced
                first_error = first_error or error
                continue
            num_sent += 1
        if first_error is not None:
            raise first_error
        return num_sent

    def _finish_message(
        self,
        payload: PostmarkPayload,
        items: list[dict[str, Any] | None],
        responses: list[requests.Response],
        call_error: AnymailError | None,
    ) -> None:
        message = payload.message
        if call_error is not None and not responses:
            raise call_error  # nothing of this message reached Postmark
        status: AnymailStatus = message.anymail_status  # type: ignore[attr-defined]
        status.esp_response = responses[0] if len(responses) == 1 else responses
        status.set_recipient_status(self.recipient_status(payload, items))
        self.run_post_send(message)
        if call_error is not None:
            raise call_error  # a later call of a large batch failed
        self.raise_for_errors(payload, items, responses[-1])
        self.raise_for_recipient_status(status, status.esp_response, payload, message)

    def post_call(self, call: _Call) -> tuple[requests.Response, list[dict[str, Any]]]:
        """Post one call; return the response and its result for each message."""
        payload = call.parts[0][0]
        message = payload.message
        url = self.api_url + call.endpoint
        assert self.session is not None, "send_messages opens the session"
        try:
            response = self.session.request(
                "POST",
                url,
                data=call.body(),
                headers={"X-Postmark-Server-Token": call.token},
                timeout=self.timeout,
            )
        except requests.RequestException as err:
            raise AnymailRequestsAPIError(
                f"Error posting to {url}:",
                description=f"{type(err).__name__}: {err}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err
        if self.debug_api_requests:
            self.print_debug(response)
        if response.status_code == 422 and not call.batch:
            # One message whose recipients are all inactive: Postmark's HTTP 422 with
            # ErrorCode 406 is a recipient status (AnymailRecipientsRefused), not an API error.
            parsed = self.deserialize_json_response(response, payload, message)
            if isinstance(parsed, dict) and parsed.get("ErrorCode") == INACTIVE_RECIPIENT:
                return response, [parsed]
        self.raise_for_status(response, payload, message)
        parsed = self.deserialize_json_response(response, payload, message)
        items = parsed if call.batch else [parsed]
        if (
            not isinstance(items, list)
            or len(items) != len(call.parts)
            or not all(_valid_result(item) for item in items)
        ):
            raise AnymailRequestsAPIError(
                "Invalid Postmark API response format",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        return response, items

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
        self, payload: PostmarkPayload, items: Sequence[dict[str, Any] | None]
    ) -> dict[str, AnymailRecipientStatus]:
        """Each recipient's status, from the results of the payload's Postmark messages
        (None for one whose call failed). Cc and bcc recipients are in every message
        of a batch: one accepted copy makes them "sent"."""
        statuses: dict[str, AnymailRecipientStatus] = {}
        for recipients, item in zip(payload.entry_recipients, items, strict=True):
            for email, status in _entry_status(recipients, item):
                known = statuses.get(email)
                if known is None or (known.status != "sent" and status.status == "sent"):
                    statuses[email] = status
        return statuses

    def raise_for_errors(
        self,
        payload: PostmarkPayload,
        items: Sequence[dict[str, Any] | None],
        response: requests.Response,
    ) -> None:
        """Postmark refused every message of the payload, for a reason other than
        inactive recipients: an API error (even with IGNORE_RECIPIENT_STATUS)."""
        if any(item and item["ErrorCode"] == 0 for item in items):
            return
        errors = [item for item in items if item and item["ErrorCode"] != INACTIVE_RECIPIENT]
        if errors:
            raise AnymailRequestsAPIError(
                f"Postmark refused the message: ErrorCode {errors[0]['ErrorCode']}: "
                f"{errors[0].get('Message')}",
                email_message=payload.message,
                payload=payload,
                response=response,
                backend=self,
            )


def _valid_result(item: Any) -> bool:
    """A send result: {"ErrorCode": int, "Message": str, "MessageID": str (if sent)}."""
    if not isinstance(item, dict):
        return False
    code = item.get("ErrorCode")
    if not isinstance(code, int) or isinstance(code, bool):
        return False
    return code != 0 or (isinstance(item.get("MessageID"), str) and bool(item["MessageID"]))


def _entry_status(
    recipients: Sequence[EmailAddress], item: dict[str, Any] | None
) -> list[tuple[str, AnymailRecipientStatus]]:
    """The statuses of one Postmark message's recipients."""
    if item is None:  # its call failed
        return [(email.addr_spec, AnymailRecipientStatus(None, "failed")) for email in recipients]
    code = item["ErrorCode"]
    inactive = inactive_addresses(item.get("Message"))
    result = []
    for email in recipients:
        # Postmark names them as it knows them: lowercased, the domain in IDNA form.
        is_inactive = email.idna_addr_spec.lower() in inactive
        if code == 0:
            status = AnymailRecipientStatus(
                item["MessageID"], "rejected" if is_inactive else "sent"
            )
        elif code == INACTIVE_RECIPIENT:
            # Nothing was sent (no MessageID). If Postmark's list can't be read, every
            # recipient counts as inactive; one it doesn't name failed with the rest.
            refused = is_inactive or not inactive
            status = AnymailRecipientStatus(None, "rejected" if refused else "failed")
        else:
            status = AnymailRecipientStatus(None, "failed")
        result.append((email.addr_spec, status))
    return result
