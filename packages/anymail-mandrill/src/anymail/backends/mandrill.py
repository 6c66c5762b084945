"""Anymail's Mandrill backend: sends through Mailchimp Transactional's messages API.

Every message is one JSON post to ``<MANDRILL_API_URL>/messages/send.json`` (or, with a
``template_id``, ``messages/send-template.json``). Mandrill takes the API key in the
body (``"key"``), not in a header: its ``api_credentials()`` say so, the payload
merges them into its JSON, and errors and ``DEBUG_API_REQUESTS`` output redact it.

Addresses go to Mandrill with their domains in IDNA (punycode) form, wherever the API
takes one (from, to/cc/bcc, Reply-To, return_path_domain, and the ``rcpt`` of merge
vars and recipient metadata, which must match a recipient); display names and local
parts are sent as given.

API reference: https://mailchimp.com/developer/transactional/api/messages/send-new-message/
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.backends.transport import ApiCredentials
from anymail.esps.mandrill import ESP
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailDeprecationWarning,
    AnymailInvalidAddress,
    AnymailSerializationError,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus

if TYPE_CHECKING:
    import requests

    from anymail.exceptions import AnymailRequestsAPIError

__all__ = [
    "DEFAULT_API_URL",
    "DJRILL_ATTRIBUTES",
    "DJRILL_SETTINGS",
    "STATUS_MAP",
    "EmailBackend",
    "MandrillPayload",
]

#: The 6.0 docs' default: Mandrill's production API, version 1.0 (the current
#: Mailchimp Transactional reference documents /api/1.4 with the same calls).
DEFAULT_API_URL = "https://mandrillapp.com/api/1.0"

#: Mandrill's per-recipient send status → Anymail's. A scheduled message (send_at)
#: is accepted for later delivery: "queued" in Anymail's terms.
STATUS_MAP: Final = {
    "sent": "sent",
    "queued": "queued",
    "scheduled": "queued",
    "rejected": "rejected",
    "invalid": "invalid",
}

#: Djrill's settings, each with the 6.0 docs' migration advice ("Migrating from Djrill").
#: Anymail doesn't read them; the backend (sending settings) and the webhook view
#: (webhook settings) refuse to run while one is set, rather than silently ignore it.
DJRILL_SETTINGS: Final = {
    "MANDRILL_SETTINGS": (
        "Use ANYMAIL_SEND_DEFAULTS and/or ANYMAIL_MANDRILL_SEND_DEFAULTS instead "
        "(note that message tags and merge data are merged with the defaults, not replaced)."
    ),
    "MANDRILL_SUBACCOUNT": (
        'Set esp_extra globally instead: ANYMAIL = {"MANDRILL_SEND_DEFAULTS": '
        '{"esp_extra": {"message": {"subaccount": "<your subaccount>"}}}}.'
    ),
    "MANDRILL_IGNORE_RECIPIENT_STATUS": (
        "It is renamed ANYMAIL_IGNORE_RECIPIENT_STATUS "
        '(or ANYMAIL = {"IGNORE_RECIPIENT_STATUS": ...}).'
    ),
}

#: Djrill's message attributes that Anymail still honours, with a deprecation warning:
#: {attribute: where it goes}. "top" is a top-level API parameter, "message" a key of
#: Mandrill's message object; the others have an Anymail replacement.
DJRILL_ATTRIBUTES: Final = {
    "async": "top",
    "ip_pool": "top",
    "template_content": "top",
    "auto_html": "message",
    "auto_text": "message",
    "from_name": "message",
    "google_analytics_campaign": "message",
    "google_analytics_domains": "message",
    "important": "message",
    "inline_css": "message",
    "merge_language": "message",
    "preserve_recipients": "message",
    "recipient_metadata": "message",
    "return_path_domain": "message",
    "signing_domain": "message",
    "subaccount": "message",
    "tracking_domain": "message",
    "url_strip_qs": "message",
    "view_content_link": "message",
    "template_name": "template_id",
    "merge_vars": "merge_data",
    "global_merge_vars": "merge_global_data",
    "use_template_from": "from_email = None",
    "use_template_subject": "subject = None",
}


def check_djrill_settings(names: Sequence[str]) -> None:
    """Refuse to run with a Djrill setting that Anymail would otherwise silently ignore."""
    for name in names:
        if hasattr(settings, name):
            raise AnymailConfigurationError(
                f"The Djrill setting {name} is not used by Anymail. {DJRILL_SETTINGS[name]} "
                "Then remove it from your settings. (See 'Migrating from Djrill' in the "
                "anymail-mandrill README.)"
            )


class MandrillPayload(RequestsPayload):
    """A message as Mandrill's messages/send JSON: ``self.body``, with the message
    object in ``self.body["message"]``."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.extra: dict[str, Any] = {}
        super().__init__(message, defaults, backend)

    # --- the request ---

    def init_payload(self) -> None:
        self.msg: dict[str, Any] = {}
        # The API key is a body field ("key"): the credentials go first.
        self.body: dict[str, Any] = {**self.credentials.body, "message": self.msg}
        self.headers["Content-Type"] = "application/json"

    def get_api_endpoint(self) -> str:
        if "template_name" in self.body:
            return "messages/send-template.json"
        return "messages/send.json"

    def serialize_data(self) -> str:
        return self.serialize_json(self.body)

    def finish(self) -> None:
        if self.data.is_batch:
            # Each "to" recipient sees only their own address (6.0 docs: forced for
            # merge_data; merge_metadata is a batch send too).
            self.msg["preserve_recipients"] = False
        self.apply_djrill_attributes()
        self.apply_esp_extra()

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.msg.update(email.as_object("from_email", "from_name"))

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self.msg.setdefault("to", []).extend(
            {**email.as_object(), "type": recipient_type} for email in emails
        )

    def set_subject(self, subject: str) -> None:
        self.msg["subject"] = subject

    def set_text_body(self, body: str) -> None:
        self.msg["text"] = body

    def set_html_body(self, body: str) -> None:
        self.msg["html"] = body

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # Mandrill has no reply_to field; it allows a Reply-To header.
        self.msg.setdefault("headers", {})["Reply-To"] = ", ".join(
            email.idna_address for email in emails
        )

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.msg.setdefault("headers", {}).update(headers)

    def add_attachment(self, attachment: Attachment) -> None:
        if attachment.inline:
            # Mandrill's "images" are referenced as cid:<name> and must be images.
            if not attachment.mimetype.startswith("image/"):
                self.unsupported_feature(
                    Feature.INLINE_IMAGES,
                    f"Mandrill's inline parts must be images, not {attachment.mimetype} "
                    "(attach it as an ordinary attachment instead)",
                )
                return
            if not attachment.content_id:
                self.unsupported_feature(
                    Feature.INLINE_IMAGES,
                    "Mandrill requires a Content-ID for every inline image "
                    "(use anymail.message.attach_inline_image)",
                )
                return
            self.msg.setdefault("images", []).append(
                {
                    "type": attachment.mimetype,
                    "name": attachment.content_id,
                    "content": attachment.b64content,
                }
            )
        else:
            item = {"type": attachment.mimetype, "content": attachment.b64content}
            if attachment.name:
                item["name"] = attachment.name
            self.msg.setdefault("attachments", []).append(item)

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # Mandrill generates the bounce mailbox itself; only its domain can be chosen.
        self.msg["return_path_domain"] = email.idna_domain

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.msg["metadata"] = metadata

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self.msg["recipient_metadata"] = rcpt_values_list(merge_metadata)

    def set_send_at(self, send_at: datetime) -> None:
        # "a UTC timestamp in YYYY-MM-DD HH:MM:SS format" (top level, not in message)
        self.body["send_at"] = send_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def set_tags(self, tags: list[str]) -> None:
        reserved = [tag for tag in tags if tag.startswith("_")]
        if reserved:
            self.unsupported_feature(
                Feature.TAGS,
                f"Mandrill reserves tags that start with an underscore ({reserved!r})",
            )
            tags = [tag for tag in tags if tag not in reserved]
        if tags:
            self.msg["tags"] = tags

    def set_track_clicks(self, track_clicks: bool) -> None:
        self.msg["track_clicks"] = track_clicks

    def set_track_opens(self, track_opens: bool) -> None:
        self.msg["track_opens"] = track_opens

    def set_template_id(self, template_id: str) -> None:
        self.body["template_name"] = template_id
        # Required by send-template, even when the template has no editable regions.
        self.body.setdefault("template_content", [])

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.msg["merge_vars"] = [
            {"rcpt": idna_addr_spec(email), "vars": name_content_list(values)}
            for email, values in merge_data.items()
        ]

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.msg["global_merge_vars"] = name_content_list(merge_global_data)

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)
        # Send defaults merge esp_extra shallowly, which would make a message's own
        # esp_extra["message"] drop the defaults' (MANDRILL_SEND_DEFAULTS is where the
        # docs put a global subaccount): merge the two message dicts key by key.
        default_extra = self.backend.send_defaults.get("esp_extra")
        default_message = (
            default_extra.get("message") if isinstance(default_extra, Mapping) else None
        )
        own_extra = getattr(self.message, "esp_extra", None)
        own_message = own_extra.get("message") if isinstance(own_extra, Mapping) else None
        if isinstance(default_message, Mapping) and isinstance(own_message, Mapping):
            self.extra["message"] = {**default_message, **own_message}

    # --- esp_extra and Djrill's attributes ---

    def apply_esp_extra(self) -> None:
        """esp_extra: top-level API parameters, plus the "message" dict merged into
        the message object (the 6.0 docs' two levels); esp_extra wins conflicts."""
        extra = dict(self.extra)
        message_extra = extra.pop("message", None)
        if message_extra is not None:
            if not isinstance(message_extra, Mapping):
                raise AnymailSerializationError(
                    "Mandrill's esp_extra['message'] must be a dict of message options, "
                    f"not {type(message_extra).__name__}",
                    field="esp_extra['message']",
                    email_message=self.message,
                    payload=self,
                    backend=self.backend,
                )
            for key, value in message_extra.items():
                self.set_message_option(key, value, "esp_extra['message']")
        for key, value in extra.items():
            self.set_top_level_option(key, value, "esp_extra")

    def set_message_option(self, key: str, value: Any, field: str) -> None:
        if key == "recipient_metadata" and isinstance(value, Mapping):
            value = rcpt_values_list(value, f"{field}['recipient_metadata']")
        self.msg[key] = value

    def set_top_level_option(self, key: str, value: Any, field: str) -> None:
        if key == "template_content" and isinstance(value, Mapping):
            value = name_content_list(value)
        self.body[key] = value

    def apply_djrill_attributes(self) -> None:
        """Djrill's Mandrill-specific message attributes still work, with a warning
        saying what to use instead (6.0 docs, "Migrating from Djrill")."""
        for name, target in DJRILL_ATTRIBUTES.items():
            value = getattr(self.message, name, None)
            if value is None:
                continue
            warnings.warn(djrill_attribute_advice(name, target), AnymailDeprecationWarning, 2)
            if target == "top":
                self.set_top_level_option(name, value, f"message.{name}")
            elif target == "message":
                self.set_message_option(name, value, f"message.{name}")
            elif name == "template_name":
                self.set_template_id(str(value))
            elif name == "merge_vars":
                if not isinstance(value, Mapping):
                    self.msg["merge_vars"] = value  # already Mandrill's list
                else:
                    self.set_merge_data(dict(value))
            elif name == "global_merge_vars":
                if not isinstance(value, Mapping):
                    self.msg["global_merge_vars"] = value
                else:
                    self.set_merge_global_data(dict(value))
            elif name == "use_template_from" and value:
                self.msg.pop("from_email", None)
                self.msg.pop("from_name", None)
            elif name == "use_template_subject" and value:
                self.msg.pop("subject", None)


def djrill_attribute_advice(name: str, target: str) -> str:
    """The deprecation warning for one of Djrill's message attributes."""
    if target == "top":
        instead = f"message.esp_extra = {{{name!r}: ...}}"
    elif target == "message":
        instead = f"message.esp_extra = {{'message': {{{name!r}: ...}}}}"
    elif target.endswith("= None"):
        instead = f"message.{target} (to use the stored template's value)"
    else:
        instead = f"message.{target}"
    if name == "return_path_domain":
        instead += ", or message.envelope_sender (a full address; Anymail uses only its domain)"
    return (
        f"message.{name} is a Djrill attribute, deprecated in Anymail: use {instead} instead. "
        "(See 'Migrating from Djrill' in the anymail-mandrill README.)"
    )


def idna_addr_spec(addr_spec: Any) -> Any:
    """A recipient key (merge data, recipient metadata) with its domain in IDNA form, to
    match the recipient as sent; anything that isn't an address is left as it is."""
    if not isinstance(addr_spec, str) or "@" not in addr_spec or addr_spec.isascii():
        return addr_spec
    try:
        return EmailAddress("", addr_spec).idna_addr_spec
    except AnymailInvalidAddress:
        return addr_spec  # no recipient can have that domain: it matches none anyway


def name_content_list(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """{name: content} → Mandrill's [{"name": ..., "content": ...}] (merge vars, template content)."""
    return [{"name": name, "content": content} for name, content in values.items()]


def rcpt_values_list(values: Mapping[str, Any], field: str = "merge_metadata") -> list[Any]:
    """{email: {key: value}} → Mandrill's recipient_metadata [{"rcpt": email, "values": {...}}]."""
    result = []
    for email, recipient_values in values.items():
        if not isinstance(recipient_values, Mapping):
            raise AnymailSerializationError(
                f"{field}[{email!r}] must be a dict of metadata, "
                f"not {type(recipient_values).__name__}",
                field=f"{field}[{email!r}]",
            )
        result.append({"rcpt": idna_addr_spec(email), "values": dict(recipient_values)})
    return result


class EmailBackend(AnymailRequestsBackend):
    """Mandrill's messages API, as a Django email backend."""

    esp = ESP
    payload_class = MandrillPayload
    default_api_url = DEFAULT_API_URL
    # (The docs also accept a bare MANDRILL_API_KEY, Djrill's setting.)
    api_key_setting = "api_key"

    def __init__(self, **kwargs: Any) -> None:
        check_djrill_settings(list(DJRILL_SETTINGS))
        super().__init__(**kwargs)

    def api_credentials(self) -> ApiCredentials:
        return ApiCredentials.body_field("key", self.api_key)

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Mandrill's own error ({"status": "error", "name", "message"}), plus a hint
        for the mistakes that have an obvious fix."""
        try:
            error = response.json()
        except ValueError:
            return None
        if not isinstance(error, dict) or "message" not in error:
            return None
        description = f"Mandrill error {error.get('name') or error.get('code')}: {error['message']}"
        if error.get("name") == "Invalid_Key":
            description += " (check MANDRILL_API_KEY)"
        elif error.get("name") == "Unknown_Template":
            description += " (template_id must be the template's slug, as Mandrill shows it)"
        return description

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, MandrillPayload)
        parsed = self.deserialize_json_response(response, payload, message)

        def invalid(detail: str) -> AnymailRequestsAPIError:
            return exceptions.AnymailRequestsAPIError(
                f"Invalid Mandrill API response format: {detail}",
                description=self.error_hint(response, payload),
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )

        if not isinstance(parsed, list):
            raise invalid("expected a list of recipient results")
        # Mandrill answers one result per recipient: {"email", "status", "_id", ...}.
        results: dict[str, AnymailRecipientStatus] = {}
        for item in parsed:
            if not isinstance(item, dict) or not isinstance(item.get("email"), str):
                raise invalid(f"unexpected recipient result {item!r}")
            status = STATUS_MAP.get(str(item.get("status")), "unknown")
            results[item["email"].lower()] = AnymailRecipientStatus(item.get("_id"), status)
        # Key the statuses by the addresses as the message gave them (Mandrill names
        # the address as sent: IDNA domain, maybe another case).
        statuses: dict[str, AnymailRecipientStatus] = {}
        for email in payload.data.all_recipients:
            status = results.pop(email.idna_addr_spec.lower(), None)
            if status is None:
                status = results.pop(
                    email.addr_spec.lower(), AnymailRecipientStatus(None, "unknown")
                )
            statuses[email.addr_spec] = status
        statuses.update(results)
        return statuses
