"""Anymail's Mailgun backend: sends through Mailgun's messages API.

Every message is one form post to ``<MAILGUN_API_URL>/<sender domain>/messages``,
authenticated with HTTP basic auth as user "api" with the API key
(:meth:`EmailBackend.api_credentials`). (A message with an empty body and no
template goes to ``messages.mime`` instead, as the MIME message Django would send:
the ``messages`` endpoint refuses a message with no text, html or template.)

A ``template_id`` is Mailgun's ``template`` (a template stored at Mailgun, rendered
with its fork of Handlebars): see :meth:`MailgunPayload.add_variables` for how merge
data reaches it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage as MIMEMessage
from email.utils import formatdate, getaddresses
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.core.mail import EmailMessage

from anymail import exceptions
from anymail.addresses import EmailAddress, recipient_entry
from anymail.attachments import Attachment
from anymail.backends.base import BasePayload
from anymail.backends.base_requests import AnymailRequestsBackend, RequestsPayload
from anymail.backends.transport import ApiCredentials
from anymail.dates import rfc2822date
from anymail.esps.mailgun import ESP
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailSerializationError,
)
from anymail.message import AnymailRecipientStatus
from anymail.settings import get_anymail_setting

if TYPE_CHECKING:
    import requests

__all__ = ["DEFAULT_API_URL", "EmailBackend", "MailgunPayload"]

#: Mailgun's US region. EU-region domains use "https://api.eu.mailgun.net/v3".
DEFAULT_API_URL = "https://api.mailgun.net/v3"

# One or more DNS labels: what a Mailgun sending domain can look like.
_DOMAIN = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)(\.(?!-)[\w-]{1,63}(?<!-))*\.?$")

#: The fields that give Mailgun the message's content: ``messages`` refuses a message
#: with none of them (or only empty ones).
_CONTENT_FIELDS = frozenset({"text", "html", "amp-html", "template"})

#: The MIME headers that hold addresses (for the SMTPUTF8 check of messages.mime).
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})

# Addresses: Mailgun's API and SMTP need an internationalized domain in its IDNA
# (punycode) form, so every address goes as EmailAddress.idna_address ("Name
# <user@xn--bcher-kva.example>": the display name stays as it is, Mailgun encodes a
# non-ASCII one itself) and every key that must match an address as idna_addr_spec.


def _keys(per_recipient: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """Every key of a per-recipient dict (merge_data, merge_metadata), in first-seen order."""
    keys: dict[str, None] = {}
    for values in (per_recipient or {}).values():
        keys.update(dict.fromkeys(values))
    return list(keys)


#: What a multipart/form-data Content-Disposition parameter (a field name or filename)
#: escapes, as browsers, curl and urllib3 (which ``requests`` uses) do, following the
#: WHATWG HTML standard: CR, LF and the double quote, percent-encoded. Everything else
#: goes as it is, in UTF-8 (so a non-ASCII filename arrives as its UTF-8 bytes).
_PARAM_ESCAPES = str.maketrans({"\n": "%0A", "\r": "%0D", '"': "%22"})


def _form_data(
    fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, tuple[str | None, bytes, str]]]
) -> tuple[bytes, str]:
    """The multipart/form-data body of ``fields`` then ``files``, and its Content-Type.

    Byte for byte (but for the random boundary) the body ``requests`` builds from
    ``data=fields, files=files`` through urllib3's ``encode_multipart_formdata``, built
    directly: the text between two files' contents (part headers, field values) as one
    string encoded once, and one join of it all.
    """
    boundary = secrets.token_hex(16)  # as urllib3's: 32 random hex digits
    delimiter = f"--{boundary}\r\n"
    text = [
        f'{delimiter}Content-Disposition: form-data; name="{name.translate(_PARAM_ESCAPES)}"'
        f"\r\n\r\n{value}\r\n"
        for name, value in fields
    ]
    chunks: list[bytes] = []
    for name, (filename, content, content_type) in files:
        text.append(
            f'{delimiter}Content-Disposition: form-data; name="{name.translate(_PARAM_ESCAPES)}"'
        )
        if filename is not None:
            text.append(f'; filename="{filename.translate(_PARAM_ESCAPES)}"')
        if content_type:
            text.append(f"\r\nContent-Type: {content_type}")
        text.append("\r\n\r\n")
        chunks += ["".join(text).encode("utf-8"), content]
        text = ["\r\n"]
    text.append(f"--{boundary}--\r\n")
    chunks.append("".join(text).encode("utf-8"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _idna_domain(domain: str) -> str | None:
    """A sending domain in its ASCII (IDNA) form; None if it has none."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


class MailgunPayload(RequestsPayload):
    """A message as Mailgun's messages API form fields (``self.fields``) and files."""

    backend: EmailBackend

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: EmailBackend
    ) -> None:
        self.from_domain: str | None = None
        self.sender_domain: str | None = None
        self.domain_source = ""
        self.extra: dict[str, Any] = {}
        self.attachments: list[Attachment] = []
        #: "messages", or "messages.mime" for a message with an empty body (and no template)
        self.endpoint = "messages"
        super().__init__(message, defaults, backend)

    # --- the request ---

    def init_payload(self) -> None:
        #: (name, value) form fields, in order; names repeat (to, o:tag, ...)
        self.fields: list[tuple[str, str]] = []
        self.files = []

    def finish(self) -> None:
        # Metadata, merge data and esp_extra interact: write them once all are known.
        self.add_variables()
        self.add_extra()
        if not any(name in _CONTENT_FIELDS and value for name, value in self.fields):
            self.send_as_mime()
        self.resolve_sender_domain()

    def get_api_endpoint(self) -> str:
        assert self.sender_domain is not None
        return f"{quote(self.sender_domain, safe='')}/{self.endpoint}"

    def serialize_data(self) -> list[tuple[str, str]]:
        return self.fields

    def get_request_params(self, api_url: str) -> dict[str, Any]:
        if not self.files:
            # Without files, a urlencoded form (as requests sends ``data`` alone).
            return super().get_request_params(api_url)
        # With files, a multipart/form-data post: built here, as bytes, rather than by
        # requests and urllib3 field by field (the same body). (Built before the params
        # are, so text that can't be encoded fails with no credentials in this frame.)
        body, content_type = _form_data(self.fields, self.files)
        params = super().get_request_params(api_url)
        params.update(
            data=body,
            files=None,
            headers={**(params["headers"] or {}), "Content-Type": content_type},
        )
        return params

    # --- a message with an empty body ---

    def send_as_mime(self) -> None:
        """Send a message with an empty body as the MIME message Django would send.

        Mailgun's ``messages`` endpoint refuses a message without a non-empty text,
        html, amp-html or template ("Need at least one of 'text', 'html', 'amp-html'
        or 'template' parameters specified"; an empty text counts as none). Django
        sends such a message with an empty text/plain part, and so does this, through
        ``messages.mime``: the addresses, subject, headers and attachments go in the
        MIME message, every recipient (Bcc too) in ``to`` fields, and the options
        (``o:``, ``v:``, ``recipient-variables``, ...) as they are.
        """
        headers: list[tuple[str, str]] = []
        to: list[str] = []
        cc: list[str] = []
        envelope: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        html = False
        for name, value in self.fields:
            if name in ("to", "cc", "bcc"):
                envelope.append(("to", value))
                {"to": to, "cc": cc}.get(name, []).append(value)
            elif name in ("from", "subject"):
                headers.append((name.capitalize(), value))
            elif name.startswith("h:"):
                headers.append((name[2:], value))
            elif name in _CONTENT_FIELDS:
                html = html or name == "html"  # an empty html body: an empty html part
            else:
                options.append((name, value))
        if to:
            headers.append(("To", ", ".join(to)))
        if cc:
            headers.append(("Cc", ", ".join(cc)))
        if not any(name.lower() == "date" for name, _value in headers):
            headers.append(("Date", formatdate()))

        # A local part that isn't ASCII can only go as UTF-8 (SMTPUTF8); otherwise
        # non-ASCII display names and subjects are RFC 2047 encoded.
        addresses = getaddresses([v for n, v in headers if n.lower() in _ADDRESS_HEADERS])
        ascii_only = all(addr_spec.isascii() for _name, addr_spec in addresses)
        mime_policy = policy.SMTP if ascii_only else policy.SMTPUTF8
        mime = MIMEMessage(policy=mime_policy)
        for name, value in headers:
            if mime_policy.header_max_count(name) == 1:
                del mime[name]  # an extra header replaces Anymail's (as in Django)
            mime[name] = value
        mime.set_content("", subtype="html" if html else "plain")
        mime.set_payload("")  # empty, as Django sends it (set_content adds a line break)
        # (Inline parts first: they make the body multipart/related, and the
        # attachments then wrap it in multipart/mixed.)
        for attachment in sorted(self.attachments, key=lambda attachment: not attachment.inline):
            maintype, _slash, subtype = attachment.mimetype.partition("/")
            if not (maintype and subtype):
                maintype, subtype = "application", "octet-stream"
            if attachment.inline:
                mime.add_related(
                    attachment.content,
                    maintype,
                    subtype,
                    disposition="inline",
                    cid=f"<{attachment.content_id}>",
                    filename=attachment.name or None,
                )
            else:
                mime.add_attachment(attachment.content, maintype, subtype, filename=attachment.name)
        self.fields = envelope + options
        # (As a file upload, typed as curl types Mailgun's own "-F message=@file.mime".)
        self.files = [("message", ("message.mime", mime.as_bytes(), "application/octet-stream"))]
        self.endpoint = "messages.mime"

    # --- sender domain ---

    def resolve_sender_domain(self) -> None:
        """The Mailgun sending domain: esp_extra's older "sender_domain" key, else the
        envelope_sender's domain, else MAILGUN_SENDER_DOMAIN, else the From domain."""
        candidates = [
            (self.extra.pop("sender_domain", None), 'esp_extra["sender_domain"]'),
            (self.sender_domain, "the domain of envelope_sender"),
            (self.backend.sender_domain, "MAILGUN_SENDER_DOMAIN"),
            (self.from_domain, "the domain of from_email"),
        ]
        domain, source = next(
            ((str(value), source) for value, source in candidates if value),
            (None, "no from_email"),
        )
        self.sender_domain, self.domain_source = domain, source
        ascii_domain = _idna_domain(domain) if domain and _DOMAIN.match(domain) else None
        if ascii_domain is None:
            hint = (
                " It looks like a whole address or URL: give only the domain part."
                if domain and ("@" in domain or "/" in domain)
                else ""
            )
            raise AnymailConfigurationError(
                f"Invalid Mailgun sender domain {domain!r} (from {source}).{hint} "
                "Set MAILGUN_SENDER_DOMAIN (or the message's envelope_sender) to the sending "
                'domain you added in Mailgun, e.g. "mail.example.com".'
            )
        # Mailgun knows an internationalized sending domain by its IDNA form.
        self.sender_domain = ascii_domain

    # --- the set_* methods the base payload calls ---

    def set_from_email(self, email: EmailAddress) -> None:
        self.fields.append(("from", email.idna_address))
        self.from_domain = email.domain

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        for email in emails:
            self.fields.append((recipient_type, email.idna_address))

    def set_subject(self, subject: str) -> None:
        self.fields.append(("subject", subject))

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self.fields.append(("h:Reply-To", ", ".join(email.idna_address for email in emails)))

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            self.fields.append((f"h:{name}", value))

    def set_text_body(self, body: str) -> None:
        self.fields.append(("text", body))

    def set_html_body(self, body: str) -> None:
        self.fields.append(("html", body))

    def add_attachment(self, attachment: Attachment) -> None:
        # Mailgun silently drops an attachment without a filename, and names an
        # inline part's Content-ID after its filename: refuse what would be lost.
        filename = self.attachment_filename(attachment)
        if filename is None:  # refused, under IGNORE_UNSUPPORTED_FEATURES
            return
        field = "inline" if attachment.inline else "attachment"
        assert self.files is not None
        self.files.append((field, (filename, attachment.content, attachment.mimetype)))
        self.attachments.append(attachment)

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # Mailgun's envelope sender is bounce+...@<sending domain>: only the domain applies.
        self.sender_domain = email.domain

    def set_send_at(self, send_at: datetime) -> None:
        self.fields.append(("o:deliverytime", rfc2822date(send_at)))

    def set_tags(self, tags: list[str]) -> None:
        self.fields += [("o:tag", tag) for tag in tags]

    def set_track_clicks(self, track_clicks: bool) -> None:
        self.fields.append(("o:tracking-clicks", "yes" if track_clicks else "no"))

    def set_track_opens(self, track_opens: bool) -> None:
        self.fields.append(("o:tracking-opens", "yes" if track_opens else "no"))

    def set_template_id(self, template_id: str) -> None:
        # An empty name would leave the message without content (and Mailgun without
        # a template to render): refuse it rather than send something else.
        if not template_id.strip():
            raise AnymailSerializationError(
                f"`template_id` is {template_id!r}: give the name of a template stored at "
                "Mailgun, or leave template_id unset (None) to send the message's own body.",
                field="template_id",
                email_message=self.message,
                payload=self,
                backend=self.backend,
            )
        self.fields.append(("template", template_id))

    def in_variables(self, *values: Any) -> None:
        """The hook of metadata and merge data: :meth:`add_variables` writes them (in
        :meth:`finish`, from ``self.data``), as they interact."""

    set_metadata = set_merge_metadata = set_merge_data = set_merge_global_data = in_variables

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)

    # --- user variables, template variables and recipient-variables ---

    def add_variables(self) -> None:
        """Write metadata as ``v:`` fields, and merge data as recipient-variables and
        (with a template) ``t:variables``.

        Metadata: each key a ``v:<key>`` field (Mailgun's "user variables"). Per-
        recipient metadata goes in recipient-variables under "v:<key>" (so it can't
        collide with a merge field), and the message's ``v:<key>`` field refers to it
        as ``%recipient.v:<key>%``, which Mailgun substitutes per recipient. A
        recipient without a value for a key gets the message's metadata value, or ""
        (Mailgun would otherwise send the literal placeholder).

        Without a template, merge data is recipient-variables only, for the
        ``%recipient.<key>%`` substitutions in the message's own subject and bodies;
        Mailgun has no global merge data, so merge_global_data is copied into every
        recipient's variables.

        With a template (Mailgun's "Templates" and "Sending Messages" user manual
        pages, and the messages API reference):

        - merge_global_data is ``t:variables``, the JSON the template renders with.
        - per-recipient merge_data goes in recipient-variables, and each of its keys
          also as a ``v:<key>`` field of ``%recipient.<key>%``. A template renders
          with ``v:`` variables as well as ``t:variables``, and Mailgun substitutes
          recipient variables into ``v:`` values per recipient, so ``{{key}}`` in the
          template gives each recipient their own value (as does ``%recipient.key%``).
        - ``t:variables`` override ``v:`` variables of the same name, so a key that
          is also in merge_global_data is left out of ``t:variables``: a recipient
          without their own value gets the global one through their recipient-
          variables (or ""). For the same reason, metadata (``v:``) whose key is
          also global merge data still reaches webhooks unchanged while the template
          renders the merge data.
        """
        data = self.data
        metadata = data.metadata or {}
        merge_metadata_keys = _keys(data.merge_metadata)
        template = data.template_id is not None
        merge_keys = _keys(data.merge_data) if template else []
        if merge_keys:
            self.check_template_merge_keys(merge_keys, merge_metadata_keys)

        for key, value in metadata.items():
            if key not in merge_metadata_keys:
                self.fields.append((f"v:{key}", self.variable_value(key, value)))
        for key in merge_metadata_keys:
            self.fields.append((f"v:{key}", f"%recipient.v:{key}%"))
        for key in merge_keys:
            self.fields.append((f"v:{key}", f"%recipient.{key}%"))

        global_data = data.merge_global_data or {}
        if template:
            template_variables = {
                key: value for key, value in global_data.items() if key not in merge_keys
            }
            if template_variables:
                self.fields.append(
                    ("t:variables", self.serialize_json(template_variables, "merge_global_data"))
                )

        if not data.is_batch and (template or not global_data):
            return
        recipient_variables: dict[str, dict[str, Any]] = {}
        for email in data.to:
            own = recipient_entry(data.merge_data, email) or {}
            if template:
                variables = {key: own.get(key, global_data.get(key, "")) for key in merge_keys}
            else:
                variables = {**global_data, **own}
            own_metadata = recipient_entry(data.merge_metadata, email) or {}
            for key in merge_metadata_keys:
                value = own_metadata.get(key, metadata.get(key, ""))
                variables[f"v:{key}"] = value
            # Mailgun matches these keys against the (IDNA-encoded) "to" addresses.
            recipient_variables[email.idna_addr_spec] = variables
        self.fields.append(
            ("recipient-variables", self.serialize_json(recipient_variables, "merge_data"))
        )

    def check_template_merge_keys(
        self, merge_keys: list[str], merge_metadata_keys: list[str]
    ) -> None:
        """A template reads per-recipient merge data through ``v:<key>`` fields, where
        metadata lives too: one name can't be both."""
        merge_data = self.data.merge_data
        assert merge_data is not None
        for key in merge_keys:
            if key in (self.data.metadata or {}):
                other = "metadata"
            elif key in merge_metadata_keys:
                other = "merge_metadata"
            else:
                continue
            recipient = next(addr for addr, values in merge_data.items() if key in values)
            raise AnymailSerializationError(
                f"`merge_data[{recipient!r}][{key!r}]` can't be sent with a Mailgun template: "
                f"the template reads per-recipient merge data as the `v:{key}` variable, "
                f"which is also the message's {other} key {key!r}. Rename the merge field "
                f"(in the template and in merge_data) or the {other} key.",
                field=f"merge_data[{recipient!r}][{key!r}]",
                email_message=self.message,
                payload=self,
                backend=self.backend,
            )

    def variable_value(self, key: str, value: Any) -> str:
        """A ``v:`` field's value: strings as they are, anything else as JSON."""
        return value if isinstance(value, str) else self.serialize_json(value, f"metadata[{key!r}]")

    def add_extra(self) -> None:
        """esp_extra fields go to Mailgun as they are, replacing any field of the same name."""
        fields = {name: value for name, value in self.extra.items() if name != "sender_domain"}
        if not fields:
            return
        self.fields = [(name, value) for name, value in self.fields if name not in fields]
        for name, value in fields.items():
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                self.fields.append((name, self.extra_value(name, item)))

    def extra_value(self, name: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return self.serialize_json(value, f"esp_extra[{name!r}]")
        return str(value)


class EmailBackend(AnymailRequestsBackend):
    """Mailgun's messages API, as a Django email backend."""

    esp = ESP
    payload_class = MailgunPayload
    default_api_url = DEFAULT_API_URL
    api_key_setting = "api_key"

    def __init__(self, **kwargs: Any) -> None:
        #: MAILGUN_SENDER_DOMAIN: the sending domain, when not the From address's
        self.sender_domain: str | None = get_anymail_setting(
            "sender_domain", esp_name=self.esp_id, kwargs=kwargs, default=None
        )
        super().__init__(**kwargs)

    def api_credentials(self) -> ApiCredentials:
        # Mailgun's API: basic auth, user "api", the API key as the password.
        return ApiCredentials.basic("api", self.api_key)

    def error_hint(self, response: requests.Response, payload: BasePayload) -> str | None:
        """Say how to fix the mistakes that give Mailgun's least helpful errors."""
        assert isinstance(payload, MailgunPayload)
        region = (
            f'(Mailgun\'s EU region needs MAILGUN_API_URL = "https://api.eu.mailgun.net/v3"; '
            f"this backend used {self.api_url!r}.)"
        )
        if response.status_code == 404 and "domain" in response.text.lower():
            return (
                f"Mailgun has no sending domain {payload.sender_domain!r} ({payload.domain_source}). "
                "Use a domain you have added to Mailgun: set MAILGUN_SENDER_DOMAIN, or the "
                "message's envelope_sender, to it. " + region
            )
        if response.status_code == 401:
            return "Mailgun refused the API key: check MAILGUN_API_KEY. " + region
        return None

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, MailgunPayload)
        parsed = self.deserialize_json_response(response, payload, message)
        message_id = parsed.get("id") if isinstance(parsed, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise exceptions.AnymailRequestsAPIError(
                "Invalid Mailgun API response format: no message id",
                email_message=message,
                payload=payload,
                response=response,
                backend=self,
            )
        # Mailgun only queues the message: each recipient's fate arrives by webhook.
        status = AnymailRecipientStatus(message_id=message_id, status="queued")
        return {email.addr_spec: status for email in payload.data.all_recipients}
