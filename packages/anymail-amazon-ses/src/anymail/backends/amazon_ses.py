"""The Amazon SES email backend, built on boto3.

Ordinary messages go out through SES ``SendRawEmail`` as the MIME message Django
builds, so every Django email feature works (arbitrary alternatives, a spoofed To
header, several From addresses). Messages with a ``template_id`` use
``SendBulkTemplatedEmail``, which has limits of its own, checked here.

boto3 is imported only when a connection is opened, so listing the registry or
importing ``anymail.urls`` never imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from email import quoprimime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.mail import EmailMultiAlternatives

from anymail.backends.base import AnymailBaseBackend, BasePayload
from anymail.esps.amazon_ses import ESP
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailImproperlyInstalled,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.utils import (
    UNSET,
    Attachment,
    EmailAddress,
    get_anymail_setting,
    mime_attachment,
    mime_bytes,
)

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

__all__ = ["AmazonSESPayload", "EmailBackend", "boto3_client", "user_agent"]

ESP_ID = ESP.id
DISTRIBUTION = ESP.distribution

#: SES Message Tag names and values: "A-Z a-z 0-9 - and _ only"
_MESSAGE_TAG_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")


def user_agent() -> str:
    """'anymail-amazon-ses/<version>', added to boto3's own user agent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{DISTRIBUTION}/{version(DISTRIBUTION)}"
    except PackageNotFoundError:  # running from a source tree that isn't installed
        return f"{DISTRIBUTION}/unknown"


def boto3_client(
    service_name: str,
    session_params: Mapping[str, Any] | None = None,
    client_params: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Any:
    """A boto3 client for ``service_name``, from the AMAZON_SES_SESSION_PARAMS and
    AMAZON_SES_CLIENT_PARAMS settings. A ``config`` dict in the client params becomes
    a botocore ``Config``; the user agent always names this package."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as err:
        raise AnymailImproperlyInstalled("boto3", install_extra=DISTRIBUTION) from err

    params = {**(client_params or {}), **overrides}
    config = params.pop("config", None)
    if isinstance(config, Mapping):
        config = Config(**config)
    elif config is not None and not isinstance(config, Config):
        raise AnymailConfigurationError(
            "AMAZON_SES_CLIENT_PARAMS['config'] must be a dict of botocore Config options "
            f"(or a botocore.config.Config), not {type(config).__name__}."
        )
    ours = Config(user_agent_extra=user_agent())
    if config is not None and config.user_agent_extra:
        ours = Config(user_agent_extra=f"{config.user_agent_extra} {user_agent()}")
    config = config.merge(ours) if config is not None else ours
    try:
        session = boto3.session.Session(**(session_params or {}))
        return session.client(service_name, config=config, **params)
    except TypeError as err:
        raise AnymailConfigurationError(
            f"Invalid AMAZON_SES_SESSION_PARAMS or AMAZON_SES_CLIENT_PARAMS: {err}"
        ) from err
    except Exception as err:  # botocore errors: unknown region, profile not found, ...
        if type(err).__module__.startswith("botocore"):
            raise AnymailConfigurationError(
                f"Can't create the boto3 {service_name} client for Amazon SES: {err} "
                "(check AMAZON_SES_SESSION_PARAMS and AMAZON_SES_CLIENT_PARAMS)."
            ) from err
        raise


def _dict_setting(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    value = get_anymail_setting(name, esp_name=ESP_ID, kwargs=kwargs, default=None) or {}
    if not isinstance(value, Mapping):
        raise AnymailConfigurationError(
            f"AMAZON_SES_{name.upper()} must be a dict, not {type(value).__name__}."
        )
    return dict(value)


def _quoted_printable_if_8bit(part: Any) -> None:
    """Re-encode a non-ASCII text part that Django left 8bit as quoted-printable.

    Django sends UTF-8 text bodies as ``Content-Transfer-Encoding: 8bit``. SES passes
    8bit bodies on as they are, and some receiving systems then show each non-ASCII
    character as "?"; quoted-printable keeps the text 7-bit clean all the way."""
    if part.is_multipart() or part.get_content_maintype() != "text":
        return
    if str(part.get("Content-Transfer-Encoding", "")).lower() not in ("8bit", "binary"):
        return
    raw = part.get_payload(decode=True)
    if raw is None or raw.isascii():
        return
    # quoprimime works on str: latin-1 maps each byte to one character
    encoded = quoprimime.body_encode(raw.decode("latin-1"), maxlinelen=76)
    part.set_payload(encoded)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "quoted-printable"


def _joined_tags(first: Any, second: Any) -> Any:
    """Two lists of SES Message Tags as one. Anything that isn't a list is passed on
    as given, for botocore's parameter validation to refuse by name."""
    if second is None:
        return first
    for tags in (first, second):
        if not isinstance(tags, list | tuple):
            return tags
    return [*first, *second]


# ---------------------------------------------------------------------------
# Payloads


class AmazonSESPayload(BasePayload):
    """Common to both SES API calls: the boto3 call's params, Message Tags, esp_extra."""

    api_name: ClassVar[str]
    #: the API call's list of SES Message Tags (SendRawEmail "Tags",
    #: SendBulkTemplatedEmail "DefaultTags")
    tags_param: ClassVar[str] = "Tags"
    backend: EmailBackend

    def init_payload(self) -> None:
        self.params: dict[str, Any] = {}
        if self.backend.configuration_set_name:
            self.params["ConfigurationSetName"] = self.backend.configuration_set_name

    def call_api(self, client: Any) -> Any:
        raise TypeError(f"{type(self).__name__} must implement call_api()")

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        raise TypeError(f"{type(self).__name__} must implement parse_recipient_status()")

    def set_message_tag(self, tags: list[str]) -> None:
        """The AMAZON_SES_MESSAGE_TAG_NAME option: the single Anymail tag as an SES Message Tag."""
        if len(tags) > 1:
            self.unsupported_feature(
                Feature.TAGS,
                f"with AMAZON_SES_MESSAGE_TAG_NAME, Amazon SES allows only one tag "
                f"({len(tags)} given)",
            )
        tag = tags[0]
        if not _MESSAGE_TAG_CHARS.fullmatch(tag):
            self.unsupported_feature(
                Feature.TAGS,
                f"the tag {tag!r} can't be an SES Message Tag value (use only A-Z a-z 0-9 - and _)",
            )
            return
        self.params.setdefault(self.tags_param, []).append(
            {"Name": self.backend.message_tag_name, "Value": tag}
        )

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        extra = dict(extra)
        tags = self.tags_param
        if tags != "Tags" and "Tags" in extra:
            # The docs show esp_extra "Tags" (SendRawEmail's name), and a SEND_DEFAULTS
            # esp_extra applies to template sends too: SendBulkTemplatedEmail calls
            # them DefaultTags (and refuses a "Tags" parameter).
            extra[tags] = _joined_tags(extra.pop("Tags"), extra.get(tags))
        if tags in extra and tags in self.params:
            extra[tags] = _joined_tags(self.params[tags], extra[tags])
        self.params.update(extra)


class AmazonSESSendRawEmailPayload(AmazonSESPayload):
    """SendRawEmail: the message is rebuilt from the normalized data as a Django
    EmailMessage (so send defaults and dropped features apply), then sent as Django's MIME."""

    api_name = "SendRawEmail"

    def init_payload(self) -> None:
        super().init_payload()
        self.mime = EmailMultiAlternatives()
        self.mime.encoding = self.data.encoding
        self.recipients: list[EmailAddress] = []
        self.extra_mime_headers: list[tuple[str, str]] = []

    # Address headers get each domain in its IDNA (punycode) form from anymail-base,
    # the same form as Source and Destinations, rather than whatever Django's own
    # header encoding would make of a non-ASCII domain.

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.from_email = ", ".join(email.idna_address for email in emails)
        if len(emails) > 1:
            # With several From addresses, say which one sends (SES's Source, the
            # envelope sender) rather than leave SES to pick one out of the header;
            # an envelope_sender (set_envelope_sender) is kept.
            self.params.setdefault("Source", emails[0].idna_addr_spec)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        setattr(self.mime, recipient_type, [email.idna_address for email in emails])
        self.recipients.extend(emails)

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.extra_headers["To"] = ", ".join(email.idna_address for email in emails)

    def set_subject(self, subject: str) -> None:
        self.mime.subject = subject

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.reply_to = [email.idna_address for email in emails]

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.mime.extra_headers.update(headers)

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        # SES merges data only into a stored template (SendBulkTemplatedEmail).
        self.unsupported_feature(
            Feature.MERGE_DATA,
            "Amazon SES can merge data only into a stored template: set template_id",
        )

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.unsupported_feature(
            Feature.MERGE_GLOBAL_DATA,
            "Amazon SES can merge data only into a stored template: set template_id",
        )

    def set_text_body(self, body: str) -> None:
        self.mime.body = body

    def set_html_body(self, body: str) -> None:
        if self.data.text:
            self.mime.attach_alternative(body, "text/html")
        else:
            self.mime.body = body
            self.mime.content_subtype = "html"

    def add_alternative(self, content: str, mimetype: str) -> None:
        self.mime.attach_alternative(content, mimetype)

    def add_attachment(self, attachment: Attachment) -> None:
        # A base64 part of our own keeps the bytes exactly (Django 6 adds a final
        # line break to text/* attachments it encodes itself).
        inline = attachment.inline or bool(attachment.content_id)
        self.mime.attach(
            mime_attachment(
                attachment.content,
                attachment.mimetype,
                filename=attachment.name,
                disposition="inline" if inline else "attachment",
                content_id=attachment.content_id,
            )
        )

    def set_envelope_sender(self, email: EmailAddress) -> None:
        self.params["Source"] = email.idna_addr_spec

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        # ASCII-only JSON (non-ASCII as \u escapes): a non-ASCII header value would be
        # sent as an RFC 2047 encoded word, which SES's events pass on undecoded.
        serialized = self.serialize_json(metadata, "metadata")
        self.extra_mime_headers.append(("X-Metadata", json.dumps(json.loads(serialized))))

    def set_tags(self, tags: list[str]) -> None:
        for tag in tags:
            self.extra_mime_headers.append(("X-Tag", tag))
        if self.backend.message_tag_name:
            self.set_message_tag(tags)

    def build_raw_message(self) -> bytes:
        message = self.mime.message()
        for name, value in self.extra_mime_headers:
            message[name] = value  # appends: one X-Tag header per tag
        for part in message.walk():
            _quoted_printable_if_8bit(part)
        return mime_bytes(message, linesep="\r\n")

    def call_api(self, client: Any) -> Any:
        params = {
            **self.params,
            "Destinations": [email.idna_addr_spec for email in self.recipients],
            "RawMessage": {"Data": self.build_raw_message()},
        }
        return client.send_raw_email(**params)

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        message_id = response["MessageId"]
        return {
            email.addr_spec: AnymailRecipientStatus(message_id=message_id, status="queued")
            for email in self.recipients
        }


class AmazonSESSendBulkTemplatedEmailPayload(AmazonSESPayload):
    """SendBulkTemplatedEmail: one Destination per "to" with merge_data (a batch
    send), otherwise one Destination holding every recipient."""

    api_name = "SendBulkTemplatedEmail"
    # SendBulkTemplatedEmail has no "Tags": its DefaultTags apply to every Destination,
    # as Anymail's tag applies to the whole message (so no per-Destination
    # ReplacementTags).
    tags_param = "DefaultTags"

    def init_payload(self) -> None:
        super().init_payload()
        self.recipients: dict[str, list[EmailAddress]] = {"to": [], "cc": [], "bcc": []}
        self.merge_data: dict[str, dict[str, Any]] | None = None
        self.destination_recipients: list[list[EmailAddress]] = []

    def _unsupported_with_template(self, feature: str, what: str | None = None) -> None:
        if what is None:
            what = Feature(feature).human_name
        self.unsupported_feature(feature, f"Amazon SES templates don't allow {what}")

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        if len(emails) > 1:
            self._unsupported_with_template(Feature.FROM_EMAIL, "several From addresses")
        self.params["Source"] = emails[0].formataddr(self.data.encoding)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        self.recipients[recipient_type] = list(emails)

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self._unsupported_with_template(Feature.SPOOFED_TO)

    def set_subject(self, subject: str) -> None:
        if subject:
            self._unsupported_with_template("subject", "overriding the template's subject")

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self.params["ReplyToAddresses"] = [email.formataddr(self.data.encoding) for email in emails]

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self._unsupported_with_template(Feature.HEADERS)

    def set_text_body(self, body: str) -> None:
        self._unsupported_with_template("body", "overriding the template's body")

    def set_html_body(self, body: str) -> None:
        if body:
            self._unsupported_with_template("body", "overriding the template's body")

    def add_alternative(self, content: str, mimetype: str) -> None:
        self._unsupported_with_template(Feature.ALTERNATIVES)

    def add_attachment(self, attachment: Attachment) -> None:
        feature = Feature.INLINE_IMAGES if attachment.inline else Feature.ATTACHMENTS
        self._unsupported_with_template(feature)

    def set_envelope_sender(self, email: EmailAddress) -> None:
        # The template's From is Source; the envelope sender is its ReturnPath.
        self.params["ReturnPath"] = email.idna_addr_spec

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._unsupported_with_template(Feature.METADATA)

    def set_tags(self, tags: list[str]) -> None:
        if self.backend.message_tag_name:
            self.set_message_tag(tags)
        else:
            self._unsupported_with_template(
                Feature.TAGS, "tags (unless AMAZON_SES_MESSAGE_TAG_NAME is set)"
            )

    def set_template_id(self, template_id: str) -> None:
        self.params["Template"] = template_id

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.params["DefaultTemplateData"] = self.serialize_json(
            merge_global_data, "merge_global_data"
        )

    def build_destinations(self) -> list[dict[str, Any]]:
        encoding = self.data.encoding
        destinations = []
        if self.merge_data is None:
            destination: dict[str, Any] = {}
            for kind, key in (
                ("to", "ToAddresses"),
                ("cc", "CcAddresses"),
                ("bcc", "BccAddresses"),
            ):
                if self.recipients[kind]:
                    destination[key] = [e.formataddr(encoding) for e in self.recipients[kind]]
            destinations.append({"Destination": destination})
            self.destination_recipients = [
                [*self.recipients["to"], *self.recipients["cc"], *self.recipients["bcc"]]
            ]
        else:
            if self.recipients["cc"] or self.recipients["bcc"]:
                # Each "to" gets its own message; copying cc and bcc to every one of
                # them is rarely what anyone wants.
                self._unsupported_with_template(
                    "cc and bcc with merge_data", "cc or bcc in a batch send (merge_data)"
                )
            for to in self.recipients["to"]:
                data = self.merge_data.get(to.addr_spec, {})
                destinations.append(
                    {
                        "Destination": {"ToAddresses": [to.formataddr(encoding)]},
                        "ReplacementTemplateData": self.serialize_json(
                            data, f"merge_data[{to.addr_spec!r}]"
                        ),
                    }
                )
                self.destination_recipients.append([to])
        return destinations

    def finish(self) -> None:
        self.params.setdefault("DefaultTemplateData", "{}")  # required by SES
        self.params["Destinations"] = self.build_destinations()

    def call_api(self, client: Any) -> Any:
        return client.send_bulk_templated_email(**self.params)

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        statuses: dict[str, AnymailRecipientStatus] = {}
        results = response["Status"]
        for recipients, result in zip(self.destination_recipients, results, strict=True):
            # (SES always says "Success"; moto leaves Status out when it accepted.)
            if result.get("Status", "Success" if result.get("MessageId") else None) == "Success":
                status = AnymailRecipientStatus(message_id=result.get("MessageId"), status="queued")
            elif result.get("Status") == "MessageRejected":
                status = AnymailRecipientStatus(
                    message_id=result.get("MessageId"), status="rejected"
                )
            else:
                # MailFromDomainNotVerified, AccountDailyQuotaExceeded, ...
                status = AnymailRecipientStatus(message_id=result.get("MessageId"), status="failed")
            for email in recipients:
                statuses[email.addr_spec] = status
        return statuses


# ---------------------------------------------------------------------------
# Backend


class EmailBackend(AnymailBaseBackend):
    """Amazon SES email backend (boto3)."""

    esp = ESP
    #: ordinary messages; build_message_payload picks the templated payload for a template_id
    payload_class = AmazonSESSendRawEmailPayload

    @classmethod
    def payload_classes(cls) -> tuple[type[BasePayload], ...]:
        return (AmazonSESSendRawEmailPayload, AmazonSESSendBulkTemplatedEmailPayload)

    def __init__(self, **kwargs: Any) -> None:
        self.session_params = _dict_setting("session_params", kwargs)
        self.client_params = _dict_setting("client_params", kwargs)
        self.configuration_set_name = get_anymail_setting(
            "configuration_set_name", esp_name=ESP_ID, kwargs=kwargs, default=None
        )
        self.message_tag_name = get_anymail_setting(
            "message_tag_name", esp_name=ESP_ID, kwargs=kwargs, default=None
        )
        if self.message_tag_name is not None and not _MESSAGE_TAG_CHARS.fullmatch(
            str(self.message_tag_name)
        ):
            raise AnymailConfigurationError(
                f"AMAZON_SES_MESSAGE_TAG_NAME {self.message_tag_name!r} is not a valid SES "
                "Message Tag name: use only A-Z a-z 0-9 - and _ (at most 256 characters)."
            )
        super().__init__(**kwargs)
        self.client: Any = None

    # --- connection: one boto3 client per open connection ---

    def open(self) -> bool:
        if self.client is not None:
            return False
        self.client = boto3_client("ses", self.session_params, self.client_params)
        return True

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None

    # --- sending ---

    def build_message_payload(
        self, message: EmailMessage, defaults: Mapping[str, Any]
    ) -> AmazonSESPayload:
        template_id = getattr(message, "template_id", UNSET)
        if template_id is UNSET:
            template_id = defaults.get("template_id")
        if template_id is not None:
            return AmazonSESSendBulkTemplatedEmailPayload(message, defaults, self)
        return AmazonSESSendRawEmailPayload(message, defaults, self)

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> Any:
        assert isinstance(payload, AmazonSESPayload)
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        try:
            return payload.call_api(self.client)
        except ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.get("Code") or "UnknownError"
            raise AnymailAPIError(
                f"Amazon SES {payload.api_name} failed: {code}: {error.get('Message', err)}",
                status_code=status,
                email_message=message,
                payload=payload,
                backend=self,
            ) from err
        except (BotoCoreError, ResponseParserError) as err:
            # Connection failures, timeouts, unparseable responses, missing credentials
            raise AnymailAPIError(
                f"Amazon SES {payload.api_name} failed: {type(err).__name__}: {err}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, AmazonSESPayload)
        try:
            return payload.parse_recipient_status(response)
        except (KeyError, TypeError, IndexError) as err:
            raise AnymailAPIError(
                f"Unexpected Amazon SES {payload.api_name} response: {response!r}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err
