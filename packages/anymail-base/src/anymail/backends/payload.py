"""The base payload: turns normalized :class:`MessageData` into an ESP API request.

``BasePayload(message, defaults, backend)`` runs the whole translation:

1. :meth:`MessageData.from_message` normalizes the message and send defaults;
2. :func:`anymail.enforcement.enforce` applies the ESP's feature declaration;
3. :meth:`init_payload` creates the empty request;
4. :meth:`build` calls the core hooks (``set_from_email``, ``set_recipients``,
   ``set_subject``, ``set_text_body``, ``set_html_body``) and then, for each feature
   the message uses, the hook its :class:`~anymail.features.FeatureSpec` names;
5. :meth:`finish` lets the ESP write what depends on several features at once.

A feature hook the ESP doesn't implement follows the declaration: for a feature
declared unsupported it raises AnymailUnsupportedFeature (or drops the feature under
IGNORE_UNSUPPORTED_FEATURES); for one declared supported it is a programming error
(TypeError naming the method), so code and declaration can never silently disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMessage

from anymail import json_body
from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.message_data import MessageData
from anymail.enforcement import enforce, raise_unsupported
from anymail.exceptions import AnymailSerializationError
from anymail.features import FEATURE_SPECS, Feature, FeatureSpec, feature_specs
from anymail.normalize import find_unserializable

if TYPE_CHECKING:
    from anymail.backends.base import AnymailBaseBackend

__all__ = ["BasePayload"]

#: The hooks every ESP implements (there is no "not supported" for these).
CORE_HOOKS = ("set_from_email", "set_recipients", "set_subject", "set_text_body", "set_html_body")


class BasePayload:
    """Subclasses override ``init_payload``, the hooks of the features their ESP
    supports, and (if needed) ``finish``. The base class calls hooks only with data
    that has passed the ESP's feature declaration."""

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
        self.finish()

    # --- helpers for subclasses ---

    def unsupported_feature(self, feature: str, detail: str | None = None) -> None:
        """For context-dependent limits: raise AnymailUnsupportedFeature naming
        ``feature``, unless IGNORE_UNSUPPORTED_FEATURES is set (then just return,
        and the caller leaves the feature out)."""
        if not self.backend.ignore_unsupported_features:
            raise_unsupported(
                self.esp_name, feature, detail, email_message=self.message, backend=self.backend
            )

    def attachment_filename(self, attachment: Attachment) -> str | None:
        """For an ESP that names each file (and an inline part by its Content-ID, as
        its HTML refers to it): an inline part's Content-ID, else the attachment's
        filename. A part without one is refused (AnymailUnsupportedFeature: the ESP
        would drop it or break its cid: link); with IGNORE_UNSUPPORTED_FEATURES, None,
        and the caller leaves it out."""
        if attachment.inline:
            if attachment.content_id:
                return attachment.content_id
            self.unsupported_feature(
                Feature.INLINE_IMAGES,
                f"{self.esp_name} requires a Content-ID for every inline attachment "
                "(use anymail.message.attach_inline_image)",
            )
            return None
        if attachment.name:
            return attachment.name
        self.unsupported_feature(
            Feature.ATTACHMENTS,
            f"{self.esp_name} requires a filename for every attachment "
            '(use message.attach(filename="...", ...))',
        )
        return None

    def serialize_json(self, data: Any, field: str | None = None) -> str:
        """json.dumps, raising AnymailSerializationError that names the bad item."""
        message_data = getattr(self, "data", None)
        try:
            return json_body.dumps(
                data,
                has_base64=message_data is None
                or bool(message_data.attachments or message_data.inline_attachments),
            )
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

    # --- the steps ---

    def init_payload(self) -> None:
        """Create the empty ESP payload (called before any hook)."""

    def build(self, data: MessageData) -> None:
        """Call the core hooks, then each used feature's hook (from its FeatureSpec)."""
        for kind in ("to", "cc", "bcc"):
            addresses = getattr(data, kind)
            if addresses:
                self.set_recipients(kind, addresses)
        if data.subject is not None:
            self.set_subject(data.subject)
        if data.text:
            self.set_text_body(data.text)
        if data.html is not None:
            self.set_html_body(data.html)
        for spec in feature_specs():
            if spec.used(data):
                self.call_hook(spec, spec.value(data))
        if data.esp_extra:
            self.set_esp_extra(data.esp_extra)

    def call_hook(self, spec: FeatureSpec, value: Any) -> None:
        hook = getattr(self, spec.hook)
        if spec.each:
            for item in value:
                if isinstance(item, tuple):  # alternatives: (content, mimetype)
                    hook(*item)
                else:
                    hook(item)
        else:
            hook(value)

    def finish(self) -> None:
        """After every hook: write what depends on several features at once
        (e.g. merge data that needs the recipients and the metadata)."""

    # --- hooks ---

    def _core_missing(self, method: str) -> None:
        raise TypeError(f"{type(self).__name__} must implement {method}()")

    def _feature_hook_missing(self, feature: str) -> None:
        """The default of every feature hook: follow the declaration."""
        spec = FEATURE_SPECS[feature]
        support = self.backend.features[feature]
        if not support.sends:
            self.unsupported_feature(feature)
            return
        raise TypeError(
            f"{type(self).__name__} must implement {spec.hook}(): {self.esp_name}'s feature "
            f"declaration says {feature}={support.value}."
        )

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        # ESPs that accept several From addresses override this; the rest get the
        # first one (from_email=MAX_ONE guarantees there is only one).
        self.set_from_email(emails[0])

    def set_from_email(self, email: EmailAddress) -> None:
        self._core_missing("set_from_email")

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self._core_missing("set_recipients")

    def set_subject(self, subject: str) -> None:
        self._core_missing("set_subject")

    def set_text_body(self, body: str) -> None:
        self._core_missing("set_text_body")

    def set_html_body(self, body: str) -> None:
        self._core_missing("set_html_body")

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self._feature_hook_missing("spoofed_to")

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self._feature_hook_missing("reply_to")

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self._feature_hook_missing("headers")

    def add_alternative(self, content: str, mimetype: str) -> None:
        self._feature_hook_missing("alternatives")

    def add_attachment(self, attachment: Attachment) -> None:
        self._feature_hook_missing("inline_images" if attachment.inline else "attachments")

    def set_envelope_sender(self, email: EmailAddress) -> None:
        self._feature_hook_missing("envelope_sender")

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._feature_hook_missing("metadata")

    def set_merge_metadata(self, merge_metadata: dict[str, dict[str, Any]]) -> None:
        self._feature_hook_missing("merge_metadata")

    def set_send_at(self, send_at: datetime) -> None:
        self._feature_hook_missing("send_at")

    def set_tags(self, tags: list[str]) -> None:
        self._feature_hook_missing("tags")

    def set_track_clicks(self, track_clicks: bool) -> None:
        self._feature_hook_missing("track_clicks")

    def set_track_opens(self, track_opens: bool) -> None:
        self._feature_hook_missing("track_opens")

    def set_template_id(self, template_id: str) -> None:
        self._feature_hook_missing("template_id")

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self._feature_hook_missing("merge_data")

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self._feature_hook_missing("merge_global_data")

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        """esp_extra is every ESP's own business: ignored unless the payload uses it."""

    @classmethod
    def implements(cls, spec: FeatureSpec) -> bool:
        """Whether this payload class overrides the hook that sends ``spec``."""
        own = getattr(cls, spec.hook, None)
        base = getattr(BasePayload, spec.hook, None)
        if spec.name == "from_email":
            return own is not base or cls.set_from_email is not BasePayload.set_from_email
        return own is not base
