"""Anymail's Mailjet backend: sends through Mailjet's Send API v3.1 (or, by setting,
the older Send API v3).

Both are JSON posts to ``<MAILJET_API_URL>/send``, authenticated with HTTP basic
auth (API key and secret key); Mailjet documents them side by side
(https://dev.mailjet.com/reference/email/send-emails/ and the guide,
https://dev.mailjet.com/email/guides/send-api-v31/).

**Send API v3.1** (the default, ``MAILJET_API_VERSION = "v3.1"``): a call is
``{"Messages": [...]}``, each item a complete message with its own ``From``,
``To``/``Cc``/``Bcc`` address objects, content, ``Variables``, ``EventPayload`` and
so on, and the answer gives each item its own ``Status`` (``"success"`` with a
MessageID per recipient, or ``"error"`` with its ``Errors``). A Django message is
one item, or, for batch sending (``merge_data`` / ``merge_metadata``), one item per
"to" recipient. ``send_messages`` puts the items of several Django messages in one
call (``MAILJET_BATCH_SEND_MESSAGES``, on by default), within Mailjet's limits for a
call (50 recipients, counting each item's To, Cc and Bcc; 15 MB), over one
connection, through anymail-base's batching seam (``BatchingBackend``); each Django
message still gets its own ``anymail_status``, signals and error. Mailjet answers a call in which some items failed with HTTP 400 and the
per-item results: the other items *were* sent.

**Send API v3** (``MAILJET_API_VERSION = "v3"``): one call per Django message, in
one of three shapes (see :class:`MailjetV3Payload`), the sender of a stored template
read through the template API when ``from_email`` is None, and display names with
commas sent as encoded-words. v3 accepts or refuses a call as a whole.

Every message needs a "to" recipient: a message with only cc or bcc recipients is
refused before anything is sent. Addresses go to Mailjet with their domains in
IDNA (punycode) form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email.charset import Charset
from email.header import decode_header, make_header
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.addresses import EmailAddress, parse_single_address, recipient_entry
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import RequestsPayload
from anymail.backends.batching import BatchCall, BatchingBackend
from anymail.backends.transport import ApiCredentials
from anymail.esps.mailjet import ESP
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.settings import get_anymail_setting

if TYPE_CHECKING:
    import requests

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_URL",
    "DEFAULT_API_URLS",
    "MAX_CALL_BYTES",
    "MAX_MESSAGES_PER_CALL",
    "MAX_RECIPIENTS_PER_CALL",
    "EmailBackend",
    "MailjetPayload",
    "MailjetRequest",
    "MailjetSendPayload",
    "MailjetV3Payload",
    "SendCall",
    "TemplateContentRequest",
    "call_body",
    "parse_template_from",
    "recipient_list",
]


#: The Send API versions the backend speaks (MAILJET_API_VERSION); the first is the default.
API_VERSIONS = ("v3.1", "v3")

#: MAILJET_API_URL's default for each version.
DEFAULT_API_URLS = {
    "v3.1": "https://api.mailjet.com/v3.1",
    "v3": "https://api.mailjet.com/v3",
}
DEFAULT_API_URL = DEFAULT_API_URLS["v3.1"]

#: Send API v3.1's limits for one call. Mailjet's reference: "up to 50 messages in a
#: single API call"; its support (mailjet/mailjet-apiv3-nodejs#67) and its error
#: send-0015 ("Total number of recipients exceeded. Max allowed - 50") count the
#: recipients: "a single message object with 50 recipients, 50 different messages
#: with one recipient each, or anything in-between". A request over 15 MB is refused
#: as a whole (HTTP 413, mailjet/mailjet-apiv3-nodejs#269); megabytes are taken as
#: 10**6 bytes, the smaller reading.
MAX_MESSAGES_PER_CALL = 50
MAX_RECIPIENTS_PER_CALL = 50
MAX_CALL_BYTES = 15 * 1000 * 1000

#: Root properties of a v3.1 call (beside ``Messages``): in esp_extra they apply to
#: the whole call, so only messages with the same ones share a call.
CALL_PROPERTIES = ("Globals", "SandboxMode")

#: The properties both Send APIs have, by their v3.1 names and their v3 names.
PROPERTY_NAMES_V31 = {
    "subject": "Subject",
    "text": "TextPart",
    "html": "HTMLPart",
    "campaign": "CustomCampaign",
    "track_opens": "TrackOpens",
    "track_clicks": "TrackClicks",
    "template_id": "TemplateID",
}
PROPERTY_NAMES_V3 = {
    "subject": "Subject",
    "text": "Text-part",
    "html": "Html-part",
    "campaign": "Mj-campaign",
    "track_opens": "Mj-trackopen",
    "track_clicks": "Mj-trackclick",
    "template_id": "Mj-TemplateID",
}

#: v3.1 TrackOpens / TrackClicks ("account_default" is what leaving them out means).
TRACKING_V31 = {True: "enabled", False: "disabled"}
#: Mj-trackopen / Mj-trackclick: 0 uses the account's setting, 1 disables, 2 enables
#: (Send API v3 properties table, https://dev.mailjet.com/email/guides/send-api-v3/).
TRACKING_V3 = {True: 2, False: 1}

#: Send API v3 properties and their v3.1 names (the guide's "Send API v3 to v3.1"
#: changes), so a v3 esp_extra is refused with a pointer instead of being posted.
V3_PROPERTIES = {
    "FromEmail": "From",
    "FromName": "From",
    "Text-part": "TextPart",
    "Html-part": "HTMLPart",
    "Recipients": "To",
    "Vars": "Variables",
    "Inline_attachments": "InlinedAttachments",
    "Mj-prio": "Priority",
    "Mj-CustomID": "CustomID",
    "Mj-EventPayLoad": "EventPayload",
    "Mj-EventPayload": "EventPayload",
    "Mj-campaign": "CustomCampaign",
    "Mj-deduplicatecampaign": "DeduplicateCampaign",
    "Mj-trackopen": "TrackOpens",
    "Mj-trackclick": "TrackClicks",
    "Mj-TemplateID": "TemplateID",
    "Mj-TemplateLanguage": "TemplateLanguage",
    "Mj-TemplateErrorReporting": "TemplateErrorReporting",
    "Mj-TemplateErrorDeliver": "TemplateErrorDeliver",
    "Mj-MonitoringCategory": "MonitoringCategory",
}

#: What to do about the v3.1 per-message errors that need explaining (the guide's
#: "Send API errors" table).
MESSAGE_ERROR_HINTS = {
    "send-0006": (
        "The message has an envelope_sender, which Mailjet accepts only for API keys "
        "its support has enabled custom senders for."
    ),
    "send-0007": "The message's envelope_sender must be a sender address validated in Mailjet.",
    "send-0008": (
        "Send from an address (or domain) validated for this Mailjet account: "
        "Account settings, Sender domains & addresses."
    ),
    "send-0010": "Check that template_id is the numeric ID of a template this API key can use.",
    "send-0011": (
        "Mailjet refuses some headers in extra headers (From, Sender, Subject, To, Cc, "
        "Bcc, Date, Message-Id and its own X-MJ-* and X-Mailjet-* headers, among "
        "others): set them through the message instead."
    ),
}

_UTF8 = Charset("utf-8")


def recipient_list(emails: Sequence[EmailAddress]) -> str:
    """A v3 ``To`` / ``Cc`` / ``Bcc`` value: comma-separated addresses.

    Send API v3 splits these strings at commas even inside a quoted display name
    (Anymail 6.0 docs, "Commas in recipient names"), so a name holding a comma is
    sent as an RFC 2047 encoded-word, which has none. Other names go as they are.
    (v3.1 takes each address as an object, and needs none of this.)
    """
    return ", ".join(
        f"{_UTF8.header_encode(email.display_name)} <{email.idna_addr_spec}>"
        if "," in email.display_name
        else email.idna_address
        for email in emails
    )


def _template_id_number(template_id: Any) -> int | None:
    """A stored template's numeric ID, or None for a name."""
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


def call_envelope(root: str) -> tuple[bytes, bytes]:
    """What goes around a v3.1 call's messages: ``{<root properties>,"Messages":[``
    and ``]}``, for ``root``, the call's root properties serialized (a JSON object)."""
    inner = root[1:-1]
    return ("{" + inner + ("," if inner else "") + '"Messages":[').encode("utf-8"), b"]}"


def call_body(root: str, entries: Sequence[bytes]) -> bytes:
    """A v3.1 call's JSON body: the root properties and the serialized messages."""
    start, end = call_envelope(root)
    return start + b",".join(entries) + end


def _valid_result(result: Any) -> bool:
    """A v3.1 result: ``{"Status": "success", "To": [...], ...}`` or
    ``{"Status": "error", "Errors": [{...}, ...]}``."""
    if not isinstance(result, dict):
        return False
    if result.get("Status") == "error":
        errors = result.get("Errors")
        return isinstance(errors, list) and all(isinstance(error, dict) for error in errors)
    return result.get("Status") == "success" and all(
        isinstance(result.get(key, []), list) for key in ("To", "Cc", "Bcc")
    )


def _entry_recipient_status(
    email: EmailAddress, result: dict[str, Any] | None
) -> AnymailRecipientStatus:
    """One recipient's status in one entry's result (None: its call failed)."""
    if result is None or result["Status"] != "success":
        return AnymailRecipientStatus(message_id=None, status="failed")
    # Mailjet lists the address as it was sent: with an IDNA domain.
    wanted = {email.idna_addr_spec.lower(), email.addr_spec.lower()}
    for key in ("To", "Cc", "Bcc"):
        for item in result.get(key, []):
            if isinstance(item, dict) and str(item.get("Email", "")).lower() in wanted:
                message_id = item.get("MessageID")
                # (SandboxMode answers MessageID 0: validated, nothing sent.)
                return AnymailRecipientStatus(
                    message_id=str(message_id) if message_id not in (None, "", 0) else None,
                    status="sent",
                )
    return AnymailRecipientStatus(message_id=None, status="unknown")


if TYPE_CHECKING:
    #: One entry's outcome (the result the backend's post_call gives it): its v3.1
    #: result ({"Status": ...}) and the response of the call that carried it; None
    #: when its call failed.
    _Outcome = tuple[dict[str, Any], requests.Response] | None


class MailjetSendPayload(RequestsPayload):
    """What the Send API v3.1 and v3 payloads share: the properties every message of
    the Django message has (``properties``, under each API's names), the values the
    hooks collect for ``finish()`` (recipients, variables, the event payload and
    esp_extra depend on each other; the recipients are the message data's), the
    endpoint, and the refusal of a message without a "to" recipient."""

    backend: EmailBackend
    #: the API's names for the properties both Send APIs have (PROPERTY_NAMES_V31...)
    property_names: ClassVar[Mapping[str, str]]
    #: the API's TrackOpens / TrackClicks values for on and off
    tracking_values: ClassVar[Mapping[bool, Any]]

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.email_headers: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}
        self.merge_metadata: dict[str, dict[str, Any]] | None = None
        self.merge_data: dict[str, dict[str, Any]] | None = None
        self.merge_global_data: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.has_envelope_sender = False
        super().__init__(message, defaults, backend)
        self.headers["Content-Type"] = "application/json"

    def init_payload(self) -> None:
        #: the properties every message of this Django message shares
        self.properties: dict[str, Any] = {}

    def get_api_endpoint(self) -> str:
        return "send"

    def finish_properties(self) -> None:
        """The shared properties' last touches, before finish() makes the messages."""
        if self.email_headers:
            self.properties["Headers"] = self.email_headers
        if self.property_names["template_id"] in self.properties and not self.properties.get(
            "Subject", True
        ):
            # Django's "no subject" is "": leave the template's subject alone.
            del self.properties["Subject"]

    @property
    def per_recipient(self) -> bool:
        """Batch sending (merge_data / merge_metadata): each "to" recipient gets a
        message of their own."""
        return self.data.is_batch and bool(self.data.to)

    def refusal(self, text: str, feature: Feature | None = None) -> AnymailUnsupportedFeature:
        """The error for a message this API can't send at all: refused whatever
        IGNORE_UNSUPPORTED_FEATURES says, before anything is sent."""
        return AnymailUnsupportedFeature(
            text,
            feature=feature.value if feature else None,
            email_message=self.message,
            payload=self,
            backend=self.backend,
        )

    def refuse_without_to(self) -> None:
        """Both Send APIs need a "to" recipient (v3: 'Missing "To" or "Recipients"
        property'; v3.1: "The To is mandatory but missing from the input"). Refused
        before sending, whatever IGNORE_UNSUPPORTED_FEATURES says (without a "to"
        there is nothing to send)."""
        raise self.refusal(
            "Mailjet's Send API needs at least one `to` recipient, and this message has "
            "only `cc` or `bcc` recipients. Put at least one address in `to`. (To send to "
            "several people who must not see each other's addresses, put them all in `to` "
            "and set merge_data = {}: each gets a separate message.)"
        )

    # --- the set_* methods both Send APIs handle alike ---

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        """(finish() reads the recipients from the message data: a batch send splits
        the "to" recipients.)"""

    def set_subject(self, subject: str) -> None:
        self.properties[self.property_names["subject"]] = subject

    def set_text_body(self, body: str) -> None:
        self.properties[self.property_names["text"]] = body

    def set_html_body(self, body: str) -> None:
        self.properties[self.property_names["html"]] = body

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # As a header: Send API v3 has no reply-to property (Mailjet's guide sends it
        # as a header), and v3.1's ReplyTo takes one address.
        self.email_headers["Reply-To"] = ", ".join(
            email.formataddr(self.data.encoding) for email in emails
        )

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.email_headers.update(headers)

    def set_tags(self, tags: list[str]) -> None:
        # Declared MAX_ONE: enforcement leaves at most one tag.
        self.properties[self.property_names["campaign"]] = tags[0]

    def set_track_clicks(self, track_clicks: bool) -> None:
        self.properties[self.property_names["track_clicks"]] = self.tracking_values[track_clicks]

    def set_track_opens(self, track_opens: bool) -> None:
        self.properties[self.property_names["track_opens"]] = self.tracking_values[track_opens]

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self.merge_metadata = merge_metadata

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.merge_global_data = merge_global_data

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)


class MailjetPayload(MailjetSendPayload):
    """A Django message as Send API v3.1 messages (``batch_entries``, serialized): one,
    or for batch sending one per "to" recipient, each complete. The backend posts the
    entries of one or more payloads in a call; ``serialize_data`` is this payload's
    alone."""

    property_names = PROPERTY_NAMES_V31
    tracking_values = TRACKING_V31

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        #: the Send API v3.1 messages, serialized (a call's body is made of them)
        self.batch_entries: list[bytes] = []
        #: each entry's recipients (for its status) and how many Mailjet counts
        self.entry_recipients: list[list[EmailAddress]] = []
        self.entry_recipient_counts: list[int] = []
        #: the root properties of the call this message needs (esp_extra's Globals and
        #: SandboxMode), serialized: only messages with the same ones share a call
        self.batch_key = "{}"
        super().__init__(message, defaults, backend)
        self.headers["Accept"] = "application/json"

    # --- the request ---

    def entry_weight(self, index: int) -> int:
        """What entry ``index`` counts against Mailjet's limit: its recipients."""
        return self.entry_recipient_counts[index]

    def serialize_data(self) -> bytes:
        return call_body(self.batch_key, self.batch_entries)

    def finish(self) -> None:
        self.finish_properties()
        self.refuse_v3_extra()
        call_properties = {key: self.extra.pop(key) for key in CALL_PROPERTIES if key in self.extra}
        self.batch_key = self.serialize_json(call_properties, "esp_extra")
        to = self.data.to
        if not to and "To" not in self.extra:
            self.refuse_without_to()
        batch = self.per_recipient
        for group in [[email] for email in to] if batch else [to]:
            self.add_entry(group, own=group[0] if batch else None)

    def add_entry(self, to: list[EmailAddress], own: EmailAddress | None) -> None:
        """One v3.1 message: to ``to`` (with the cc and bcc recipients), with the
        variables and event payload of ``own`` (a batch's "to" recipient) if any."""
        cc, bcc = self.data.cc, self.data.bcc
        entry = dict(self.properties)
        for key, emails in (("To", to), ("Cc", cc), ("Bcc", bcc)):
            if emails:
                entry[key] = [email.as_object("Email", "Name") for email in emails]
        variables = dict(self.merge_global_data)
        metadata = dict(self.metadata)
        if own is not None:
            variables.update(recipient_entry(self.merge_data, own) or {})
            metadata.update(recipient_entry(self.merge_metadata, own) or {})
        if variables:
            entry["Variables"] = variables
        if metadata:
            entry["EventPayload"] = self.serialize_json(metadata, "metadata")
        entry.update(self.extra)
        self.batch_entries.append(self.serialize_json(entry, "esp_extra").encode("utf-8"))
        self.entry_recipients.append([*to, *cc, *bcc])
        self.entry_recipient_counts.append(
            sum(len(entry[key]) for key in ("To", "Cc", "Bcc") if isinstance(entry.get(key), list))
        )

    def refuse_v3_extra(self) -> None:
        """An esp_extra written for Send API v3 would be refused by v3.1 (or, worse,
        half applied): say so before anything is sent."""
        for key in self.extra:
            if key not in V3_PROPERTIES and not key.startswith("Mj-"):
                continue
            replacement = repr(V3_PROPERTIES[key]) if key in V3_PROPERTIES else "its v3.1 name"
            raise self.refusal(
                f"esp_extra[{key!r}] is a Mailjet Send API v3 property, and this backend "
                "sends with Send API v3.1 (MAILJET_API_VERSION). Use "
                f"{replacement} instead (the package README lists the v3.1 names), or set "
                'MAILJET_API_VERSION = "v3" to keep sending with v3. (Nothing was sent.)'
            )

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.properties["From"] = email.as_object("Email", "Name")

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        if len(emails) == 1:
            self.properties["ReplyTo"] = emails[0].as_object("Email", "Name")
        else:
            # ReplyTo takes one address. Reply-To isn't among the headers the guide
            # says Headers may not set, so several go as the header.
            super().set_reply_to(emails)

    def add_attachment(self, attachment: Attachment) -> None:
        # Mailjet requires a Filename for every file. An inline part is referred to
        # by its ContentID (cid:<ContentID>); its Filename defaults to the same.
        filename = self.attachment_filename(attachment)
        if filename is None:
            return
        item = {"ContentType": attachment.mimetype}
        if attachment.inline:
            key = "InlinedAttachments"
            item["Filename"] = attachment.name or filename
            item["ContentID"] = filename
        else:
            key = "Attachments"
            item["Filename"] = filename
        item["Base64Content"] = attachment.b64content
        self.properties.setdefault(key, []).append(item)

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # Mailjet enables "Sender" per API key, on request to its support; without
        # that, the message is refused (send-0006).
        self.properties["Sender"] = {"Email": email.idna_addr_spec}
        self.has_envelope_sender = True

    def set_template_id(self, template_id: str) -> None:
        number = _template_id_number(template_id)
        if number is None:
            # Refused even under IGNORE_UNSUPPORTED_FEATURES: the template is the
            # message's content, and leaving it out can't send the message meant.
            raise self.refusal(
                f"Mailjet's Send API v3.1 takes a stored template by its numeric ID, and "
                f"template_id {template_id!r} isn't a number. Use the template's numeric "
                'ID (the "Template ID" Mailjet shows with the template), or set '
                'MAILJET_API_VERSION = "v3", whose Mj-TemplateID also takes a name.',
                Feature.TEMPLATE_ID,
            )
        self.properties["TemplateID"] = number
        # Stored templates use Mailjet's template language ({{var:name}}). With
        # from_email = None there is no From: Mailjet uses the template's sender.
        self.properties["TemplateLanguage"] = True


class MailjetV3Payload(MailjetSendPayload):
    """A Django message as a Send API v3 JSON body (``self.body``), in one of three
    shapes, chosen per message:

    - an ordinary message: ``To`` / ``Cc`` / ``Bcc`` address-list strings, one shared
      message (every recipient sees the others);
    - batch sending (``merge_data``) to "to" recipients only: ``Recipients``, each
      recipient getting an individual message with their own ``Vars``;
    - batch sending that also has cc/bcc recipients or ``merge_metadata`` (which
      ``Recipients`` can't carry): ``Messages``, one complete message per "to"
      recipient, each with the message's cc and bcc, its own ``Vars`` and its own
      ``Mj-EventPayLoad``.

    A stored template sent with ``from_email = None`` gets the sender stored with the
    template: the backend reads it first (``GET <MAILJET_API_URL>/REST/template/<id>/
    detailcontent``, whose ``Headers.From`` is the template's "From"), then sends.
    """

    property_names = PROPERTY_NAMES_V3
    tracking_values = TRACKING_V3
    #: the request's body (finish() makes it from the properties)
    body: dict[str, Any]

    # --- the request ---

    def serialize_data(self) -> str:
        return self.serialize_json(self.body, "the Mailjet request")

    def finish(self) -> None:
        """Recipients, variables, the event payload and esp_extra depend on each other
        (see the module docstring for the three request shapes)."""
        self.finish_properties()
        to = self.data.to
        if not to and not {"To", "Recipients", "Messages"} & self.extra.keys():
            self.refuse_without_to()
        batch = self.per_recipient
        if batch and (self.data.cc or self.data.bcc or self.merge_metadata is not None):
            self.body = {"Messages": [self.message_for(email) for email in to]}
        else:
            self.body = self.properties
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
                raise self.refusal(
                    f"Mailjet can't send template_id {template_id!r} with from_email = None: "
                    "Send API v3 needs a FromEmail, and Anymail can read the sender stored "
                    "with a template only when template_id is the template's numeric ID. "
                    'Use the numeric ID (the "Template ID" Mailjet shows with the template), '
                    "or set from_email.",
                    Feature.TEMPLATE_ID,
                )

    def set_template_sender(self, template_id: Any, email: EmailAddress) -> None:
        """Give every message that uses this template (and has no FromEmail) its sender."""
        for message in self.messages_needing_template_sender():
            if message["Mj-TemplateID"] == template_id:
                self.add_from(message, email)

    @staticmethod
    def add_from(message: dict[str, Any], email: EmailAddress) -> None:
        # FromName is a property of its own: no comma problem here.
        message.update(email.as_object("FromEmail", "FromName"))

    def add_recipient_lists(self, message: dict[str, Any], to: list[EmailAddress]) -> None:
        for key, emails in (
            ("To", to),
            ("Cc", self.data.cc),
            ("Bcc", self.data.bcc),
        ):
            if emails:
                message[key] = recipient_list(emails)

    @staticmethod
    def recipient(email: EmailAddress, merge_data: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """One ``Recipients`` item: a separate message to this "to" recipient."""
        item: dict[str, Any] = email.as_object("Email", "Name")
        variables = recipient_entry(merge_data, email)
        if variables is not None:
            item["Vars"] = variables
        return item

    def message_for(self, email: EmailAddress) -> dict[str, Any]:
        """One ``Messages`` item: the whole message, to one "to" recipient (with the
        cc and bcc recipients), with that recipient's variables and metadata."""
        message = dict(self.properties)
        self.add_recipient_lists(message, [email])
        variables = {**self.merge_global_data, **(recipient_entry(self.merge_data, email) or {})}
        if variables:
            message["Vars"] = variables
        metadata = {**self.metadata, **(recipient_entry(self.merge_metadata, email) or {})}
        if metadata:
            message["Mj-EventPayLoad"] = self.serialize_json(metadata, "merge_metadata")
        message.update(self.extra)
        return message

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.add_from(self.properties, email)

    def add_attachment(self, attachment: Attachment) -> None:
        # HTML refers to an inline part as cid:<its Filename>, so the Filename of an
        # inline part is its Content-ID. Mailjet requires a Filename for every file.
        filename = self.attachment_filename(attachment)
        if filename is None:
            return
        key = "Inline_attachments" if attachment.inline else "Attachments"
        self.properties.setdefault(key, []).append(
            {
                "Content-type": attachment.mimetype,
                "Filename": filename,
                "content": attachment.b64content,
            }
        )

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # Mailjet enables "Sender" per API key, on request to its support; without
        # that, the API refuses the message (see EmailBackend.error_hint).
        self.properties["Sender"] = email.idna_addr_spec
        self.has_envelope_sender = True

    def set_template_id(self, template_id: str) -> None:
        # v3 reads an integer as the template's ID and a string as its name.
        numeric = template_id.isascii() and template_id.isdigit()
        self.properties["Mj-TemplateID"] = int(template_id) if numeric else template_id
        # Stored templates use Mailjet's template language ({{var:name}}).
        self.properties["Mj-TemplateLanguage"] = True


class MailjetRequest(RequestsPayload):
    """A request that isn't one Django message (a v3.1 call, a template read): it skips
    the message-building RequestsPayload.__init__ and keeps only what sending a
    request needs (the backend's post_to_esp)."""

    has_envelope_sender = False

    def __init__(
        self, backend: EmailBackend, headers: Mapping[str, str], credentials: ApiCredentials
    ) -> None:
        # (Deliberately not super().__init__(): there is no EmailMessage to build.)
        self.backend = backend
        self.esp_name = backend.esp_name
        self.headers = dict(headers)
        self.params = None
        self.files = None
        self.auth = None
        self.credentials = credentials


class SendCall(MailjetRequest):
    """``POST send``: one Send API v3.1 call, the entries of one or more messages (a
    BatchCall), with the headers and credentials of its first message's payload."""

    def __init__(self, call: BatchCall) -> None:
        payload: MailjetPayload = call.parts[0][0]
        super().__init__(payload.backend, payload.headers, payload.credentials)
        self.body = call_body(call.key, call.entries)

    def get_api_endpoint(self) -> str:
        return "send"

    def serialize_data(self) -> bytes:
        return self.body


class TemplateContentRequest(MailjetRequest):
    """``GET REST/template/<id>/detailcontent``: a stored template's content, read for
    the sender it stores (see EmailBackend.add_template_sender)."""

    method = "GET"

    def __init__(self, template_id: int, backend: EmailBackend) -> None:
        super().__init__(backend, {"Accept": "application/json"}, backend.credentials)
        self.template_id = template_id

    def get_api_endpoint(self) -> str:
        return f"REST/template/{self.template_id}/detailcontent"

    def serialize_data(self) -> None:
        return None


class EmailBackend(BatchingBackend):
    """Mailjet's Send API v3.1 (or v3, by MAILJET_API_VERSION), as a Django email backend.

    With v3.1, ``send_messages`` puts the messages of several Django messages in one
    call (anymail-base's batching seam, :class:`~anymail.backends.batching.BatchingBackend`),
    within Mailjet's limits for a call; with v3, one call per message.
    """

    esp = ESP
    payload_class = MailjetPayload
    default_api_url = DEFAULT_API_URL
    secret_attributes: ClassVar[tuple[str, ...]] = ("api_key", "secret_key")
    #: MAILJET_API_KEY (also a bare setting), read by the base into ``api_key``
    api_key_setting: ClassVar[str | None] = "api_key"
    #: Send API v3.1's limits for one call (see MAX_MESSAGES_PER_CALL): an entry's
    #: weight is its recipients
    batch_max_messages: ClassVar[int] = MAX_MESSAGES_PER_CALL
    batch_max_weight: ClassVar[int | None] = MAX_RECIPIENTS_PER_CALL
    batch_max_bytes: ClassVar[int] = MAX_CALL_BYTES
    #: MAILJET_BATCH_SEND_MESSAGES is on unless set
    batch_send_default: ClassVar[bool] = True

    @classmethod
    def payload_classes(cls) -> tuple[type[BasePayload], ...]:
        return (MailjetPayload, MailjetV3Payload)

    def __init__(self, **kwargs: Any) -> None:
        self.secret_key: str = get_anymail_setting(
            "secret_key", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        version = get_anymail_setting(
            "api_version", esp_name=self.esp_id, kwargs=kwargs, default=API_VERSIONS[0]
        )
        if version not in API_VERSIONS:
            raise AnymailConfigurationError(
                f"MAILJET_API_VERSION is {version!r}; it must be one of "
                f"{', '.join(repr(known) for known in API_VERSIONS)} (the default is "
                f"{API_VERSIONS[0]!r})."
            )
        self.api_version: str = version
        api_url = str(
            get_anymail_setting(
                "api_url", esp_name=self.esp_id, kwargs=kwargs, default=DEFAULT_API_URLS[version]
            )
        ).rstrip("/")
        for other in API_VERSIONS:
            if other != version and api_url.endswith("/" + other):
                raise AnymailConfigurationError(
                    f"MAILJET_API_URL is {api_url!r}, a Send API {other} URL, but Anymail "
                    f"sends with Send API {version} (MAILJET_API_VERSION is {version!r}"
                    f"{', the default' if version == API_VERSIONS[0] else ''}), whose "
                    f"requests differ. Set MAILJET_API_URL to {DEFAULT_API_URLS[version]!r} "
                    f'(or leave it unset), or set MAILJET_API_VERSION = "{other}" to send '
                    f"with Send API {other}."
                )
        super().__init__(api_url + "/", **kwargs)

    def api_credentials(self) -> ApiCredentials:
        return ApiCredentials.basic(self.api_key, self.secret_key)

    def build_message_payload(
        self, message: EmailMessage, defaults: Mapping[str, Any]
    ) -> BasePayload:
        if self.api_version == "v3":
            return MailjetV3Payload(message, defaults, self)
        return MailjetPayload(message, defaults, self)

    @property
    def max_call_bytes(self) -> int:
        """``batch_max_bytes`` (Mailjet's 15 MB a call), by its earlier name."""
        return self.batch_max_bytes

    @max_call_bytes.setter
    def max_call_bytes(self, value: int) -> None:
        self.batch_max_bytes = value  # type: ignore[misc]  # (this backend's own)

    # --- Send API v3.1: several messages a call (BatchingBackend) ---

    def uses_batch_calls(self) -> bool:
        """Send API v3.1 only: v3 sends one call per message."""
        return self.api_version != "v3"

    def call_overhead(self, payload: MailjetPayload) -> int:
        """A call's envelope: ``{<root properties>,"Messages":[`` and ``]}``."""
        start, end = call_envelope(payload.batch_key)
        return len(start) + len(end)

    def post_call(self, call: BatchCall) -> tuple[requests.Response, list[_Outcome]]:
        """Post one call; return the response and each entry's outcome (its result
        and this response).

        Mailjet answers 200 when every entry was accepted, and 400 with the same
        per-entry ``Messages`` results when some were refused (the others were sent).
        Any other answer (5xx, 401, a 4xx without per-entry results, such as a
        malformed request or too many recipients in the call) fails the whole call.
        """
        request = SendCall(call)
        message = call.parts[0][0].message
        response = self.send_request(request, message, request.get_request_params(self.api_url))
        results = self.call_results(response, len(call.parts))
        if results is None:
            # (A 4xx with each entry's result: some entries were refused, and the
            # others sent. Without them, the call failed as a whole.)
            self.raise_for_status(response, request, message)
            raise self.response_error(
                "Invalid Mailjet API response format: no Status for each message",
                request,
                message,
                response,
            )
        return response, [(result, response) for result in results]

    @staticmethod
    def call_results(response: requests.Response, count: int) -> list[dict[str, Any]] | None:
        """The per-entry results of a 2xx or 4xx answer, if it has one valid result
        for each of the ``count`` entries (in order); else None."""
        if not (200 <= response.status_code < 300 or 400 <= response.status_code < 500):
            return None
        try:
            parsed = response.json()
        except ValueError:
            return None
        results = parsed.get("Messages") if isinstance(parsed, dict) else None
        if (
            not isinstance(results, list)
            or len(results) != count
            or not all(_valid_result(result) for result in results)
        ):
            return None
        return results

    def recipient_status(
        self, payload: MailjetPayload, results: Sequence[_Outcome]
    ) -> dict[str, AnymailRecipientStatus]:
        """Each recipient's status, from the outcomes of the payload's entries. Cc and
        bcc recipients are in every entry of a batch: one sent copy makes them "sent"
        (with that copy's MessageID)."""
        statuses: dict[str, AnymailRecipientStatus] = {}
        for recipients, outcome in zip(payload.entry_recipients, results, strict=True):
            result = outcome[0] if outcome is not None else None
            for email in recipients:
                status = _entry_recipient_status(email, result)
                known = statuses.get(email.addr_spec)
                if known is None or (known.status != "sent" and status.status == "sent"):
                    statuses[email.addr_spec] = status
        return statuses

    def raise_for_results(
        self, payload: MailjetPayload, results: Sequence[_Outcome], response: Any
    ) -> None:
        """Mailjet refused every entry of the message: an API error naming Mailjet's
        first error, with the response of the call that carried it (even with
        IGNORE_RECIPIENT_STATUS: these are errors in the message, not refused
        recipients). One accepted entry of a batch is a sent message, whose refused
        entries show as "failed" recipients."""
        known = [outcome for outcome in results if outcome is not None]
        if not known or any(result["Status"] == "success" for result, _ in known):
            return
        result, response = known[0]
        error = result["Errors"][0] if result["Errors"] else {}
        code = error.get("ErrorCode")
        related = error.get("ErrorRelatedTo")
        text = f"Mailjet refused the message: {code}: {error.get('ErrorMessage')}"
        if isinstance(related, list) and related:
            text += f" (related to {', '.join(str(item) for item in related)})"
        status_code = error.get("StatusCode")
        raise self.response_error(
            text,
            payload,
            payload.message,
            response,
            description=MESSAGE_ERROR_HINTS.get(str(code)),
            status_code=status_code if isinstance(status_code, int) else None,
        )

    # --- errors ---

    def response_error(
        self,
        text: str,
        payload: BasePayload,
        message: EmailMessage,
        response: requests.Response,
        **details: Any,
    ) -> exceptions.AnymailRequestsAPIError:
        """An API error about Mailjet's answer to ``payload`` (``details``: the error's
        ``description`` or ``status_code``)."""
        return exceptions.AnymailRequestsAPIError(
            text,
            email_message=message,
            payload=payload,
            response=response,
            backend=self,
            **details,
        )

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Mailjet's own error message, and how to fix the errors that need explaining."""
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        error = parsed if isinstance(parsed, dict) else {}
        if not error.get("ErrorMessage") and isinstance(error.get("Errors"), list):
            # A v3.1 call refused as a whole may list its errors.
            first = error["Errors"][0] if error["Errors"] else None
            error = first if isinstance(first, dict) else {}
        text = " ".join(
            str(error[key]) for key in ("ErrorCode", "ErrorMessage", "ErrorInfo") if error.get(key)
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
        elif isinstance(payload, MailjetV3Payload) and payload.has_envelope_sender:
            hints.append(MESSAGE_ERROR_HINTS["send-0006"])
        return " ".join(hints) or None

    # --- Send API v3: one call per message ---

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> requests.Response:
        """Send a v3 message: first, if it uses a stored template and has no
        from_email, read the template's sender (Send API v3 needs a FromEmail)."""
        if isinstance(payload, MailjetV3Payload):
            self.add_template_sender(payload, message)
        return super().post_to_esp(payload, message)

    def add_template_sender(self, payload: MailjetV3Payload, message: EmailMessage) -> None:
        """Give each message that uses a stored template and has no FromEmail the "From"
        stored with the template (one template API call per template)."""
        for template_id in dict.fromkeys(
            item["Mj-TemplateID"] for item in payload.messages_needing_template_sender()
        ):
            number = _template_id_number(template_id)
            assert number is not None  # (MailjetV3Payload.check_template_senders)
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
            raise self.response_error(
                "Invalid Mailjet template API response format: no Data[0].Headers",
                request,
                message,
                response,
            )
        from_header = headers.get("From")
        if not isinstance(from_header, str) or not from_header.strip():
            raise self.response_error(
                f"Mailjet template {request.template_id} has no sender (no From in its "
                "headers), and the message's from_email is None. Set from_email, or give "
                "the template a sender in Mailjet. (Nothing was sent.)",
                request,
                message,
                response,
            )
        return parse_template_from(from_header, request.template_id)

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        """(Send API v3.) One status per recipient from ``Sent``: each recipient gets
        its own MessageID.

        MessageIDs are integers beyond JavaScript's safe range: parsed exactly (Python's
        json), reported as str. A recipient Mailjet doesn't list gets status "unknown".
        """
        assert isinstance(payload, MailjetV3Payload)
        parsed = self.deserialize_json_response(response, payload, message)
        sent = parsed.get("Sent") if isinstance(parsed, dict) else None
        if not isinstance(sent, list):
            raise self.response_error(
                "Invalid Mailjet API response format: no Sent list", payload, message, response
            )
        message_ids: dict[str, str] = {}
        for item in sent:
            if isinstance(item, dict) and item.get("Email") and item.get("MessageID") is not None:
                # A cc'd recipient of a batch appears once per message: keep the first.
                message_ids.setdefault(str(item["Email"]).lower(), str(item["MessageID"]))
        statuses = {}
        for email in payload.data.all_recipients:
            # Mailjet lists the address as it was sent: with an IDNA domain.
            message_id = message_ids.get(email.idna_addr_spec.lower()) or message_ids.get(
                email.addr_spec.lower()
            )
            statuses[email.addr_spec] = AnymailRecipientStatus(
                message_id=message_id, status="sent" if message_id else "unknown"
            )
        return statuses
