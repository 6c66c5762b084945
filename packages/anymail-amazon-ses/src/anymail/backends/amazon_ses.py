"""The Amazon SES email backend, built on boto3 and the SES API v2 ("sesv2").

Ordinary messages go out through SES v2 ``SendEmail`` with ``Content.Raw``: the MIME
message Django builds, so every Django email feature works (arbitrary alternatives, a
spoofed To header, several From addresses). Messages with a ``template_id`` use
``SendEmail`` with ``Content.Template``, or ``SendBulkEmail`` when they have
``merge_data`` (one ``BulkEmailEntry`` per "to"); templates have limits of their own,
checked here.

The SES API v1 backend (``SendRawEmail``, ``SendBulkTemplatedEmail``) is
:mod:`anymail.backends.amazon_sesv1`; it shares this module's payload-independent
parts: the boto3 client, the settings, the MIME message and the template limits.

boto3 is imported only when a connection is opened, so listing the registry or
importing ``anymail.urls`` never imports it.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from email import quoprimime
from email.generator import BytesGenerator
from email.mime.base import MIMEBase
from email.policy import Compat32
from io import BytesIO
from typing import TYPE_CHECKING, Any, ClassVar

import django
from django.core.mail import EmailMultiAlternatives

from anymail.addresses import EmailAddress
from anymail.attachments import Attachment
from anymail.backends.base import AnymailBaseBackend, BasePayload
from anymail.backends.transport import user_agent
from anymail.esps.amazon_ses import ESP
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailDeprecationWarning,
    AnymailImproperlyInstalled,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature
from anymail.message import AnymailRecipientStatus
from anymail.mime import mime_attachment
from anymail.settings import UNSET, get_anymail_setting

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

__all__ = [
    "AmazonSESBaseBackend",
    "AmazonSESBasePayload",
    "AmazonSESRawPayload",
    "AmazonSESTemplatePayload",
    "AmazonSESV2SendEmailPayload",
    "AmazonSESV2TemplatePayload",
    "EmailBackend",
    "boto3_client",
]

ESP_ID = ESP.id
DISTRIBUTION = ESP.distribution

#: SES Message Tag names and values: "A-Z a-z 0-9 - and _ only"
_MESSAGE_TAG_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")


def boto3_client(
    service_name: str,
    session_params: Mapping[str, Any] | None = None,
    client_params: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Any:
    """A boto3 client for ``service_name``, from the AMAZON_SES_SESSION_PARAMS and
    AMAZON_SES_CLIENT_PARAMS settings. A ``config`` dict in the client params becomes
    a botocore ``Config``; the user agent always names this package (after boto3's
    own "Boto3/... Botocore/...", so no HTTP client is named here)."""
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
    anymail = user_agent(DISTRIBUTION, client="")
    ours = Config(user_agent_extra=anymail)
    if config is not None and config.user_agent_extra:
        ours = Config(user_agent_extra=f"{config.user_agent_extra} {anymail}")
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


# ---------------------------------------------------------------------------
# The raw message's bytes
#
# What the email package's BytesGenerator makes of Django's message, byte for byte,
# with less work per message: BytesGenerator writes a body one line at a time,
# compiles a regex for each multipart boundary it checks, and (compat32, Django
# before 6.0) runs every header, however short, through email.header.Header.


@functools.lru_cache(maxsize=8)
def _crlf_policy(policy: Any) -> Any:
    """``policy`` with CRLF line endings, one object per policy (policies are
    immutable): the message's parts all share it rather than cloning it each."""
    return policy.clone(linesep="\r\n")


def _folded_header(policy: Compat32, name: str, value: str) -> bytes:
    """``policy.fold_binary(name, value)`` for a compat32 policy and a plain str value.

    A value of printable ASCII (no control characters, tabs or line breaks) that fits
    on the header's line comes out of ``email.header.Header.encode`` as it went in:
    there is nothing to encode, and folding starts only past the line length. Any
    other value is folded by the policy."""
    limit = policy.max_line_length or 1_000_000  # Header.encode's "don't wrap"
    if (
        len(name) + 2 + len(value) <= limit
        and name.isascii()
        and value.isascii()
        and value.isprintable()
    ):
        return f"{name}: {value}{policy.linesep}".encode("ascii")
    return policy.fold_binary(name, value)


class _RawMessageGenerator(BytesGenerator):
    """BytesGenerator's output with less work per message (see above)."""

    def flatten(self, msg: Any, unixfrom: bool = False, linesep: str | None = None) -> None:
        # A part is flattened with the parent's line ending, which would clone the
        # policy for each part: keep the one policy object instead.
        if linesep is not None and self.policy is not None and linesep == self.policy.linesep:
            linesep = None
        super().flatten(msg, unixfrom, linesep)

    def _write_lines(self, lines: str) -> None:
        # BytesGenerator splits the text at each line ending (\r\n, \r or \n) and
        # writes each line and the policy's line ending; a text with only \n
        # endings comes out the same with one replace.
        if "\r" in lines:
            super()._write_lines(lines)
        elif lines:
            self.write(lines.replace("\n", self._NL))

    def _write_headers(self, msg: Any) -> None:
        policy = self.policy
        if type(policy) is not Compat32:  # email.policy.default (Django 6.0+): its own
            super()._write_headers(msg)
            return
        for name, value in msg.raw_items():
            if type(name) is str and type(value) is str:
                self._fp.write(_folded_header(policy, name, value))
            else:  # an email.header.Header
                self._fp.write(policy.fold_binary(name, value))
        self.write(self._NL)

    @classmethod
    def _make_boundary(cls, text: Any = None) -> str:
        # The stdlib's choice, except that a boundary whose "--" line can't be in the
        # text (not even as a substring) is taken without compiling a regex for it.
        boundary = super()._make_boundary()
        if text is None:
            return boundary
        candidate, counter = boundary, 0
        while True:
            if b"--" + candidate.encode("ascii") not in text:
                return candidate
            pattern = "^--" + re.escape(candidate) + "(--)?$"
            if not cls._compile_re(pattern, re.MULTILINE).search(text):
                return candidate
            candidate = f"{boundary}.{counter}"
            counter += 1


def _attachment_part(
    content: bytes,
    mimetype: str,
    *,
    filename: str | None,
    disposition: str,
    content_id: str | None,
) -> Any:
    """The part ``anymail.mime.mime_attachment`` makes. On Django before 6.0 (a
    compat32 ``MIMEBase``) it is built here without ``email.encoders.encode_base64``,
    which turns the content into a surrogate-escaped str and back before encoding it."""
    if django.VERSION >= (6, 0) or type(content) is not bytes:
        return mime_attachment(
            content, mimetype, filename=filename, disposition=disposition, content_id=content_id
        )
    maintype, _, subtype = mimetype.partition("/")
    part = MIMEBase(maintype, subtype or "octet-stream")
    part.set_payload(base64.encodebytes(content).decode("ascii"))
    part["Content-Transfer-Encoding"] = "base64"
    if filename:
        part.add_header("Content-Disposition", disposition, filename=filename)
    else:
        part.add_header("Content-Disposition", disposition)
    if content_id:
        part.add_header("Content-ID", f"<{content_id}>")
    return part


def _raw_message_bytes(message: Any) -> bytes:
    """``message`` (Django's ``EmailMessage.message()``, compat32 or email.policy.default)
    as bytes with CRLF line endings: what ``anymail.mime.mime_bytes(message, "\r\n")``
    makes of it, with less work."""
    buffer = BytesIO()
    generator = _RawMessageGenerator(
        buffer, mangle_from_=False, policy=_crlf_policy(message.policy)
    )
    generator.flatten(message)
    return buffer.getvalue()


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
# Payloads shared by both API versions


class AmazonSESBasePayload(BasePayload):
    """Common to every SES API call: the boto3 call's params, the
    AMAZON_SES_MESSAGE_TAG_NAME Message Tag, ConfigurationSetName."""

    #: the SES operation, as errors name it ("SendRawEmail", "SendEmail", ...)
    api_name: str = ""
    backend: AmazonSESBaseBackend

    def init_payload(self) -> None:
        self.params: dict[str, Any] = {}
        if self.backend.configuration_set_name:
            self.params["ConfigurationSetName"] = self.backend.configuration_set_name

    def call_api(self, client: Any) -> Any:
        raise TypeError(f"{type(self).__name__} must implement call_api()")

    def destination(
        self,
        to: Sequence[EmailAddress],
        cc: Sequence[EmailAddress] = (),
        bcc: Sequence[EmailAddress] = (),
        *,
        names: bool = True,
    ) -> dict[str, list[str]]:
        """An SES Destination (both API versions' shape): each address with its display
        name (RFC 2047 encoded), or with ``names=False`` only its IDNA addr-spec."""
        encoding = self.data.encoding
        destination: dict[str, list[str]] = {}
        for key, emails in (("ToAddresses", to), ("CcAddresses", cc), ("BccAddresses", bcc)):
            if emails:
                destination[key] = [
                    email.formataddr(encoding) if names else email.idna_addr_spec
                    for email in emails
                ]
        return destination

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        raise TypeError(f"{type(self).__name__} must implement parse_recipient_status()")

    def add_message_tags(self, tags: list[dict[str, str]]) -> None:
        """Add SES Message Tags ({"Name", "Value"}) to the call."""
        raise TypeError(f"{type(self).__name__} must implement add_message_tags()")

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
        self.add_message_tags([{"Name": self.backend.message_tag_name, "Value": tag}])


class AmazonSESRawPayload(AmazonSESBasePayload):
    """A raw send: the message is rebuilt from the normalized data as a Django
    EmailMessage (so send defaults and dropped features apply), then sent as Django's
    MIME. Subclasses say which parameters name the sender and the envelope sender."""

    #: the parameter naming the sending identity when From has several addresses
    from_param: ClassVar[str]
    #: the parameter envelope_sender sets
    envelope_sender_param: ClassVar[str]

    def init_payload(self) -> None:
        super().init_payload()
        self.mime = EmailMultiAlternatives()
        self.mime.encoding = self.data.encoding
        self.extra_mime_headers: list[tuple[str, str]] = []

    # Address headers get each domain in its IDNA (punycode) form from anymail-base,
    # the same form as the API's address parameters, rather than whatever Django's own
    # header encoding would make of a non-ASCII domain.

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.from_email = ", ".join(email.idna_address for email in emails)
        if len(emails) > 1:
            # With several From addresses, say which one sends rather than leave SES
            # to pick one out of the header; an envelope_sender (set_envelope_sender)
            # is kept where it shares the parameter (v1's Source).
            self.params.setdefault(self.from_param, emails[0].idna_addr_spec)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        setattr(self.mime, recipient_type, [email.idna_address for email in emails])

    def set_spoofed_to(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.extra_headers["To"] = ", ".join(email.idna_address for email in emails)

    def set_subject(self, subject: str) -> None:
        self.mime.subject = subject

    def set_reply_to(self, emails: Sequence[EmailAddress]) -> None:
        self.mime.reply_to = [email.idna_address for email in emails]

    def set_extra_headers(self, headers: Mapping[str, str]) -> None:
        self.mime.extra_headers.update(headers)

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        # SES merges data only into a stored template.
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
            _attachment_part(
                attachment.content,
                attachment.mimetype,
                filename=attachment.name,
                disposition="inline" if inline else "attachment",
                content_id=attachment.content_id,
            )
        )

    def set_envelope_sender(self, email: EmailAddress) -> None:
        self.params[self.envelope_sender_param] = email.idna_addr_spec

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
        return _raw_message_bytes(message)

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        message_id = response["MessageId"]
        return {
            email.addr_spec: AnymailRecipientStatus(message_id=message_id, status="queued")
            for email in self.data.all_recipients
        }


class AmazonSESTemplatePayload(AmazonSESBasePayload):
    """A send with a stored SES template: the limits SES templates have, and the
    recipients. With merge_data, each "to" gets its own message (a batch send);
    otherwise one message goes to every recipient."""

    #: the parameter naming the sender (the template's From)
    from_param: ClassVar[str]
    #: the parameter envelope_sender sets
    envelope_sender_param: ClassVar[str]

    def init_payload(self) -> None:
        super().init_payload()
        self.merge_data: dict[str, dict[str, Any]] | None = None
        #: the recipients of each message, in the order of the API's results
        self.destination_recipients: list[list[EmailAddress]] = []

    def _unsupported_with_template(self, feature: str, what: str | None = None) -> None:
        if what is None:
            what = Feature(feature).human_name
        self.unsupported_feature(feature, f"Amazon SES templates don't allow {what}")

    def set_from_email_list(self, emails: Sequence[EmailAddress]) -> None:
        if len(emails) > 1:
            self._unsupported_with_template(Feature.FROM_EMAIL, "several From addresses")
        self.params[self.from_param] = emails[0].formataddr(self.data.encoding)

    def set_recipients(self, recipient_type: str, emails: Sequence[EmailAddress]) -> None:
        pass  # finish() reads them (self.data), all at once or one "to" per message

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
        self.params[self.envelope_sender_param] = email.idna_addr_spec

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._unsupported_with_template(Feature.METADATA)

    def set_tags(self, tags: list[str]) -> None:
        if self.backend.message_tag_name:
            self.set_message_tag(tags)
        else:
            self._unsupported_with_template(
                Feature.TAGS, "tags (unless AMAZON_SES_MESSAGE_TAG_NAME is set)"
            )

    def set_merge_data(self, merge_data: dict[str, dict[str, Any]]) -> None:
        self.merge_data = merge_data

    def batch_recipients(self) -> list[EmailAddress]:
        """The "to" recipients of a batch send (merge_data), each getting a message
        of their own; cc and bcc are refused there."""
        if self.data.cc or self.data.bcc:
            # Each "to" gets its own message; copying cc and bcc to every one of
            # them is rarely what anyone wants.
            self._unsupported_with_template(
                "cc and bcc with merge_data", "cc or bcc in a batch send (merge_data)"
            )
        return list(self.data.to)

    def one_destination(self) -> dict[str, list[str]]:
        """The Destination of a send without merge_data: every recipient, one message."""
        self.destination_recipients = [self.data.all_recipients]
        return self.destination(self.data.to, self.data.cc, self.data.bcc)


# ---------------------------------------------------------------------------
# SES API v2 payloads

#: esp_extra names of SES API v1 that mean the same as a v2 parameter: the v2
#: backend sends them under the v2 name (with an AnymailDeprecationWarning), so
#: esp_extra written for the v1 backend (the Anymail 6.0 docs' example) keeps working.
V1_ESP_EXTRA_RENAMED = {
    "Tags": "EmailTags",
    "DefaultTags": "EmailTags",
    "SourceArn": "FromEmailAddressIdentityArn",
    "FromArn": "FromEmailAddressIdentityArn",
    "ReturnPathArn": "FeedbackForwardingEmailAddressIdentityArn",
}

#: esp_extra names of SES API v1 with no v2 parameter of the same meaning: refused
#: (by name, before anything is sent) with what to use instead.
V1_ESP_EXTRA_REFUSED = {
    "Source": "the message's from_email (SES v2's FromEmailAddress)",
    "ReturnPath": "envelope_sender (SES v2's FeedbackForwardingEmailAddress)",
    "Destinations": "the message's to, cc and bcc",
    "RawMessage": "the message itself",
    "Template": "template_id",
    "TemplateArn": "template_id",
    "TemplateData": "merge_global_data",
    "DefaultTemplateData": "merge_global_data",
}

#: esp_extra keys holding the message's SES Message Tags on either v2 call
_V2_TAG_KEYS = ("EmailTags", "DefaultEmailTags")


class AmazonSESV2PayloadMixin:
    """What both SES v2 payloads do with Message Tags and esp_extra.

    The message's SES Message Tags (the AMAZON_SES_MESSAGE_TAG_NAME tag, then
    esp_extra's ``EmailTags`` and ``DefaultEmailTags``) are collected in
    ``message_tags`` and written by ``finish()``: ``EmailTags`` on ``SendEmail``, each
    entry's ``ReplacementTags`` on ``SendBulkEmail``."""

    params: dict[str, Any]
    message: Any
    backend: Any

    def init_message_tags(self) -> None:
        self.message_tags: Any = []

    def add_message_tags(self, tags: list[dict[str, str]]) -> None:
        self.message_tags = _joined_tags(self.message_tags, tags)

    def refuse_esp_extra(self, message: str) -> None:
        """Refuse esp_extra the SES v2 call can't take, naming it: raised even with
        IGNORE_UNSUPPORTED_FEATURES (which would send without it), and nothing is sent."""
        raise AnymailUnsupportedFeature(
            message, feature="esp_extra", email_message=self.message, backend=self.backend
        )

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        extra = dict(extra)
        for key, instead in V1_ESP_EXTRA_REFUSED.items():
            if key in extra:
                self.refuse_esp_extra(
                    f"Amazon SES API v2 has no esp_extra {key!r} parameter (SES API v1 had): "
                    f"use {instead}. (Or send with anymail.backends.amazon_sesv1.EmailBackend.)"
                )
        renamed = [(old, new) for old, new in V1_ESP_EXTRA_RENAMED.items() if old in extra]
        if renamed:
            names = ", ".join(f"{old!r} (sent as {new!r})" for old, new in renamed)
            warnings.warn(
                f"esp_extra uses Amazon SES API v1's names: {names}. Use the SES v2 names "
                "(or send with anymail.backends.amazon_sesv1.EmailBackend).",
                AnymailDeprecationWarning,
                stacklevel=2,
            )
        for old, new in renamed:
            value = extra.pop(old)
            if new in _V2_TAG_KEYS:
                extra[new] = _joined_tags(extra.get(new, []), value)
            elif new in extra and extra[new] != value:
                self.refuse_esp_extra(
                    f"esp_extra {old!r} (SES API v1's name) means {new!r} on SES API v2, "
                    "which esp_extra also sets to something else: keep only the v2 name."
                )
            else:
                extra[new] = value
        for key in _V2_TAG_KEYS:
            if key in extra:
                self.add_message_tags(extra.pop(key))
        self.params.update(extra)


class AmazonSESV2SendEmailPayload(AmazonSESV2PayloadMixin, AmazonSESRawPayload):
    """SES v2 SendEmail with Content.Raw: Django's MIME message."""

    api_name = "SendEmail"
    from_param = "FromEmailAddress"
    # SES v2 forwards bounce and complaint notifications to this address (the v1
    # Source's role); SES itself is the SMTP MAIL FROM (or your custom MAIL FROM domain).
    envelope_sender_param = "FeedbackForwardingEmailAddress"

    def init_payload(self) -> None:
        super().init_payload()
        self.init_message_tags()

    def finish(self) -> None:
        if self.message_tags:
            self.params["EmailTags"] = self.message_tags
        data = self.data
        self.params["Destination"] = self.destination(data.to, data.cc, data.bcc, names=False)
        self.params["Content"] = {"Raw": {"Data": self.build_raw_message()}}

    def call_api(self, client: Any) -> Any:
        return client.send_email(**self.params)


class AmazonSESV2TemplatePayload(AmazonSESV2PayloadMixin, AmazonSESTemplatePayload):
    """A stored template on SES API v2: ``SendEmail`` with ``Content.Template`` (one
    message to every recipient), or with merge_data ``SendBulkEmail``, one
    ``BulkEmailEntry`` per "to", each with its own ``ReplacementTemplateData`` and the
    message's Message Tags as its ``ReplacementTags``."""

    api_name = "SendEmail"  # SendBulkEmail for a batch send (finish)
    from_param = "FromEmailAddress"
    envelope_sender_param = "FeedbackForwardingEmailAddress"

    def init_payload(self) -> None:
        super().init_payload()
        self.init_message_tags()
        self.template_name: str | None = None
        self.merge_global_data: dict[str, Any] = {}

    def set_template_id(self, template_id: str) -> None:
        self.template_name = template_id

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.serialize_json(merge_global_data, "merge_global_data")  # refuse it now, by name
        self.merge_global_data = merge_global_data

    def finish(self) -> None:
        template = {
            "TemplateName": self.template_name,
            "TemplateData": self.serialize_json(self.merge_global_data, "merge_global_data"),
        }
        if self.merge_data is None:
            self.api_name = "SendEmail"
            self.params["Destination"] = self.one_destination()
            self.params["Content"] = {"Template": template}
            if self.message_tags:
                self.params["EmailTags"] = self.message_tags
            return

        self.api_name = "SendBulkEmail"
        if "ListManagementOptions" in self.params:
            self.refuse_esp_extra(
                "Amazon SES SendBulkEmail (a template send with merge_data) has no esp_extra "
                "'ListManagementOptions': SES list management works with SendEmail. Send "
                "without merge_data (one message per recipient, or one to all of them)."
            )
        entries = []
        for to in self.batch_recipients():
            # Each entry's data is complete: the global data with the recipient's own
            # on top. (SES's docs describe DefaultContent's data as a fallback used only
            # when an entry has none; SES has been observed merging them key by key.
            # Complete data is right either way.)
            data = {**self.merge_global_data, **self.merge_data.get(to.addr_spec, {})}
            entry: dict[str, Any] = {
                "Destination": self.destination([to]),
                "ReplacementEmailContent": {
                    "ReplacementTemplate": {
                        "ReplacementTemplateData": self.serialize_json(
                            data, f"merge_data[{to.addr_spec!r}]"
                        )
                    }
                },
            }
            if self.message_tags:
                # Every message of the batch carries the message's tags as its own
                # (whether SES adds an entry's ReplacementTags to DefaultEmailTags or
                # replaces them, each message ends up with exactly these).
                entry["ReplacementTags"] = self.message_tags
            entries.append(entry)
            self.destination_recipients.append([to])
        self.params["DefaultContent"] = {"Template": template}
        self.params["BulkEmailEntries"] = entries

    def call_api(self, client: Any) -> Any:
        if self.api_name == "SendBulkEmail":
            return client.send_bulk_email(**self.params)
        return client.send_email(**self.params)

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        if self.api_name == "SendEmail":
            status = AnymailRecipientStatus(message_id=response["MessageId"], status="queued")
            return {email.addr_spec: status for email in self.destination_recipients[0]}
        statuses: dict[str, AnymailRecipientStatus] = {}
        results = response["BulkEmailEntryResults"]
        for recipients, result in zip(self.destination_recipients, results, strict=True):
            statuses.update(
                dict.fromkeys((email.addr_spec for email in recipients), _bulk_entry_status(result))
            )
        return statuses


#: SES v2 BulkEmailEntryResult Status values Anymail reports as "rejected": SES
#: refused the message itself. Every other failure (an unverified sender, a quota,
#: throttling, a template or configuration set not found, ...) is "failed".
_V2_REJECTED_STATUSES = {"MESSAGE_REJECTED"}


def _bulk_entry_status(result: Mapping[str, Any]) -> AnymailRecipientStatus:
    """One BulkEmailEntryResult as an AnymailRecipientStatus."""
    status = result.get("Status")
    message_id = result.get("MessageId")
    if status == "SUCCESS":
        return AnymailRecipientStatus(message_id=message_id, status="queued")
    if status in _V2_REJECTED_STATUSES:
        return AnymailRecipientStatus(message_id=message_id, status="rejected")
    if status is None:
        return AnymailRecipientStatus(message_id=message_id, status="unknown")
    return AnymailRecipientStatus(message_id=message_id, status="failed")


# ---------------------------------------------------------------------------
# Backends


class AmazonSESBaseBackend(AnymailBaseBackend):
    """What both SES backends share: settings, one boto3 client per open connection,
    choosing the payload, and turning boto3's errors into AnymailAPIError."""

    esp = ESP
    #: the boto3 service ("sesv2" or "ses")
    service_name: ClassVar[str]
    #: said in error messages before the operation's name ("API v2 ")
    api_label: ClassVar[str] = ""
    raw_payload_class: ClassVar[type[AmazonSESBasePayload]]
    template_payload_class: ClassVar[type[AmazonSESBasePayload]]

    @classmethod
    def payload_classes(cls) -> tuple[type[BasePayload], ...]:
        return (cls.raw_payload_class, cls.template_payload_class)

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
        self.client = boto3_client(self.service_name, self.session_params, self.client_params)
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
    ) -> AmazonSESBasePayload:
        template_id = getattr(message, "template_id", UNSET)
        if template_id is UNSET:
            template_id = defaults.get("template_id")
        if template_id is not None:
            return self.template_payload_class(message, defaults, self)
        return self.raw_payload_class(message, defaults, self)

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> Any:
        assert isinstance(payload, AmazonSESBasePayload)
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        operation = f"Amazon SES {self.api_label}{payload.api_name}"
        try:
            return payload.call_api(self.client)
        except ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.get("Code") or "UnknownError"
            raise AnymailAPIError(
                f"{operation} failed: {code}: {error.get('Message', err)}",
                status_code=status,
                email_message=message,
                payload=payload,
                backend=self,
            ) from err
        except (BotoCoreError, ResponseParserError) as err:
            # Connection failures, timeouts, unparseable responses, missing credentials,
            # parameters botocore refuses (nothing is sent then)
            raise AnymailAPIError(
                f"{operation} failed: {type(err).__name__}: {err}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        assert isinstance(payload, AmazonSESBasePayload)
        try:
            return payload.parse_recipient_status(response)
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise AnymailAPIError(
                f"Unexpected Amazon SES {self.api_label}{payload.api_name} response: {response!r}",
                email_message=message,
                payload=payload,
                backend=self,
            ) from err


class EmailBackend(AmazonSESBaseBackend):
    """Amazon SES email backend (boto3, SES API v2)."""

    esp = ESP
    service_name = "sesv2"
    api_label = "API v2 "
    #: ordinary messages; build_message_payload picks the template payload for a template_id
    payload_class = AmazonSESV2SendEmailPayload
    raw_payload_class = AmazonSESV2SendEmailPayload
    template_payload_class = AmazonSESV2TemplatePayload
