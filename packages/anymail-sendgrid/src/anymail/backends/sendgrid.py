"""Anymail's SendGrid backend: sends through SendGrid's v3 Mail Send API.

Every message is one JSON POST to ``<SENDGRID_API_URL>mail/send`` with the API key
as a bearer token. The request's shape is SendGrid's (see
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send):
recipients, per-recipient data and custom args go in ``personalizations`` (one for
the whole message, or one per "to" recipient in a batch send); everything else is
top level.

SendGrid's answer (202 Accepted) carries no message id, so Anymail makes one: a
UUID in each personalization's ``custom_args`` as ``anymail_id``, which SendGrid
echoes in every event of the Event Webhook.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMessage

from anymail.addresses import EmailAddress, recipient_entry
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.backends.transport import ApiCredentials
from anymail.esps.sendgrid import ESP
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.settings import get_anymail_setting

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_API_URL",
    "EmailBackend",
    "SendGridPayload",
    "check_merge_field_format",
    "deep_merge",
]

#: SendGrid's global API. EU-regional subusers need "https://api.eu.sendgrid.com/v3/".
DEFAULT_API_URL = "https://api.sendgrid.com/v3/"

#: The custom arg that carries Anymail's message id (and comes back in tracking events).
MESSAGE_ID_ARG = "anymail_id"

#: Headers SendGrid refuses to let a message set (Mail Send reference, ``headers``).
#: From, To and Reply-To never get here: Anymail turns them into the message's own fields.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)

#: SendGrid's limits on ``categories`` (Anymail's tags).
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255

# text/plain, then text/html, then anything else: the order SendGrid requires.
_CONTENT_ORDER = {"text/plain": 0, "text/html": 1}


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: nested dicts merge, anything else from
    ``extra`` replaces (the 6.0 docs' "deeply merged, esp_extra having precedence")."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_merge_field_format(value: Any, source: str) -> str | None:
    """A ``str.format()`` string with one ``{}`` (or None): refuse anything else before
    a message is built with it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnymailConfigurationError(
            f"{source} must be a str.format() string such as '-{{}}-', not {value!r}."
        )
    try:
        value.format("field")
    except (IndexError, KeyError, ValueError) as err:
        raise AnymailConfigurationError(
            f"{source} {value!r} is not a usable str.format() string ({err}). Use '{{}}' "
            "where the field name goes, and double any literal brace: '{{{{{{}}}}}}' "
            "gives {{field}}."
        ) from err
    return value


class SendGridPayload(RequestsPayload):
    """A message as SendGrid's Mail Send JSON body (``self.body``).

    Recipients, metadata and merge data all shape the personalizations, which
    :meth:`finish` builds from ``self.data`` once every hook has run: their hooks
    (:meth:`in_personalizations`) have nothing to do.

    Addresses go as SendGrid's email objects (:meth:`EmailAddress.as_object`): the name
    apart from the address (no quoting needed). The spec types ``email`` as JSON
    Schema's "email" (RFC 5321, ASCII): an internationalized domain is sent in its IDNA
    form (``user@xn--bcher-kva.example``; an invalid one raises AnymailInvalidAddress
    before anything is sent)."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.extra: dict[str, Any] = {}
        self.merge_field_format: str | None = backend.merge_field_format
        #: {recipient addr_spec: anymail_id (or None)}, from the final personalizations
        self.message_ids: dict[str, str | None] = {}
        super().__init__(message, defaults, backend)

    # --- the request ---

    def init_payload(self) -> None:
        self.headers["Content-Type"] = "application/json"
        self.body: dict[str, Any] = {}
        self.content: list[dict[str, str]] = []

    def get_api_endpoint(self) -> str:
        return "mail/send"

    def serialize_data(self) -> str:
        return self.serialize_json(self.body)

    def finish(self) -> None:
        if self.content:
            self.body["content"] = sorted(
                self.content, key=lambda part: _CONTENT_ORDER.get(part["type"].lower(), 2)
            )
        self.body["personalizations"] = self.build_personalizations()
        self.add_extra()
        self.message_ids = self.find_message_ids()

    # --- the set_* methods the base payload calls ---

    def in_personalizations(self, *values: Any) -> None:
        """The hook of everything the personalizations hold (see the class docstring)."""

    set_recipients = set_metadata = set_merge_metadata = in_personalizations
    set_merge_data = set_merge_global_data = in_personalizations

    def set_from_email(self, email: EmailAddress) -> None:
        self.body["from"] = email.as_object()

    def set_subject(self, subject: str) -> None:
        # SendGrid refuses an empty subject (minLength 1); a template may supply one.
        if subject:
            self.body["subject"] = subject

    def set_text_body(self, body: str) -> None:
        self.add_content(body, "text/plain")

    def set_html_body(self, body: str) -> None:
        self.add_content(body, "text/html")

    def add_alternative(self, content: str | bytes, mimetype: str) -> None:
        if isinstance(content, bytes):
            try:
                content = content.decode(self.data.encoding)
            except UnicodeDecodeError as err:
                raise AnymailSerializationError(
                    f"SendGrid sends alternative parts as text: the {mimetype} alternative "
                    f"isn't valid {self.data.encoding}.",
                    field="alternatives",
                    orig_err=err,
                    email_message=self.message,
                    backend=self.backend,
                ) from err
        self.add_content(content, mimetype)

    def add_content(self, value: str, mimetype: str) -> None:
        # An empty part is refused (minLength 1): with a template, the template's own
        # body is used instead.
        if value:
            self.content.append({"type": mimetype, "value": value})

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        # One address is `reply_to`; several are `reply_to_list`, never both (SendGrid
        # refuses a request with both, and a repeated address in the list: see
        # https://www.twilio.com/docs/sendgrid/api-reference/mail-send, "Multiple
        # Reply-To Emails"). A repeat, compared in IDNA form and ignoring case, is left
        # out (the first one's name is kept). More than 1000 are SendGrid's to refuse.
        unique: dict[str, dict[str, str]] = {}
        for email in emails:
            item = email.as_object()
            unique.setdefault(item["email"].lower(), item)
        items = list(unique.values())
        if len(items) == 1:
            self.body["reply_to"] = items[0]
        elif items:
            self.body["reply_to_list"] = items

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        allowed = {}
        for name, value in headers.items():
            if name.lower() in RESERVED_HEADERS:
                self.unsupported_feature(
                    Feature.HEADERS, f"SendGrid doesn't allow setting the {name} header"
                )
                continue
            allowed[name] = value
        if allowed:
            self.body["headers"] = allowed

    def add_attachment(self, attachment: Attachment) -> None:
        # SendGrid requires a filename, and an inline part's Content-ID: one without is
        # refused (or left out, under IGNORE_UNSUPPORTED_FEATURES).
        filename = self.attachment_filename(attachment)
        if filename is None:
            return
        item = {"content": attachment.b64content, "type": attachment.mimetype}
        if attachment.inline:
            # The inline part's own name if it has one (its cid otherwise): HTML finds
            # it by its cid anyway.
            item.update(
                disposition="inline", content_id=filename, filename=attachment.name or filename
            )
        else:
            item.update(disposition="attachment", filename=filename)
        self.body.setdefault("attachments", []).append(item)

    def set_send_at(self, send_at: datetime) -> None:
        # Whole seconds: SendGrid's send_at is an integer unix timestamp.
        self.body["send_at"] = int(send_at.timestamp())

    def set_tags(self, tags: list[str]) -> None:
        categories = list(dict.fromkeys(tags))  # SendGrid refuses repeated categories
        too_long = [tag for tag in categories if len(tag) > MAX_CATEGORY_LENGTH]
        if too_long:
            self.unsupported_feature(
                Feature.TAGS,
                f"SendGrid categories are at most {MAX_CATEGORY_LENGTH} characters long",
            )
            categories = [tag for tag in categories if tag not in too_long]
        if len(categories) > MAX_CATEGORIES:
            self.unsupported_feature(
                Feature.TAGS,
                f"SendGrid allows at most {MAX_CATEGORIES} categories per message "
                f"(this message has {len(categories)} tags)",
            )
            categories = categories[:MAX_CATEGORIES]
        if categories:
            self.body["categories"] = categories

    def set_track_clicks(self, track_clicks: bool) -> None:
        tracking = self.body.setdefault("tracking_settings", {})
        tracking["click_tracking"] = {"enable": track_clicks}

    def set_track_opens(self, track_opens: bool) -> None:
        tracking = self.body.setdefault("tracking_settings", {})
        tracking["open_tracking"] = {"enable": track_opens}

    def set_template_id(self, template_id: str) -> None:
        self.body["template_id"] = template_id

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)
        if "merge_field_format" in self.extra:
            # Anymail's own key (not a SendGrid field): overrides SENDGRID_MERGE_FIELD_FORMAT.
            self.merge_field_format = check_merge_field_format(
                self.extra.pop("merge_field_format"), 'esp_extra["merge_field_format"]'
            )

    # --- personalizations ---

    @property
    def is_dynamic_template(self) -> bool:
        """Dynamic templates have ids starting "d-" and take Handlebars data as JSON."""
        return str(self.body.get("template_id", "")).startswith("d-")

    def build_personalizations(self) -> list[dict[str, Any]]:
        """One personalization for the message, or one per "to" recipient in a batch
        send (merge_data or merge_metadata), each with cc and bcc copied in."""
        to = self.data.to
        if not to:
            raise AnymailUnsupportedFeature(
                "SendGrid needs at least one 'to' recipient: it can't send a message "
                "with only cc or bcc recipients.",
                email_message=self.message,
                payload=self,
                backend=self.backend,
            )
        groups = [[email] for email in to] if self.data.is_batch else [to]
        return [self.personalization(group) for group in groups]

    def personalization(self, to: list[EmailAddress]) -> dict[str, Any]:
        data = self.data
        personalization: dict[str, Any] = {"to": [email.as_object() for email in to]}
        if data.cc:
            personalization["cc"] = [email.as_object() for email in data.cc]
        if data.bcc:
            personalization["bcc"] = [email.as_object() for email in data.bcc]

        # A batch send's personalization is one "to" recipient's: their own data.
        recipient = to[0] if data.is_batch else None
        own_metadata = recipient_entry(data.merge_metadata, recipient) if recipient else None
        own_data = recipient_entry(data.merge_data, recipient) if recipient else None
        custom_args = {
            key: self.custom_arg(key, value)
            for key, value in {**(data.metadata or {}), **(own_metadata or {})}.items()
        }
        if self.backend.generate_message_id:
            custom_args[MESSAGE_ID_ARG] = str(uuid.uuid4())
        if custom_args:
            personalization["custom_args"] = custom_args

        merge_data = {**(data.merge_global_data or {}), **(own_data or {})}
        if merge_data or data.merge_data is not None:
            if self.is_dynamic_template:
                personalization["dynamic_template_data"] = merge_data
            else:
                personalization["substitutions"] = {
                    self.merge_field(key): self.substitution(key, value, recipient)
                    for key, value in merge_data.items()
                }
        return personalization

    def custom_arg(self, key: str, value: Any) -> str:
        """SendGrid's custom args are strings: anything else is sent as JSON."""
        return value if isinstance(value, str) else self.serialize_json(value, f"metadata[{key!r}]")

    def merge_field(self, key: str) -> str:
        """A legacy template's substitution tag for a merge_data key."""
        return key if self.merge_field_format is None else self.merge_field_format.format(key)

    def substitution(self, key: str, value: Any, recipient: EmailAddress | None) -> str:
        """Legacy substitutions are text: strings and numbers only."""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        field = (
            f"merge_data[{recipient.addr_spec!r}][{key!r}]"
            if recipient is not None
            and key in (recipient_entry(self.data.merge_data, recipient) or {})
            else f"merge_global_data[{key!r}]"
        )
        raise AnymailSerializationError(
            f"SendGrid legacy templates substitute text: `{field}` is "
            f"{type(value).__name__} {value!r}. Convert it to a str first (or use a "
            'dynamic template, whose id starts "d-", for structured data).',
            field=field,
            email_message=self.message,
            payload=self,
            backend=self.backend,
        )

    # --- esp_extra ---

    def add_extra(self) -> None:
        """Deep-merge esp_extra into the body. ``personalizations`` is special: a dict
        is merged into every personalization, a list replaces them all."""
        extra = dict(self.extra)
        personalizations = extra.pop("personalizations", None)
        # SendGrid refuses reply_to with reply_to_list: one in esp_extra replaces
        # whichever of the two Anymail built from the message's reply_to.
        for key, other in (("reply_to", "reply_to_list"), ("reply_to_list", "reply_to")):
            if key in extra:
                self.body.pop(other, None)
        self.body = deep_merge(self.body, extra)
        if personalizations is None:
            return
        if isinstance(personalizations, Mapping):
            self.body["personalizations"] = [
                deep_merge(personalization, personalizations)
                for personalization in self.body["personalizations"]
            ]
        elif isinstance(personalizations, list | tuple) and all(
            isinstance(item, Mapping) for item in personalizations
        ):
            replaced = [dict(item) for item in personalizations]
            if self.backend.generate_message_id:
                # Keep status tracking working for the caller's own personalizations.
                for personalization in replaced:
                    custom_args = dict(personalization.get("custom_args") or {})
                    custom_args.setdefault(MESSAGE_ID_ARG, str(uuid.uuid4()))
                    personalization["custom_args"] = custom_args
            self.body["personalizations"] = replaced
        else:
            raise AnymailSerializationError(
                'esp_extra["personalizations"] must be a dict (merged into each '
                "personalization) or a list of dicts (replacing them), not "
                f"{type(personalizations).__name__}.",
                field='esp_extra["personalizations"]',
                email_message=self.message,
                payload=self,
                backend=self.backend,
            )

    def find_message_ids(self) -> dict[str, str | None]:
        """Each recipient's anymail_id, read from the personalizations as sent (a cc
        or bcc copied into several batch personalizations gets the first one's), keyed
        by the address as the message gave it (not its IDNA form, as sent)."""
        as_given = {email.idna_addr_spec: email.addr_spec for email in self.data.all_recipients}
        ids: dict[str, str | None] = {}
        for personalization in self.body["personalizations"]:
            custom_args = personalization.get("custom_args")
            message_id = (
                custom_args.get(MESSAGE_ID_ARG) if isinstance(custom_args, Mapping) else None
            )
            for kind in ("to", "cc", "bcc"):
                for recipient in personalization.get(kind) or ():
                    email = recipient.get("email") if isinstance(recipient, Mapping) else None
                    if isinstance(email, str):
                        ids.setdefault(as_given.get(email, email), message_id)
        return ids


class EmailBackend(AnymailRequestsBackend):
    """SendGrid's v3 Mail Send API, as a Django email backend."""

    esp = ESP
    payload_class = SendGridPayload
    default_api_url = DEFAULT_API_URL
    api_key_setting = "api_key"

    def __init__(self, **kwargs: Any) -> None:
        self.generate_message_id: bool = bool(
            get_anymail_setting(
                "generate_message_id", esp_name=self.esp_id, kwargs=kwargs, default=True
            )
        )
        self.merge_field_format: str | None = check_merge_field_format(
            get_anymail_setting(
                "merge_field_format", esp_name=self.esp_id, kwargs=kwargs, default=None
            ),
            "SENDGRID_MERGE_FIELD_FORMAT",
        )
        super().__init__(**kwargs)

    def api_credentials(self) -> ApiCredentials:
        return ApiCredentials.bearer(self.api_key)

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """SendGrid's own error messages (and the field each names), plus how to fix
        the errors whose cause is usually a setting."""
        messages = []
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        for error in errors if isinstance(errors, list) else ():
            if isinstance(error, Mapping) and error.get("message"):
                field = error.get("field")
                messages.append(
                    f"{error['message']} (field {field})"
                    if field and field != "null"
                    else str(error["message"])
                )
        hint = None
        if response.status_code == 401:
            hint = (
                "SendGrid refused the API key: check SENDGRID_API_KEY. (An EU-regional "
                'subuser\'s key needs SENDGRID_API_URL = "https://api.eu.sendgrid.com/v3/"; '
                f"this backend used {self.api_url!r}.)"
            )
        elif response.status_code == 403:
            hint = 'SENDGRID_API_KEY needs the "Mail Send" permission.'
        parts = []
        if messages:
            parts.append("SendGrid: " + "; ".join(messages))
        if hint:
            parts.append(hint)
        return " ".join(parts) or None

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, SendGridPayload)
        # Mail Send answers 202 with no body (or, in sandbox mode, 200). A 2xx whose
        # body is neither empty nor JSON came from something else at SENDGRID_API_URL.
        if response.content.strip():
            self.deserialize_json_response(response, payload, message)
        # SendGrid only queues the message: each recipient's fate arrives by webhook.
        return {
            email: AnymailRecipientStatus(message_id=message_id, status="queued")
            for email, message_id in payload.message_ids.items()
        }
