"""Normalized message data: a Django ``EmailMessage`` and its Anymail attributes,
merged with the send defaults, as plain typed values.

This is the first step of every send: ESP payloads only ever see a
:class:`MessageData` (parsed addresses, aware datetimes, resolved lazy strings,
attachments split from inline images, Django's SMTP header semantics applied).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.mail import EmailMessage
from django.utils.encoding import force_str

from anymail.addresses import EmailAddress, parse_address_list, parse_single_address
from anymail.attachments import Attachment
from anymail.exceptions import AnymailSerializationError, AnymailWarning
from anymail.features import feature_specs
from anymail.headers import Headers
from anymail.message import ANYMAIL_ATTRIBUTES
from anymail.normalize import json_dict
from anymail.settings import UNSET, force_non_lazy, merge_with_default

__all__ = ["DEFAULTABLE_ATTRIBUTES", "MessageData"]

#: EmailMessage attributes that SEND_DEFAULTS may also supply: every attribute
#: (the docs: SEND_DEFAULTS "work for all django.core.mail.EmailMessage attributes").
DJANGO_ATTRIBUTES = (
    "from_email",
    "to",
    "cc",
    "bcc",
    "reply_to",
    "subject",
    "body",
    "extra_headers",
    "attachments",
    "alternatives",
    "encoding",
    "content_subtype",
    "mixed_subtype",
    "alternative_subtype",
)
DEFAULTABLE_ATTRIBUTES = frozenset(ANYMAIL_ATTRIBUTES) | frozenset(DJANGO_ATTRIBUTES) | {"headers"}
#: Defaults that apply to the message object itself (not merged into MessageData):
#: set on the message before it is read, when the message doesn't set them.
MESSAGE_OBJECT_DEFAULTS = ("encoding", "content_subtype", "mixed_subtype", "alternative_subtype")


@dataclass
class MessageData:
    """Everything an ESP needs to know about one message, normalized.

    Values that were not set are None (or empty), so enforcement and ESP payloads
    can tell "not used" from "used". Each feature's attribute is named by its
    :class:`~anymail.features.FeatureSpec`.
    """

    from_email: list[EmailAddress] = field(default_factory=list)
    to: list[EmailAddress] = field(default_factory=list)
    cc: list[EmailAddress] = field(default_factory=list)
    bcc: list[EmailAddress] = field(default_factory=list)
    reply_to: list[EmailAddress] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    #: (content, mimetype) alternatives other than the HTML body
    alternatives: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    inline_attachments: list[Attachment] = field(default_factory=list)
    #: extra headers, case-insensitive, without From / To / Reply-To (handled above)
    headers: Headers = field(default_factory=Headers)
    #: the To header shown to recipients, when it differs from the envelope recipients
    spoofed_to: list[EmailAddress] | None = None
    envelope_sender: EmailAddress | None = None
    metadata: dict[str, Any] | None = None
    merge_metadata: dict[str, dict[str, Any]] | None = None
    send_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    track_clicks: bool | None = None
    track_opens: bool | None = None
    template_id: str | None = None
    merge_data: dict[str, dict[str, Any]] | None = None
    merge_global_data: dict[str, Any] | None = None
    esp_extra: dict[str, Any] | None = None
    encoding: str = "utf-8"

    @property
    def all_recipients(self) -> list[EmailAddress]:
        return [*self.to, *self.cc, *self.bcc]

    @property
    def is_batch(self) -> bool:
        """Whether each "to" recipient gets an individual message
        (merge_data or merge_metadata is set)."""
        return self.merge_data is not None or self.merge_metadata is not None

    @classmethod
    def from_message(
        cls, message: EmailMessage, defaults: Mapping[str, Any] | None = None
    ) -> MessageData:
        """Normalize ``message``, merged with ``defaults`` (the combined send defaults)."""
        defaults = defaults or {}
        class_defaults = type(message)
        for attr in MESSAGE_OBJECT_DEFAULTS:
            # (Only where the message keeps its class's value: an explicit setting wins.)
            if attr in defaults and getattr(message, attr, None) == getattr(
                class_defaults, attr, None
            ):
                setattr(message, attr, defaults[attr])

        def get(attr: str) -> Any:
            value = getattr(message, attr, UNSET)
            if attr in defaults:
                value = merge_with_default(defaults[attr], value)
            return None if value is UNSET else force_non_lazy(value)

        data = cls(encoding=message.encoding or "utf-8")

        headers_value = get("extra_headers")
        if "headers" in defaults:
            headers_value = merge_with_default(defaults["headers"], headers_value or {})
        headers = Headers()
        for name, value in (headers_value or {}).items():
            name = _text(name, "headers (a header name)", strict=True)
            headers[name] = _text(value, f"headers[{name!r}]", strict=True)
            _no_newlines(name, "headers (a header name)")
            _no_newlines(headers[name], f"headers[{name!r}]")

        data.from_email = parse_address_list(get("from_email"), field="from_email")
        data.to = parse_address_list(get("to"), field="to")
        data.cc = parse_address_list(get("cc"), field="cc")
        data.bcc = parse_address_list(get("bcc"), field="bcc")
        data.reply_to = parse_address_list(get("reply_to"), field="reply_to")

        # Django's SMTP backend semantics for From, To and Reply-To headers:
        if "Reply-To" in headers:
            data.reply_to = parse_address_list(headers.pop("Reply-To"), field="headers['Reply-To']")
        envelope_sender = get("envelope_sender")
        if "From" in headers:
            # The header From is what recipients see; from_email becomes the envelope sender.
            original_from = data.from_email
            data.from_email = parse_address_list(headers.pop("From"), field="headers['From']")
            if envelope_sender is None and original_from:
                envelope_sender = original_from[0].addr_spec
        if "To" in headers:
            data.spoofed_to = parse_address_list(headers.pop("To"), field="headers['To']")
        data.headers = headers

        if envelope_sender is not None:
            data.envelope_sender = parse_single_address(envelope_sender, field="envelope_sender")

        subject = get("subject")
        data.subject = _text(subject, "subject", strict=True) if subject is not None else None
        if data.subject is not None:
            _no_newlines(data.subject, "subject")
        body = get("body")
        body = _text(body, "body", strict=True) if body is not None else None
        if getattr(message, "content_subtype", "plain") == "html":
            data.html = body
        else:
            data.text = body
        for alternative in get("alternatives") or ():
            content, mimetype = alternative[0], alternative[1]
            content = force_str(content) if not isinstance(content, bytes) else content
            if mimetype == "text/html" and data.html is None:
                data.html = content
            else:
                data.alternatives.append((content, mimetype))

        for attachment in get("attachments") or ():
            if (
                isinstance(attachment, list | tuple)
                and len(attachment) == 3
                and attachment[1] is None
            ):
                raise AnymailSerializationError(
                    f"Attachment {attachment[0]!r} has no content (None).", field="attachments"
                )
            parsed = Attachment(attachment, data.encoding)
            (data.inline_attachments if parsed.inline else data.attachments).append(parsed)

        # The Anymail attributes each feature reads straight off the message.
        for spec in feature_specs():
            if spec.normalize is not None:
                setattr(data, spec.attribute, spec.normalize(get(spec.attribute)))
        for tag in data.tags:
            _no_newlines(tag, "tags")
        data.esp_extra = json_dict_or_mapping(get("esp_extra"))
        for name in ("merge_data", "merge_metadata"):
            per_recipient = getattr(data, name)
            for recipient, value in (per_recipient or {}).items():
                if not isinstance(value, Mapping):
                    raise AnymailSerializationError(
                        f"`{name}[{recipient!r}]` must be a dict of values for that "
                        f"recipient, not {type(value).__name__} ({value!r}).",
                        field=f"{name}[{recipient!r}]",
                    )
        _warn_unmatched_recipients(data)
        return data

    def as_send_params(self) -> dict[str, Any]:
        """The data as a plain dict of the attributes that are set (the test backend's
        ``anymail_send_params``)."""
        params: dict[str, Any] = {}
        if self.from_email:
            params["from_email"] = ", ".join(address.address for address in self.from_email)
        for kind in ("to", "cc", "bcc"):
            addresses = getattr(self, kind)
            if addresses:
                params[kind] = [address.address for address in addresses]
        if self.subject is not None:
            params["subject"] = self.subject
        if self.text is not None:
            params["text_body"] = self.text
        if self.html is not None:
            params["html_body"] = self.html
        for spec in feature_specs():
            if spec.name != "from_email" and spec.used(self):
                params[spec.param] = _plain(spec.value(self))
        if self.esp_extra is not None:
            params["esp_extra"] = self.esp_extra
        return params


def _warn_unmatched_recipients(data: MessageData) -> None:
    """merge_data / merge_metadata keys that match no "to" recipient would be dropped
    without a word: warn, naming them (a typo, or a cc/bcc address, which batch
    sends don't personalize)."""
    for name in ("merge_data", "merge_metadata"):
        per_recipient = getattr(data, name)
        if not per_recipient:
            continue
        to = {address.addr_spec.lower() for address in data.to}
        for address in data.to:  # (a key may spell an international domain as IDNA)
            with contextlib.suppress(ValueError):
                to.add(address.idna_addr_spec.lower())
        unmatched = [key for key in per_recipient if str(key).strip().lower() not in to]
        if unmatched:
            warnings.warn(
                f"`{name}` has data for {', '.join(map(repr, unmatched))}, which "
                "is not among the message's `to` addresses: it is not sent. (Batch sends "
                "personalize each `to` recipient; key the data by their addr_spec.)",
                AnymailWarning,
                stacklevel=4,
            )


def _text(value: Any, field: str, strict: bool = False) -> str:
    """force_str, with an Anymail error naming the field for bytes that aren't UTF-8.
    With ``strict``, anything but str or bytes (None, a number) is refused too, rather
    than sent as its Python text ("None", "5")."""
    if strict and not isinstance(value, str | bytes):
        raise AnymailSerializationError(
            f"`{field}` must be a str, not {type(value).__name__} ({value!r}).",
            field=field,
        )
    try:
        return force_str(value)
    except UnicodeDecodeError as err:
        raise AnymailSerializationError(
            f"`{field}` has bytes that aren't UTF-8 ({err.reason} at position {err.start}): "
            "decode it to a str first.",
            field=field,
        ) from None


def _no_newlines(value: str, field: str) -> None:
    """Header injection: Django's own backends refuse CR/LF in headers (BadHeaderError)."""
    if "\n" in value or "\r" in value:
        raise AnymailSerializationError(
            f"`{field}` can't contain newlines (header injection): {value[:60]!r}",
            field=field,
        )


def json_dict_or_mapping(value: Any) -> dict[str, Any] | None:
    """esp_extra: any dict (its values are the ESP's business, not necessarily JSON)."""
    if value is None or isinstance(value, Mapping):
        return None if value is None else dict(value)
    return json_dict(value, "esp_extra")  # raises, naming esp_extra


def _plain(value: Any) -> Any:
    """A feature's value as the test backend reports it: addresses as strings
    (an envelope sender as its bare address), containers copied."""
    if isinstance(value, EmailAddress):
        return value.addr_spec
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple):
        return [item.address if isinstance(item, EmailAddress) else item for item in value]
    return value
