"""The base email backend and payload that every ESP backend builds on.

Sending a message goes through four steps, each in one place:

1. :class:`MessageData` normalizes a Django ``EmailMessage`` and its Anymail
   attributes, merged with the send defaults, into plain typed values (parsed
   addresses, aware datetimes, resolved lazy strings, attachments split from
   inline images, the SMTP backend's header semantics).
2. :func:`anymail.features.enforce` applies the ESP's feature declaration.
3. The ESP's :class:`BasePayload` subclass turns the data into an API request
   through its ``set_*`` methods.
4. The backend posts it and parses the response into ``anymail_status``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.encoding import force_str
from requests.structures import CaseInsensitiveDict

from ..exceptions import (
    AnymailCancelSend,
    AnymailConfigurationError,
    AnymailError,
    AnymailRecipientsRefused,
    AnymailSerializationError,
)
from ..features import Feature, FeatureSupport, enforce, raise_unsupported
from ..message import ANYMAIL_ATTRIBUTES, REFUSED_STATUSES, AnymailRecipientStatus, AnymailStatus
from ..signals import post_send, pre_send
from ..utils import (
    UNSET,
    Attachment,
    EmailAddress,
    force_non_lazy,
    get_anymail_setting,
    merge_with_default,
    parse_address_list,
    parse_single_address,
    to_aware_datetime,
)

__all__ = ["AnymailBaseBackend", "BasePayload", "MessageData"]

#: EmailMessage attributes that SEND_DEFAULTS may also supply.
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
)
DEFAULTABLE_ATTRIBUTES = frozenset(ANYMAIL_ATTRIBUTES) | frozenset(DJANGO_ATTRIBUTES) | {"headers"}


# ---------------------------------------------------------------------------
# Normalized message data


@dataclass
class MessageData:
    """Everything an ESP needs to know about one message, normalized.

    Values that were not set are None (or empty), so ``enforce`` and ESP payloads
    can tell "not used" from "used".
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
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)
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

        def get(attr: str) -> Any:
            value = getattr(message, attr, UNSET)
            if attr in defaults:
                value = merge_with_default(defaults[attr], value)
            return None if value is UNSET else force_non_lazy(value)

        data = cls(encoding=message.encoding or "utf-8")

        headers_value = get("extra_headers")
        if "headers" in defaults:
            headers_value = merge_with_default(defaults["headers"], headers_value or {})
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in (headers_value or {}).items():
            headers[force_str(name)] = force_str(value)

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
        data.subject = force_str(subject) if subject is not None else None
        body = get("body")
        body = force_str(body) if body is not None else None
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
            parsed = Attachment(attachment, data.encoding)
            (data.inline_attachments if parsed.inline else data.attachments).append(parsed)

        data.metadata = _check_json("metadata", _dict_or_none(get("metadata"), "metadata"))
        data.merge_metadata = _check_json(
            "merge_metadata", _dict_or_none(get("merge_metadata"), "merge_metadata")
        )
        send_at = get("send_at")
        data.send_at = to_aware_datetime(send_at) if send_at is not None else None
        data.tags = _tags(get("tags"))
        data.track_clicks = _bool_or_none(get("track_clicks"), "track_clicks")
        data.track_opens = _bool_or_none(get("track_opens"), "track_opens")
        template_id = get("template_id")
        data.template_id = force_str(template_id) if template_id is not None else None
        data.merge_data = _check_json("merge_data", _dict_or_none(get("merge_data"), "merge_data"))
        data.merge_global_data = _check_json(
            "merge_global_data", _dict_or_none(get("merge_global_data"), "merge_global_data")
        )
        data.esp_extra = _dict_or_none(get("esp_extra"), "esp_extra")
        return data

    def as_send_params(self) -> dict[str, Any]:
        """The data as a plain dict of the attributes that are set (the test backend's
        ``anymail_send_params``)."""
        params: dict[str, Any] = {}
        if self.from_email:
            params["from_email"] = ", ".join(address.address for address in self.from_email)
        for kind in ("to", "cc", "bcc", "reply_to"):
            addresses = getattr(self, kind)
            if addresses:
                params[kind] = [address.address for address in addresses]
        if self.spoofed_to is not None:
            params["spoofed_to"] = [address.address for address in self.spoofed_to]
        if self.subject is not None:
            params["subject"] = self.subject
        if self.text is not None:
            params["text_body"] = self.text
        if self.html is not None:
            params["html_body"] = self.html
        if self.alternatives:
            params["alternatives"] = list(self.alternatives)
        if self.attachments:
            params["attachments"] = list(self.attachments)
        if self.inline_attachments:
            params["inline_attachments"] = list(self.inline_attachments)
        if self.headers:
            params["extra_headers"] = dict(self.headers)
        if self.envelope_sender is not None:
            params["envelope_sender"] = self.envelope_sender.addr_spec
        if self.tags:
            params["tags"] = list(self.tags)
        for name in (
            "metadata",
            "merge_metadata",
            "send_at",
            "track_clicks",
            "track_opens",
            "template_id",
            "merge_data",
            "merge_global_data",
            "esp_extra",
        ):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params


def _dict_or_none(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AnymailSerializationError(
            f"`{name}` must be a dict, not {type(value).__name__} ({value!r}).", field=name
        )
    return dict(value)


def _bool_or_none(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise AnymailSerializationError(
            f"`{name}` must be True, False or None, not {value!r}.", field=name
        )
    return value


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise AnymailSerializationError(
            f"`tags` must be a list of str, not {type(value).__name__} ({value!r}).", field="tags"
        )
    tags = []
    for tag in value:
        if not isinstance(tag, str):
            raise AnymailSerializationError(
                f"Each tag must be a str; `tags` contains {tag!r} ({type(tag).__name__}).",
                field="tags",
            )
        tags.append(tag)
    return tags


def find_unserializable(value: Any, path: str = "") -> tuple[str, Any] | None:
    """The path ("['order']['total']") and value of the first item json can't encode."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return f"{path}[{key!r}] (key)", key
            found = find_unserializable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_unserializable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return path, value


def _check_json(name: str, value: Any) -> Any:
    """Raise AnymailSerializationError naming the item of ``value`` that JSON can't represent."""
    if value is None:
        return None
    found = find_unserializable(value)
    if found:
        path, bad = found
        raise AnymailSerializationError(
            f"Don't know how to send `{name}{path}`: {type(bad).__name__} {bad!r} is not JSON "
            "serializable. Convert it to a str (or number) first.",
            field=f"{name}{path}",
        )
    return value


# ---------------------------------------------------------------------------
# Payload


class BasePayload:
    """Turns normalized :class:`MessageData` into an ESP API request.

    Subclasses override ``init_payload`` and the ``set_*`` / ``add_*`` methods for the
    features their ESP supports; the base class calls them only with data that has
    passed the ESP's feature declaration.
    """

    def __init__(
        self, message: EmailMessage, defaults: Mapping[str, Any], backend: AnymailBaseBackend
    ):
        self.message = message
        self.backend = backend
        self.esp_name = backend.esp_name
        self.data = MessageData.from_message(message, defaults)
        self.degraded_features = enforce(
            backend.features,
            self.data,
            backend.esp_name,
            ignore_unsupported=backend.ignore_unsupported_features,
            email_message=message,
            backend=backend,
        )
        self.init_payload()
        self.build(self.data)

    # --- helpers for subclasses ---

    def unsupported_feature(self, feature: Feature | str, detail: str | None = None) -> None:
        """For context-dependent limits: raise AnymailUnsupportedFeature naming
        ``feature``, unless IGNORE_UNSUPPORTED_FEATURES is set (then just return,
        and the caller leaves the feature out)."""
        if not self.backend.ignore_unsupported_features:
            raise_unsupported(
                self.esp_name, feature, detail, email_message=self.message, backend=self.backend
            )

    def serialize_json(self, data: Any, field: str | None = None) -> str:
        """json.dumps, raising AnymailSerializationError that names the bad item."""
        try:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as err:
            found = find_unserializable(data)
            where = f"{field or 'data'}{found[0] if found else ''}"
            raise AnymailSerializationError(
                f"Don't know how to send `{where}` to {self.esp_name}: {err}. "
                "Convert it to a str (or number) first.",
                field=where,
                orig_err=err,
                email_message=self.message,
                payload=self,
                backend=self.backend,
            ) from err

    # --- building ---

    def init_payload(self) -> None:
        """Create the empty ESP payload (called before any set_* method)."""

    def build(self, data: MessageData) -> None:
        """Call the set_* methods for every attribute that is set."""
        if data.from_email:
            self.set_from_email_list(data.from_email)
        for kind in ("to", "cc", "bcc"):
            addresses = getattr(data, kind)
            if addresses:
                self.set_recipients(kind, addresses)
        if data.spoofed_to is not None:
            self.set_spoofed_to(data.spoofed_to)
        if data.subject is not None:
            self.set_subject(data.subject)
        if data.reply_to:
            self.set_reply_to(data.reply_to)
        if data.headers:
            self.set_extra_headers(data.headers)
        if data.text:
            self.set_text_body(data.text)
        if data.html is not None:
            self.set_html_body(data.html)
        for content, mimetype in data.alternatives:
            self.add_alternative(content, mimetype)
        for attachment in (*data.inline_attachments, *data.attachments):
            self.add_attachment(attachment)
        if data.envelope_sender is not None:
            self.set_envelope_sender(data.envelope_sender)
        if data.metadata:
            self.set_metadata(data.metadata)
        if data.merge_metadata is not None:
            self.set_merge_metadata(data.merge_metadata)
        if data.send_at is not None:
            self.set_send_at(data.send_at)
        if data.tags:
            self.set_tags(data.tags)
        if data.track_clicks is not None:
            self.set_track_clicks(data.track_clicks)
        if data.track_opens is not None:
            self.set_track_opens(data.track_opens)
        if data.template_id is not None:
            self.set_template_id(data.template_id)
        if data.merge_data is not None:
            self.set_merge_data(data.merge_data)
        if data.merge_global_data:
            self.set_merge_global_data(data.merge_global_data)
        if data.esp_extra:
            self.set_esp_extra(data.esp_extra)

    def _missing(self, method: str) -> None:
        raise TypeError(
            f"{type(self).__name__} must implement {method}(): {self.esp_name}'s feature "
            "declaration says it supports what this method sends."
        )

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        # ESPs that accept several From addresses override this; the rest get the
        # first one (the declaration's from_email=MAX_ONE guarantees there is one).
        self.set_from_email(emails[0])

    def set_from_email(self, email: EmailAddress) -> None:
        self._missing("set_from_email")

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self._missing("set_recipients")

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self._missing("set_spoofed_to")

    def set_subject(self, subject: str) -> None:
        self._missing("set_subject")

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self._missing("set_reply_to")

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self._missing("set_extra_headers")

    def set_text_body(self, body: str) -> None:
        self._missing("set_text_body")

    def set_html_body(self, body: str) -> None:
        self._missing("set_html_body")

    def add_alternative(self, content: str, mimetype: str) -> None:
        self._missing("add_alternative")

    def add_attachment(self, attachment: Attachment) -> None:
        self._missing("add_attachment")

    def set_envelope_sender(self, email: EmailAddress) -> None:
        self._missing("set_envelope_sender")

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._missing("set_metadata")

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self._missing("set_merge_metadata")

    def set_send_at(self, send_at: datetime) -> None:
        self._missing("set_send_at")

    def set_tags(self, tags: list[str]) -> None:
        self._missing("set_tags")

    def set_track_clicks(self, track_clicks: bool) -> None:
        self._missing("set_track_clicks")

    def set_track_opens(self, track_opens: bool) -> None:
        self._missing("set_track_opens")

    def set_template_id(self, template_id: str) -> None:
        self._missing("set_template_id")

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self._missing("set_merge_data")

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self._missing("set_merge_global_data")

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self._missing("set_esp_extra")


# ---------------------------------------------------------------------------
# Backend


class AnymailBaseBackend(BaseEmailBackend):
    """Base Anymail email backend: settings, send defaults, signals, status.

    Subclasses set ``esp_name`` (display name), ``esp_id`` (settings prefix and
    registry id), ``features`` (the declaration), and implement
    ``build_message_payload``, ``post_to_esp`` and ``parse_recipient_status``.
    """

    esp_name: ClassVar[str] = "ESP"
    esp_id: ClassVar[str] = "esp"
    features: ClassVar[FeatureSupport] = FeatureSupport.all_supported()
    #: names of instance attributes holding secrets (redacted from errors and debug output)
    secret_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fail_silently = kwargs.pop("fail_silently", False)
        self.ignore_recipient_status = bool(
            get_anymail_setting("ignore_recipient_status", kwargs=kwargs, default=False)
        )
        self.ignore_unsupported_features = bool(
            get_anymail_setting("ignore_unsupported_features", kwargs=kwargs, default=False)
        )
        self.send_defaults = self._combined_send_defaults(kwargs)
        super().__init__(*args, fail_silently=fail_silently, **kwargs)
        self._lock = threading.RLock()

    def _combined_send_defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """SEND_DEFAULTS with <ESP>_SEND_DEFAULTS on top (ESP-specific values replace,
        not merge)."""
        general = get_anymail_setting("send_defaults", kwargs=kwargs, default={}) or {}
        specific = (
            get_anymail_setting("send_defaults", esp_name=self.esp_id, kwargs=kwargs, default={})
            or {}
        )
        combined: dict[str, Any] = {}
        for source, setting in (
            (general, "SEND_DEFAULTS"),
            (specific, f"{self.esp_id.upper()}_SEND_DEFAULTS"),
        ):
            if not isinstance(source, Mapping):
                raise AnymailConfigurationError(f"ANYMAIL {setting} must be a dict.")
            unknown = set(source) - DEFAULTABLE_ATTRIBUTES
            if unknown:
                raise AnymailConfigurationError(
                    f"ANYMAIL {setting} has unknown key(s) {sorted(unknown)}; "
                    f"send defaults can set {sorted(DEFAULTABLE_ATTRIBUTES)}."
                )
            combined.update(source)
        return combined

    def secret_values(self) -> list[str]:
        """The secrets this backend holds, so errors and debug output can redact them."""
        return [
            str(value)
            for value in (getattr(self, name, None) for name in self.secret_attributes)
            if value
        ]

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} ({self.esp_name})>"

    # --- sending ---

    def open(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send each message, returning how many were sent.

        The connection (see ``open``) is opened once for the batch and closed after
        it unless it was already open.
        """
        if not email_messages:
            return 0
        with self._lock:
            created_connection = self.open()
            num_sent = 0
            try:
                for message in email_messages:
                    try:
                        sent = self._send(message)
                    except AnymailError:
                        if self.fail_silently:
                            sent = False
                        else:
                            raise
                    if sent:
                        num_sent += 1
            finally:
                if created_connection:
                    self.close()
        return num_sent

    def _send(self, message: EmailMessage) -> bool:
        message.anymail_status = AnymailStatus()  # type: ignore[attr-defined]
        if not self.run_pre_send(message):
            return False
        if not message.recipients():
            return False

        payload = self.build_message_payload(message, self.send_defaults)
        response = self.post_to_esp(payload, message)
        message.anymail_status.esp_response = response  # type: ignore[attr-defined]

        recipient_status = self.parse_recipient_status(response, payload, message)
        message.anymail_status.set_recipient_status(recipient_status)  # type: ignore[attr-defined]

        self.run_post_send(message)
        self.raise_for_recipient_status(message.anymail_status, response, payload, message)  # type: ignore[attr-defined]
        return True

    def run_pre_send(self, message: EmailMessage) -> bool:
        """Send the pre_send signal; False if a receiver cancelled the message."""
        try:
            pre_send.send(type(self), message=message, esp_name=self.esp_name)
        except AnymailCancelSend:
            return False
        return True

    def run_post_send(self, message: EmailMessage) -> None:
        """Send post_send to every receiver, then re-raise the first receiver error (if any)."""
        results = post_send.send_robust(
            type(self),
            message=message,
            status=message.anymail_status,  # type: ignore[attr-defined]
            esp_name=self.esp_name,
        )
        for _receiver, result in results:
            if isinstance(result, BaseException):
                raise result

    def raise_for_recipient_status(
        self, anymail_status: AnymailStatus, response: Any, payload: Any, message: EmailMessage
    ) -> None:
        if self.ignore_recipient_status or not anymail_status.status:
            return
        if anymail_status.status.issubset(REFUSED_STATUSES):
            raise AnymailRecipientsRefused(
                email_message=message, payload=payload, response=response, backend=self
            )

    # --- for subclasses ---

    def build_message_payload(
        self, message: EmailMessage, defaults: Mapping[str, Any]
    ) -> BasePayload:
        raise TypeError(f"{type(self).__name__} must implement build_message_payload()")

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> Any:
        raise TypeError(f"{type(self).__name__} must implement post_to_esp()")

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        raise TypeError(f"{type(self).__name__} must implement parse_recipient_status()")
