"""Anymail's Mailjet backend: sends through Mailjet's Send API v3.

Every message is one JSON post to ``<MAILJET_API_URL>/send``, authenticated with
HTTP basic auth (API key and secret key). Mailjet's reference still documents v3
alongside v3.1 (https://dev.mailjet.com/reference/email/send-emails/); Anymail 6.0
uses v3, and so does this package, so ``esp_extra`` keeps taking v3 properties.

The v3 request has three shapes, chosen per message:

- an ordinary message: ``To`` / ``Cc`` / ``Bcc`` address-list strings, one shared
  message (every recipient sees the others);
- batch sending (``merge_data``) to "to" recipients only: ``Recipients``, each
  recipient getting an individual message with their own ``Vars``;
- batch sending that also has cc/bcc recipients or ``merge_metadata`` (which
  ``Recipients`` can't carry): ``Messages``, one complete message per "to"
  recipient, each with the message's cc and bcc, its own ``Vars`` and its own
  ``Mj-EventPayLoad``.

Every shape needs a "to" recipient and a ``FromEmail``. A message with only cc or
bcc recipients is refused before anything is sent. A stored template sent with
``from_email = None`` gets the sender stored with the template: the backend reads
it first (``GET <MAILJET_API_URL>/REST/template/<id>/detailcontent``, whose
``Headers.From`` is the template's "From"), then sends.

Addresses go to Mailjet with their domains in IDNA (punycode) form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email.charset import Charset
from email.header import decode_header, make_header
from typing import Any, ClassVar

import requests
from django.core.mail import EmailMessage

from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.esps.mailjet import ESP
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailRequestsAPIError,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.utils import Attachment, EmailAddress, get_anymail_setting, parse_single_address

__all__ = [
    "DEFAULT_API_URL",
    "EmailBackend",
    "MailjetPayload",
    "TemplateContentRequest",
    "parse_template_from",
    "recipient_list",
]

#: Send API v3. (The setting can't select v3.1: its parameters are different.)
DEFAULT_API_URL = "https://api.mailjet.com/v3"

#: Mj-trackopen / Mj-trackclick: 0 uses the account's setting, 1 disables, 2 enables
#: (Send API v3 properties table, https://dev.mailjet.com/email/guides/send-api-v3/).
TRACKING_ENABLED = 2
TRACKING_DISABLED = 1

_UTF8 = Charset("utf-8")


def recipient_list(emails: Sequence[EmailAddress]) -> str:
    """A v3 ``To`` / ``Cc`` / ``Bcc`` value: comma-separated addresses.

    Send API v3 splits these strings at commas even inside a quoted display name
    (Anymail 6.0 docs, "Commas in recipient names"), so a name holding a comma is
    sent as an RFC 2047 encoded-word, which has none. Other names go as they are.
    """
    return ", ".join(
        f"{_UTF8.header_encode(email.display_name)} <{email.idna_addr_spec}>"
        if "," in email.display_name
        else email.idna_address
        for email in emails
    )


def _for_recipient(data: Mapping[str, Any] | None, email: EmailAddress) -> Any:
    """A recipient's entry in merge_data or merge_metadata: keyed by the address as
    given, or by its IDNA form (either spelling of an internationalized domain)."""
    if not data:
        return None
    found = data.get(email.addr_spec)
    if found is None and email.idna_addr_spec != email.addr_spec:
        found = data.get(email.idna_addr_spec)
    return found


def _template_id_number(template_id: Any) -> int | None:
    """A stored template's numeric ID (as sent in Mj-TemplateID), or None for a name."""
    if isinstance(template_id, int) and not isinstance(template_id, bool):
        return template_id
    if isinstance(template_id, str) and template_id.isascii() and template_id.isdigit():
        return int(template_id)
    return None


def parse_template_from(value: str, template_id: int) -> EmailAddress:
    """The sender a template stores in its ``Headers.From``.

    Mailjet's template guide gives the forms ``john@example.com``,
    ``<john@example.com>`` and ``"John Doe" <john@example.com>``. A display name is
    everything before the last ``<``, so a name with an unquoted comma (which a
    strict address-list parser would split) is read whole.
    """
    text = value.strip()
    name = ""
    addr = text
    if text.endswith(">") and "<" in text:
        name, _, addr = text[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
    parsed = parse_single_address(addr, field=f"the From of Mailjet template {template_id}")
    if name and "=?" in name:
        name = str(make_header(decode_header(name)))
    return EmailAddress(name, parsed.addr_spec)


class MailjetPayload(RequestsPayload):
    """A message as a Send API v3 JSON body (``self.body``)."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.recipients: dict[str, list[EmailAddress]] = {"to": [], "cc": [], "bcc": []}
        self.email_headers: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}
        self.merge_metadata: dict[str, dict[str, Any]] | None = None
        self.merge_data: dict[str, dict[str, Any]] | None = None
        self.merge_global_data: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.has_envelope_sender = False
        super().__init__(message, defaults, backend)
        self.headers["Content-Type"] = "application/json"
        self.auth = (backend.api_key, backend.secret_key)

    @property
    def all_recipients(self) -> list[EmailAddress]:
        return [*self.recipients["to"], *self.recipients["cc"], *self.recipients["bcc"]]

    # --- the request ---

    def init_payload(self) -> None:
        #: the properties every message of this send shares
        self.body: dict[str, Any] = {}

    def get_api_endpoint(self) -> str:
        return "send"

    def serialize_data(self) -> str:
        return self.serialize_json(self.body, "the Mailjet request")

    def finish(self) -> None:
        """Recipients, variables, the event payload and esp_extra depend on each other
        (see the module docstring for the three request shapes)."""
        if self.email_headers:
            self.body["Headers"] = self.email_headers
        if "Mj-TemplateID" in self.body and not self.body.get("Subject", True):
            # Django's "no subject" is "": leave the template's subject alone.
            del self.body["Subject"]
        to, cc, bcc = self.recipients["to"], self.recipients["cc"], self.recipients["bcc"]
        if not to and not {"To", "Recipients", "Messages"} & self.extra.keys():
            self.refuse_without_to()
        batch = (self.merge_data is not None or self.merge_metadata is not None) and bool(to)
        if batch and (cc or bcc or self.merge_metadata is not None):
            self.body = {"Messages": [self.message_for(email) for email in to]}
        else:
            if batch:
                merge_data = self.merge_data or {}
                self.body["Recipients"] = [self.recipient(email, merge_data) for email in to]
            else:
                self.add_recipient_lists(self.body, to)
            if self.merge_global_data:
                self.body["Vars"] = self.merge_global_data
            if self.metadata:
                self.body["Mj-EventPayLoad"] = self.serialize_json(self.metadata, "metadata")
            self.body.update(self.extra)
        self.check_template_senders()

    def refuse_without_to(self) -> None:
        """Send API v3 needs ``To`` (or ``Recipients``): it answers 400 to a message
        with only cc or bcc recipients. Refused before sending, whatever
        IGNORE_UNSUPPORTED_FEATURES says (without a "to" there is nothing to send)."""
        raise AnymailUnsupportedFeature(
            "Mailjet's Send API v3 needs at least one `to` recipient, and this message has "
            "only `cc` or `bcc` recipients. Put at least one address in `to`. (To send to "
            "several people who must not see each other's addresses, put them all in `to` "
            "and set merge_data = {}: each gets a separate message.)",
            email_message=self.message,
            payload=self,
            backend=self.backend,
        )

    # --- the template's sender (from_email = None) ---

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The v3 message(s) of this request: the body, or each of its ``Messages``."""
        messages = self.body.get("Messages")
        return messages if isinstance(messages, list) else [self.body]

    def messages_needing_template_sender(self) -> list[dict[str, Any]]:
        """The messages that use a stored template but have no FromEmail (from_email
        is None, and esp_extra doesn't set one): the template's sender is theirs."""
        return [
            message
            for message in self.messages
            if isinstance(message, dict)
            and message.get("Mj-TemplateID") is not None
            and not message.get("FromEmail")
        ]

    def check_template_senders(self) -> None:
        """Before anything is sent: a template's sender can be read only for a
        template given by its numeric ID (the template API has no lookup by name)."""
        for message in self.messages_needing_template_sender():
            template_id = message["Mj-TemplateID"]
            if _template_id_number(template_id) is None:
                raise AnymailUnsupportedFeature(
                    f"Mailjet can't send template_id {template_id!r} with from_email = None: "
                    "Send API v3 needs a FromEmail, and Anymail can read the sender stored "
                    "with a template only when template_id is the template's numeric ID. "
                    'Use the numeric ID (the "Template ID" Mailjet shows with the template), '
                    "or set from_email.",
                    feature=Feature.TEMPLATE_ID.value,
                    email_message=self.message,
                    payload=self,
                    backend=self.backend,
                )

    def set_template_sender(self, template_id: Any, email: EmailAddress) -> None:
        """Give every message that uses this template (and has no FromEmail) its sender."""
        for message in self.messages_needing_template_sender():
            if message["Mj-TemplateID"] == template_id:
                self.add_from(message, email)

    @staticmethod
    def add_from(message: dict[str, Any], email: EmailAddress) -> None:
        message["FromEmail"] = email.idna_addr_spec
        if email.display_name:
            # A property of its own: no comma problem here.
            message["FromName"] = email.display_name

    def add_recipient_lists(self, message: dict[str, Any], to: list[EmailAddress]) -> None:
        for key, emails in (
            ("To", to),
            ("Cc", self.recipients["cc"]),
            ("Bcc", self.recipients["bcc"]),
        ):
            if emails:
                message[key] = recipient_list(emails)

    @staticmethod
    def recipient(email: EmailAddress, merge_data: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """One ``Recipients`` item: a separate message to this "to" recipient."""
        item: dict[str, Any] = {"Email": email.idna_addr_spec}
        if email.display_name:
            item["Name"] = email.display_name
        variables = _for_recipient(merge_data, email)
        if variables is not None:
            item["Vars"] = variables
        return item

    def message_for(self, email: EmailAddress) -> dict[str, Any]:
        """One ``Messages`` item: the whole message, to one "to" recipient (with the
        cc and bcc recipients), with that recipient's variables and metadata."""
        message = dict(self.body)
        self.add_recipient_lists(message, [email])
        variables = {**self.merge_global_data, **(_for_recipient(self.merge_data, email) or {})}
        if variables:
            message["Vars"] = variables
        metadata = {**self.metadata, **(_for_recipient(self.merge_metadata, email) or {})}
        if metadata:
            message["Mj-EventPayLoad"] = self.serialize_json(metadata, "merge_metadata")
        message.update(self.extra)
        return message

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.add_from(self.body, email)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self.recipients[recipient_type] += emails

    def set_subject(self, subject: str) -> None:
        self.body["Subject"] = subject

    def set_text_body(self, body: str) -> None:
        self.body["Text-part"] = body

    def set_html_body(self, body: str) -> None:
        self.body["Html-part"] = body

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # v3 has no reply-to property; Mailjet's guide sends it as a header.
        self.email_headers["Reply-To"] = ", ".join(
            email.formataddr(self.data.encoding) for email in emails
        )

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.email_headers.update(headers)

    def add_attachment(self, attachment: Attachment) -> None:
        # HTML refers to an inline part as cid:<its Filename>, so the Filename of an
        # inline part is its Content-ID. Mailjet requires a Filename for every file.
        if attachment.inline:
            if not attachment.content_id:
                self.unsupported_feature(
                    Feature.INLINE_IMAGES,
                    "Mailjet requires a Content-ID for every inline attachment "
                    "(use anymail.message.attach_inline_image)",
                )
                return
            key, filename = "Inline_attachments", attachment.content_id
        else:
            if not attachment.name:
                self.unsupported_feature(
                    Feature.ATTACHMENTS,
                    "Mailjet requires a filename for every attachment "
                    '(use message.attach(filename="...", ...))',
                )
                return
            key, filename = "Attachments", attachment.name
        self.body.setdefault(key, []).append(
            {
                "Content-type": attachment.mimetype,
                "Filename": filename,
                "content": attachment.b64content,
            }
        )

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # Mailjet enables "Sender" per API key, on request to its support; without
        # that, the API refuses the message (see EmailBackend.error_hint).
        self.body["Sender"] = email.idna_addr_spec
        self.has_envelope_sender = True

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self.merge_metadata = merge_metadata

    def set_tags(self, tags: list[str]) -> None:
        # Declared MAX_ONE: enforcement leaves at most one tag.
        self.body["Mj-campaign"] = tags[0]

    def set_track_clicks(self, track_clicks: bool) -> None:
        self.body["Mj-trackclick"] = TRACKING_ENABLED if track_clicks else TRACKING_DISABLED

    def set_track_opens(self, track_opens: bool) -> None:
        self.body["Mj-trackopen"] = TRACKING_ENABLED if track_opens else TRACKING_DISABLED

    def set_template_id(self, template_id: str) -> None:
        # v3 reads an integer as the template's ID and a string as its name.
        numeric = template_id.isascii() and template_id.isdigit()
        self.body["Mj-TemplateID"] = int(template_id) if numeric else template_id
        # Stored templates use Mailjet's template language ({{var:name}}).
        self.body["Mj-TemplateLanguage"] = True

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.merge_global_data = merge_global_data

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)


class TemplateContentRequest(RequestsPayload):
    """``GET REST/template/<id>/detailcontent``: a stored template's content, read for
    the sender it stores (see EmailBackend.add_template_sender). It is a request, not
    a message, so it skips the message-building RequestsPayload.__init__ and keeps
    only what sending a request needs."""

    method = "GET"
    has_envelope_sender = False

    def __init__(self, template_id: int, backend: EmailBackend) -> None:
        # (Deliberately not super().__init__(): there is no EmailMessage to build.)
        self.template_id = template_id
        self.backend = backend
        self.esp_name = backend.esp_name
        self.headers: dict[str, str] = {"Accept": "application/json"}
        self.params = None
        self.files = None
        self.auth = (backend.api_key, backend.secret_key)

    def get_api_endpoint(self) -> str:
        return f"REST/template/{self.template_id}/detailcontent"

    def serialize_data(self) -> None:
        return None


class EmailBackend(AnymailRequestsBackend):
    """Mailjet's Send API v3, as a Django email backend."""

    esp = ESP
    payload_class = MailjetPayload
    secret_attributes: ClassVar[tuple[str, ...]] = ("api_key", "secret_key")

    def __init__(self, **kwargs: Any) -> None:
        self.api_key: str = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        self.secret_key: str = get_anymail_setting(
            "secret_key", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        api_url = str(
            get_anymail_setting(
                "api_url", esp_name=self.esp_id, kwargs=kwargs, default=DEFAULT_API_URL
            )
        ).rstrip("/")
        if api_url.endswith("/v3.1"):
            raise AnymailConfigurationError(
                f"MAILJET_API_URL is {api_url!r}, but this backend sends with Mailjet's Send "
                "API v3, whose parameters differ from v3.1's. Use "
                f'"{DEFAULT_API_URL}" (or leave MAILJET_API_URL unset).'
            )
        super().__init__(api_url + "/", **kwargs)

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Mailjet's own error message, and how to fix the errors that need explaining."""
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        error = parsed if isinstance(parsed, dict) else {}
        text = " ".join(
            str(error[key]) for key in ("ErrorMessage", "ErrorInfo") if error.get(key)
        ).strip()
        hints = [f"Mailjet says: {text}"] if text else []
        if response.status_code == 401:
            hints.append(
                "Mailjet refused the credentials: check MAILJET_API_KEY and MAILJET_SECRET_KEY "
                "(the secret key is also called the API private key)."
            )
        elif isinstance(payload, TemplateContentRequest):
            hints.append(
                f"Anymail was reading the sender stored with Mailjet template "
                f"{payload.template_id}, because the message's from_email is None. Check "
                "that template_id is the numeric ID of a template this API key can use, "
                "or set from_email. (Nothing was sent.)"
            )
        elif getattr(payload, "has_envelope_sender", False):
            hints.append(
                "The message has an envelope_sender, which Mailjet accepts only for API keys "
                "its support has enabled custom senders for."
            )
        return " ".join(hints) or None

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> requests.Response:
        """Send the message: first, if it uses a stored template and has no from_email,
        read the template's sender (Send API v3 needs a FromEmail)."""
        assert isinstance(payload, MailjetPayload)
        self.add_template_sender(payload, message)
        return super().post_to_esp(payload, message)

    def add_template_sender(self, payload: MailjetPayload, message: EmailMessage) -> None:
        """Give each message that uses a stored template and has no FromEmail the "From"
        stored with the template (one template API call per template)."""
        for template_id in dict.fromkeys(
            item["Mj-TemplateID"] for item in payload.messages_needing_template_sender()
        ):
            number = _template_id_number(template_id)
            assert number is not None  # (MailjetPayload.check_template_senders)
            request = TemplateContentRequest(number, self)
            response = super().post_to_esp(request, message)
            sender = self.template_sender(response, request, message)
            payload.set_template_sender(template_id, sender)

    def template_sender(
        self, response: requests.Response, request: TemplateContentRequest, message: EmailMessage
    ) -> EmailAddress:
        """The sender in a template's content: ``Data[0].Headers.From``."""
        parsed = self.deserialize_json_response(response, request, message)
        data = parsed.get("Data") if isinstance(parsed, dict) else None
        content = data[0] if isinstance(data, list) and data else None
        headers = content.get("Headers") if isinstance(content, dict) else None
        if not isinstance(headers, dict):
            raise AnymailRequestsAPIError(
                "Invalid Mailjet template API response format: no Data[0].Headers",
                email_message=message,
                payload=request,
                response=response,
                backend=self,
            )
        from_header = headers.get("From")
        if not isinstance(from_header, str) or not from_header.strip():
            raise AnymailRequestsAPIError(
                f"Mailjet template {request.template_id} has no sender (no From in its "
                "headers), and the message's from_email is None. Set from_email, or give "
                "the template a sender in Mailjet. (Nothing was sent.)",
                email_message=message,
                payload=request,
                response=response,
                backend=self,
            )
        return parse_template_from(from_header, request.template_id)

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        """One status per recipient from ``Sent``: each recipient gets its own MessageID.

        MessageIDs are integers beyond JavaScript's safe range: parsed exactly (Python's
        json), reported as str. A recipient Mailjet doesn't list gets status "unknown".
        """
        assert isinstance(payload, MailjetPayload)
        parsed = self.deserialize_json_response(response, payload, message)
        sent = parsed.get("Sent") if isinstance(parsed, dict) else None
        if not isinstance(sent, list):
            raise AnymailRequestsAPIError(
                "Invalid Mailjet API response format: no Sent list",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        message_ids: dict[str, str] = {}
        for item in sent:
            if isinstance(item, dict) and item.get("Email") and item.get("MessageID") is not None:
                # A cc'd recipient of a batch appears once per message: keep the first.
                message_ids.setdefault(str(item["Email"]).lower(), str(item["MessageID"]))
        statuses = {}
        for email in payload.all_recipients:
            # Mailjet lists the address as it was sent: with an IDNA domain.
            message_id = message_ids.get(email.idna_addr_spec.lower()) or message_ids.get(
                email.addr_spec.lower()
            )
            statuses[email.addr_spec] = AnymailRecipientStatus(
                message_id=message_id, status="sent" if message_id else "unknown"
            )
        return statuses
