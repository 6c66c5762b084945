"""Amazon SES tracking and inbound webhooks, delivered by Amazon SNS.

Both views receive SNS HTTPS messages (``SubscriptionConfirmation``,
``UnsubscribeConfirmation``, ``Notification``). Each is authenticated twice: by the
WEBHOOK_SECRET basic auth in the subscription's URL, and by SNS's own RSA signature,
checked against the certificate at ``SigningCertURL`` (accepted only over https from
an SNS host). See https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from email.header import decode_header, make_header
from typing import Any

from django.http import HttpRequest

from anymail.esps.amazon_ses import ESP, SNS_RETRY_LIMIT
from anymail.events import (
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
)
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailImproperlyInstalled,
    AnymailWebhookValidationFailure,
)
from anymail.inbound import AnymailInboundMessage
from anymail.settings import UNSET, get_anymail_setting, string_list
from anymail.webhooks.amazon_ses_sns import (
    DEFAULT_CERT_HOST_PATTERN,
    SNSCertificateFetchError,
    SNSMessageVerifier,
)
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)
from anymail.webhooks.readers import (
    MalformedPayload,
    iso_timestamp,
    list_of,
    mapping,
    optional_text,
    text_list,
)

__all__ = [
    "DEFAULT_SNS_MAX_AGE",
    "AmazonSESInboundWebhookView",
    "AmazonSESTrackingWebhookView",
    "SNSCertificateFetchError",
    "SNSMessageVerifier",
    "inbound_events",
    "tracking_events",
]

logger = logging.getLogger("anymail.webhooks.amazon_ses")

#: AMAZON_SES_SNS_MAX_AGE's default, in seconds: SNS stops retrying an HTTP/S delivery
#: within 3,600 seconds (a hard limit of its delivery policies), plus five minutes for
#: clock skew. An older message (by its signed Timestamp) is a replay.
DEFAULT_SNS_MAX_AGE = SNS_RETRY_LIMIT + 300

ESP_ID = ESP.id

#: An AWS region name, as a TopicArn holds it ("us-east-1", "us-gov-west-1", ...)
_AWS_REGION = re.compile(r"[a-z]+(-[a-z0-9]+)+")

# ---------------------------------------------------------------------------
# Reading SES's JSON: every field has the type SES documents, or the payload is
# refused (anymail.webhooks.readers: a ValueError, a 400), never iterated or passed
# on with the wrong type.

#: The most items a list in one SES event may hold. SES sends a message to at most
#: 50 recipients; a payload naming more is not from SES (and must not become that
#: many signals).
MAX_RECIPIENTS = 1000


def ses_list(value: Any, name: str) -> list[Any]:
    """A JSON array (absent: empty) of at most MAX_RECIPIENTS items."""
    items = list_of(value, name)
    if len(items) > MAX_RECIPIENTS:
        raise MalformedPayload(f"{name} has {len(items)} items (at most {MAX_RECIPIENTS})")
    return items


def ses_text_list(value: Any, name: str) -> list[str]:
    """A JSON array of strings (absent: empty), at most MAX_RECIPIENTS of them."""
    return text_list(ses_list(value, name), name)


def _decoded_header(value: str) -> str:
    """A header value with any RFC 2047 encoded words decoded (a non-ASCII X-Tag)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


# ---------------------------------------------------------------------------
# Tracking: an SES event in, normalized events out


#: SES bounceType/bounceSubType -> reject_reason
BOUNCE_REASON_MAP: dict[tuple[str, str], RejectReason] = {
    ("Permanent", "General"): RejectReason.BOUNCED,
    ("Permanent", "NoEmail"): RejectReason.INVALID,
    ("Permanent", "Suppressed"): RejectReason.BLOCKED,
    ("Permanent", "OnAccountSuppressionList"): RejectReason.BLOCKED,
    ("Transient", "General"): RejectReason.BOUNCED,
    ("Transient", "MailboxFull"): RejectReason.BOUNCED,
    ("Transient", "MessageTooLarge"): RejectReason.OTHER,
    ("Transient", "ContentRejected"): RejectReason.SPAM,
    ("Transient", "AttachmentRejected"): RejectReason.BLOCKED,
    ("Undetermined", "Undetermined"): RejectReason.OTHER,
}


def subscription_event_type(subscription: Mapping[str, Any]) -> EventType:
    """What an SES "Subscription" event (a change to a contact's list or topic
    preferences) means for the recipient: unsubscribed when the new preferences opt
    out of everything, or of a topic they were opted in to; otherwise subscribed."""
    new = mapping(subscription.get("newTopicPreferences"), "subscription.newTopicPreferences")
    old = mapping(subscription.get("oldTopicPreferences"), "subscription.oldTopicPreferences")
    if new.get("unsubscribeAll") is True:
        return EventType.UNSUBSCRIBED

    def statuses(preferences: Mapping[str, Any], where: str) -> dict[str | None, str | None]:
        result = {}
        for item in ses_list(preferences.get("topicSubscriptionStatus"), where):
            item = mapping(item, f"{where} item")
            result[optional_text(item.get("topicName"), f"{where} topicName")] = optional_text(
                item.get("subscriptionStatus"), f"{where} subscriptionStatus"
            )
        return result

    now = statuses(new, "subscription.newTopicPreferences.topicSubscriptionStatus")
    before = statuses(old, "subscription.oldTopicPreferences.topicSubscriptionStatus")
    changed = {topic: status for topic, status in now.items() if before.get(topic) != status}
    if "OptOut" in changed.values():
        return EventType.UNSUBSCRIBED
    if changed or old.get("unsubscribeAll") is True:
        return EventType.SUBSCRIBED
    return EventType.UNSUBSCRIBED if "OptOut" in now.values() else EventType.SUBSCRIBED


def tracking_events(
    ses_event: dict[str, Any], sns_message: dict[str, Any], tag_name: str | None = None
) -> list[AnymailTrackingEvent]:
    """The normalized events of one SES notification or published event (the JSON
    in an SNS Notification's ``Message``). ``tag_name`` is AMAZON_SES_MESSAGE_TAG_NAME.

    Each event's ``event_id`` is the SNS ``MessageId`` (which SNS keeps when it
    redelivers); when the notification reports several recipients, one event each,
    it is ``<MessageId>:<n>`` for the n-th of them (from 1), so every event has an id
    of its own, the same on every redelivery.

    Raises ValueError for a payload whose fields don't have SES's documented types
    (the webhook answers 400)."""
    events = _tracking_events(ses_event, sns_message, tag_name)
    if len(events) > 1:
        for position, event in enumerate(events, start=1):
            if event.event_id:
                event.event_id = f"{event.event_id}:{position}"
    return events


def _tracking_events(
    ses_event: dict[str, Any], sns_message: dict[str, Any], tag_name: str | None
) -> list[AnymailTrackingEvent]:
    # SES Notifications say "notificationType", SES Event Publishing "eventType"
    kind = optional_text(ses_event.get("eventType"), "eventType") or optional_text(
        ses_event.get("notificationType"), "notificationType"
    )
    if kind == "Received":
        raise AnymailConfigurationError(
            "The Amazon SES tracking webhook received an inbound (Received) "
            "notification: subscribe the inbound webhook (amazon_ses/inbound/) to "
            "your receipt rule's SNS topic instead."
        )
    mail = mapping(ses_event.get("mail"), "mail")
    metadata, tags = metadata_and_tags(mail, tag_name)
    common = {
        "event_id": optional_text(sns_message.get("MessageId"), "SNS MessageId"),
        "esp_event": ses_event,
        "message_id": optional_text(mail.get("messageId"), "mail.messageId"),
        "metadata": metadata,
        "tags": tags,
    }
    destination = ses_text_list(mail.get("destination"), "mail.destination")
    # An event without a time of its own: when SES sent the message, else when SNS
    # published the notification (never None).
    fallback_time = iso_timestamp(mail.get("timestamp"), "mail.timestamp") or iso_timestamp(
        sns_message.get("Timestamp"), "SNS Timestamp"
    )

    def events(
        event_type: str, recipients: list[str | None], detail: Mapping[str, Any], **fields: Any
    ) -> list[AnymailTrackingEvent]:
        timestamp = iso_timestamp(detail.get("timestamp"), f"{kind} timestamp") or fallback_time
        return [
            AnymailTrackingEvent(event_type, timestamp, recipient=recipient, **common, **fields)
            for recipient in recipients
        ]

    def per_recipient(
        event_type: str, detail: Mapping[str, Any], where: str, **fields: Any
    ) -> list[AnymailTrackingEvent]:
        """One event per item of a list of {"emailAddress", "diagnosticCode"} objects."""
        result = []
        for item in ses_list(detail.get(where), f"{kind}.{where}"):
            item = mapping(item, f"{kind}.{where} item")
            result += events(
                event_type,
                [optional_text(item.get("emailAddress"), f"{kind}.{where} emailAddress")],
                detail,
                mta_response=optional_text(item.get("diagnosticCode"), f"{kind} diagnosticCode"),
                **fields,
            )
        return result

    if kind == "Bounce":
        bounce = mapping(ses_event.get("bounce"), "bounce")
        bounce_type = optional_text(bounce.get("bounceType"), "bounce.bounceType") or ""
        sub_type = optional_text(bounce.get("bounceSubType"), "bounce.bounceSubType") or ""
        return per_recipient(
            EventType.BOUNCED,
            bounce,
            "bouncedRecipients",
            reject_reason=BOUNCE_REASON_MAP.get((bounce_type, sub_type), RejectReason.OTHER),
            description=f"{bounce_type}: {sub_type}",
        )
    if kind == "Complaint":
        complaint = mapping(ses_event.get("complaint"), "complaint")
        recipients = [
            optional_text(
                mapping(item, "complainedRecipients item").get("emailAddress"), "emailAddress"
            )
            for item in ses_list(complaint.get("complainedRecipients"), "complainedRecipients")
        ]
        return events(
            EventType.COMPLAINED,
            recipients,
            complaint,
            reject_reason=RejectReason.SPAM,
            description=optional_text(
                complaint.get("complaintFeedbackType"), "complaintFeedbackType"
            ),
            user_agent=optional_text(complaint.get("userAgent"), "complaint.userAgent"),
        )
    if kind == "Delivery":
        delivery = mapping(ses_event.get("delivery"), "delivery")
        return events(
            EventType.DELIVERED,
            list(ses_text_list(delivery.get("recipients"), "delivery.recipients")),
            delivery,
            mta_response=optional_text(delivery.get("smtpResponse"), "delivery.smtpResponse"),
        )
    if kind == "DeliveryDelay":
        delay = mapping(ses_event.get("deliveryDelay"), "deliveryDelay")
        return per_recipient(
            EventType.DEFERRED,
            delay,
            "delayedRecipients",
            description=optional_text(delay.get("delayType"), "deliveryDelay.delayType"),
        )
    everyone: list[str | None] = list(destination)
    if kind == "Send":
        return events(EventType.SENT, everyone, mapping(ses_event.get("send"), "send"))
    if kind == "Reject":
        reject = mapping(ses_event.get("reject"), "reject")
        return events(
            EventType.REJECTED,
            everyone,
            reject,
            reject_reason=RejectReason.BLOCKED,
            description=optional_text(reject.get("reason"), "reject.reason"),
        )
    if kind == "Open":
        opened = mapping(ses_event.get("open"), "open")
        return events(
            EventType.OPENED,
            everyone,
            opened,
            user_agent=optional_text(opened.get("userAgent"), "open.userAgent"),
        )
    if kind == "Click":
        click = mapping(ses_event.get("click"), "click")
        return events(
            EventType.CLICKED,
            everyone,
            click,
            click_url=optional_text(click.get("link"), "click.link"),
            user_agent=optional_text(click.get("userAgent"), "click.userAgent"),
        )
    if kind == "Rendering Failure":
        failure = mapping(ses_event.get("failure"), "failure")
        return events(
            EventType.FAILED,
            everyone,
            failure,
            description=optional_text(failure.get("errorMessage"), "failure.errorMessage"),
        )
    if kind == "Subscription":
        subscription = mapping(ses_event.get("subscription"), "subscription")
        return events(
            subscription_event_type(subscription),
            everyone,
            subscription,
            description=optional_text(subscription.get("source"), "subscription.source"),
        )
    # Any event type added after this was written
    return events(EventType.UNKNOWN, everyone, {}, description=kind)


def metadata_and_tags(
    mail: Mapping[str, Any], tag_name: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Anymail's metadata and tags, from the original headers (when SES includes
    them) or, for tags, from the AMAZON_SES_MESSAGE_TAG_NAME SES Message Tag.

    The backend writes X-Metadata as ASCII-only JSON (non-ASCII as \\u escapes), so
    it reads back exactly; an X-Tag or X-Metadata holding RFC 2047 encoded words
    (non-ASCII text, or a message sent by an earlier version) is decoded first."""
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    for header in ses_list(mail.get("headers"), "mail.headers"):
        header = mapping(header, "mail.headers item")
        name = (optional_text(header.get("name"), "mail.headers name") or "").lower()
        value = optional_text(header.get("value"), "mail.headers value") or ""
        if name == "x-metadata":
            try:
                parsed = json.loads(_decoded_header(value))
            except (ValueError, RecursionError):
                logger.warning("Amazon SES event has an X-Metadata header that isn't JSON")
            else:
                if isinstance(parsed, dict):
                    metadata = parsed
        elif name == "x-tag":
            tags.append(_decoded_header(value))
    if not tags and tag_name:
        ses_tags = mapping(mail.get("tags"), "mail.tags")
        tags = ses_text_list(ses_tags.get(tag_name), f"mail.tags.{tag_name}")
    return metadata, tags


# ---------------------------------------------------------------------------
# Inbound: an SES receipt notification in, an inbound event out

#: What SES Notifications (notificationType) and Event Publishing (eventType) call
#: the notifications of the tracking webhook.
TRACKING_KINDS = frozenset(
    {
        "Bounce", "Complaint", "Delivery", "Send", "Reject", "Open", "Click",
        "Rendering Failure", "DeliveryDelay", "Subscription",
    }
)  # fmt: skip

#: The receipt rule actions other than SNS and S3 that can publish an SNS
#: notification (without the message itself).
OTHER_RECEIPT_ACTIONS = frozenset({"Bounce", "Lambda", "Stop", "WorkMail"})


def inbound_events(
    ses_event: dict[str, Any],
    fetch_s3: Callable[[Mapping[str, Any]], AnymailInboundMessage] | None = None,
    sns_message: dict[str, Any] | None = None,
) -> list[AnymailInboundEvent]:
    """The inbound event of one SES receipt notification. A receipt rule's SNS
    action carries the message; for its S3 action, ``fetch_s3(action)`` reads it."""
    kind = optional_text(ses_event.get("notificationType"), "notificationType")
    if kind != "Received":
        kind = kind or optional_text(ses_event.get("eventType"), "eventType")
        if kind not in TRACKING_KINDS:
            raise ValueError(f"Amazon SES notification of unknown type {kind!r}")
        # a genuine SES tracking notification: the topic is subscribed to the wrong URL
        raise AnymailConfigurationError(
            f"The Amazon SES inbound webhook received a {kind!r} notification: "
            "subscribe the tracking webhook (amazon_ses/tracking/) to that SNS topic "
            "instead."
        )
    mail = mapping(ses_event.get("mail"), "mail")
    receipt = mapping(ses_event.get("receipt"), "receipt")
    action = mapping(receipt.get("action"), "receipt.action")
    action_type = optional_text(action.get("type"), "receipt.action.type")
    if action_type == "SNS":
        message = message_from_sns_action(ses_event, action)
    elif action_type == "S3":
        if fetch_s3 is None:
            raise AnymailConfigurationError("Reading an S3 action's message needs fetch_s3")
        for field in ("bucketName", "objectKey"):
            if not optional_text(action.get(field), f"receipt.action.{field}"):
                raise ValueError(f"Amazon SES S3 action has no {field}")
        message = fetch_s3(action)
    elif action_type in OTHER_RECEIPT_ACTIONS:
        # SES's other receipt actions publish notifications without the message
        raise AnymailConfigurationError(
            f"Anymail's Amazon SES inbound webhook reads messages from the receipt rule "
            f"SNS and S3 actions only; this notification is from a {action_type!r} action "
            "(subscribe the webhook only to the topic of an SNS or S3 action)."
        )
    else:
        raise ValueError(f"Amazon SES receipt action of unknown type {action_type!r}")
    message.envelope_sender = optional_text(mail.get("source"), "mail.source")
    recipients = ses_text_list(receipt.get("recipients"), "receipt.recipients") or ses_text_list(
        mail.get("destination"), "mail.destination"
    )
    message.envelope_recipient = recipients[0] if recipients else None
    verdict = mapping(receipt.get("spamVerdict"), "receipt.spamVerdict")
    spam = optional_text(verdict.get("status"), "receipt.spamVerdict.status")
    message.spam_detected = {"PASS": False, "FAIL": True}.get(str(spam).upper())
    timestamp = iso_timestamp(mail.get("timestamp"), "mail.timestamp") or iso_timestamp(
        (sns_message or {}).get("Timestamp"), "SNS Timestamp"
    )
    return [
        AnymailInboundEvent(
            EventType.INBOUND,
            timestamp=timestamp,
            event_id=optional_text(mail.get("messageId"), "mail.messageId"),
            esp_event=ses_event,
            message=message,
        )
    ]


def message_from_sns_action(
    ses_event: dict[str, Any], action: Mapping[str, Any]
) -> AnymailInboundMessage:
    content = optional_text(ses_event.get("content"), "content")
    if content is None:
        raise ValueError("Amazon SES SNS action notification has no content")
    encoding = (optional_text(action.get("encoding"), "receipt.action.encoding") or "UTF8").upper()
    if encoding == "BASE64":
        return AnymailInboundMessage.parse_raw_mime_bytes(base64.b64decode(content))
    return AnymailInboundMessage.parse_raw_mime(content)


# ---------------------------------------------------------------------------
# The webhooks' own AWS calls (S3 GetObject, SNS ConfirmSubscription)

#: AWS error codes saying the notification names something that doesn't (or can't)
#: exist. SNS would redeliver the same notification, so the answer is final (400).
FINAL_AWS_ERRORS = frozenset(
    {"NoSuchKey", "NoSuchBucket", "InvalidBucketName", "KeyTooLongError", "NotFound",
     "InvalidParameter"}
)  # fmt: skip


def aws_call_failed(err: Exception, what: str) -> Exception:
    """What a webhook's failed AWS call becomes. A notification naming an object, topic
    or token that doesn't exist (or a parameter botocore refuses) is the request's
    fault: ValueError, answered 400. Anything else -- a permission our IAM policy
    lacks, throttling, AWS failing, the network -- is ours: AnymailAPIError, answered
    with the retry status, so SNS redelivers the notification."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(err, ParamValidationError):
        return ValueError(f"{what}: {err}")
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in FINAL_AWS_ERRORS or status == 404:
            return ValueError(f"{what}: {err}")
        return AnymailAPIError(f"{what}: {err}", status_code=status)
    return AnymailAPIError(f"{what}: {err}")


# ---------------------------------------------------------------------------
# Views


class AmazonSESBaseWebhookView(AnymailBaseWebhookView):
    """Reading an SNS message: its JSON, the topic allow-list and SNS's signature;
    subscription confirmations."""

    esp = ESP

    # as_view() overrides (UNSET: read the ANYMAIL setting)
    auto_confirm_sns_subscriptions: Any = UNSET
    sns_verify_signatures: Any = UNSET
    sns_topic_arns: Any = UNSET
    sns_cert_host_pattern: Any = UNSET
    sns_cert_verify: Any = UNSET
    sns_max_age: Any = UNSET
    session_params: Any = UNSET
    client_params: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> None:
        def setting(name: str, default: Any) -> Any:
            return get_anymail_setting(name, esp_name=ESP_ID, kwargs=kwargs, default=default)

        self.auto_confirm = bool(setting("auto_confirm_sns_subscriptions", True))
        self.verify_signatures = bool(setting("sns_verify_signatures", True))
        topic_arns = string_list(
            setting("sns_topic_arns", None), "AMAZON_SES_SNS_TOPIC_ARNS", "a TopicArn"
        )
        self.topic_arns = frozenset(topic_arns) if topic_arns else None
        self.verifier = SNSMessageVerifier(
            setting("sns_cert_host_pattern", DEFAULT_CERT_HOST_PATTERN),
            setting("sns_cert_verify", True),
        )
        max_age = setting("sns_max_age", DEFAULT_SNS_MAX_AGE)
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int | float) or not max_age > 0
        ):
            raise AnymailConfigurationError(
                f"AMAZON_SES_SNS_MAX_AGE must be a number of seconds (or None), not {max_age!r}"
            )
        self.max_age = max_age
        self.boto_session_params = setting("session_params", None) or {}
        self.boto_client_params = setting("client_params", None) or {}

    # --- reading the request ---

    def read_payload(self, request: HttpRequest) -> dict[str, Any]:
        """The SNS message (SNS posts it as text/plain JSON)."""
        try:
            message = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise AnymailWebhookValidationFailure(
                "Malformed Amazon SNS message: the body is not JSON"
            ) from None
        if not isinstance(message, dict) or not isinstance(message.get("Type"), str):
            raise AnymailWebhookValidationFailure("Malformed Amazon SNS message: no Type")
        for name in ("TopicArn", "MessageId", "Timestamp", "Message", "Token", "Subject"):
            if message.get(name) is not None and not isinstance(message[name], str):
                raise AnymailWebhookValidationFailure(
                    f"Malformed Amazon SNS message: {name} must be a string"
                )
        return message

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        message = payload
        header_type = request.headers.get("X-Amz-Sns-Message-Type")
        if header_type is not None and header_type != message["Type"]:
            raise AnymailWebhookValidationFailure(
                "Amazon SNS message Type doesn't match the x-amz-sns-message-type header"
            )
        if self.topic_arns is not None and message.get("TopicArn") not in self.topic_arns:
            raise AnymailWebhookValidationFailure(
                f"Amazon SNS TopicArn {message.get('TopicArn')!r} is not in "
                "AMAZON_SES_SNS_TOPIC_ARNS"
            )
        if self.verify_signatures:
            self.verifier.verify(message)
        # After the signature (which covers both): a message older than
        # AMAZON_SES_SNS_MAX_AGE is refused, and a MessageId already accepted is a
        # duplicate (SNS keeps the MessageId when it retries), never signalled twice.
        try:
            timestamp = iso_timestamp(message.get("Timestamp"), "SNS Timestamp")
        except ValueError as err:
            raise AnymailWebhookValidationFailure(str(err)) from None
        message_id = message.get("MessageId")
        if timestamp is None or not message_id:
            raise AnymailWebhookValidationFailure(
                "Malformed Amazon SNS message: no Timestamp or MessageId"
            )
        self.check_replay(timestamp, message_id, tolerance=self.max_age)

    # --- converting ---

    def parse_events(self, request: HttpRequest, payload: Any) -> list[Any]:
        message = payload
        message_type = message["Type"]
        if message_type == "SubscriptionConfirmation":
            self.confirm_subscription(message)
            return []
        if message_type == "UnsubscribeConfirmation":
            # Someone unsubscribed the webhook from the topic: nothing to do.
            return []
        if message_type != "Notification":
            raise ValueError(f"Unknown Amazon SNS message Type {message_type!r}")
        try:
            ses_event = json.loads(message["Message"])
        except (TypeError, ValueError, KeyError):
            ses_event = None
        except RecursionError:
            raise ValueError("Amazon SNS Message is nested too deeply") from None
        if not isinstance(ses_event, dict):
            # E.g. SES's "Successfully validated SNS topic for Amazon SES event publishing."
            logger.info("Ignoring non-JSON Amazon SNS notification: %.200r", message.get("Message"))
            return []
        if ses_event.get("notificationType") == "AmazonSnsSubscriptionSucceeded":
            return []
        return self.convert(ses_event, message)

    def convert(self, ses_event: dict[str, Any], sns_message: dict[str, Any]) -> list[Any]:
        raise TypeError(f"{type(self).__name__} must implement convert()")

    def confirm_subscription(self, message: dict[str, Any]) -> None:
        topic_arn = message.get("TopicArn") or ""
        token = message.get("Token") or ""
        if not (self.auto_confirm and self.basic_auth):
            raise AnymailWebhookValidationFailure(
                f"Anymail received an unexpected Amazon SNS subscription request for topic "
                f"{topic_arn!r}. If you're setting up this webhook, confirm the subscription "
                f"with Token {token!r} in the SNS console or with the ConfirmSubscription API "
                "(Anymail confirms subscriptions itself only when ANYMAIL WEBHOOK_SECRET is "
                "set and AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS is not False)."
            )
        from anymail.backends.amazon_ses import boto3_client

        # Confirm in the topic's own region: arn:aws:sns:<region>:<account>:<name>
        arn_parts = topic_arn.split(":")
        region = arn_parts[3] if len(arn_parts) == 6 and arn_parts[2] == "sns" else None
        if not region or not _AWS_REGION.fullmatch(region):
            raise AnymailWebhookValidationFailure(f"Invalid SNS TopicArn {topic_arn!r}")
        client = boto3_client(
            "sns", self.boto_session_params, self.boto_client_params, region_name=region
        )
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.confirm_subscription(
                TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true"
            )
        except (BotoCoreError, ClientError) as err:
            raise aws_call_failed(
                err, f"Amazon SNS ConfirmSubscription for {topic_arn!r} failed"
            ) from err
        finally:
            client.close()


class AmazonSESTrackingWebhookView(AmazonSESBaseWebhookView, AnymailTrackingWebhookView):
    """SES Notifications and SES Event Publishing, through an SNS topic."""

    message_tag_name: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> None:
        self.tag_name = get_anymail_setting(
            "message_tag_name", esp_name=ESP_ID, kwargs=kwargs, default=None
        )
        super().read_esp_settings(kwargs)

    def convert(self, ses_event: dict[str, Any], sns_message: dict[str, Any]) -> list[Any]:
        return tracking_events(ses_event, sns_message, self.tag_name)


class AmazonSESInboundWebhookView(AmazonSESBaseWebhookView, AnymailInboundWebhookView):
    """SES email receiving, with a receipt rule's SNS action or S3 action."""

    def convert(self, ses_event: dict[str, Any], sns_message: dict[str, Any]) -> list[Any]:
        return inbound_events(
            ses_event, fetch_s3=self.message_from_s3_action, sns_message=sns_message
        )

    def message_from_s3_action(self, action: Mapping[str, Any]) -> AnymailInboundMessage:
        if action.get("kmsKeyArn"):
            raise AnymailConfigurationError(
                "Anymail's Amazon SES inbound webhook can't read messages stored with the "
                "receipt rule S3 action's 'Encrypt message' option. Turn that option off "
                "(and use S3 default encryption if you need encryption at rest)."
            )
        from anymail.backends.amazon_ses import boto3_client

        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as err:
            raise AnymailImproperlyInstalled("boto3", "anymail-amazon-ses") from err
        bucket, key = action["bucketName"], action["objectKey"]
        client = boto3_client("s3", self.boto_session_params, self.boto_client_params)
        try:
            response = client.get_object(Bucket=bucket, Key=key)
            with response["Body"] as body:
                return AnymailInboundMessage.parse_raw_mime_file(body)
        except (BotoCoreError, ClientError) as err:
            hint = ""
            if isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in (
                "AccessDenied",
                "403",
            ):
                hint = " (does the IAM policy allow s3:GetObject on it?)"
            raise aws_call_failed(
                err, f"Anymail can't fetch the inbound message s3://{bucket}/{key}{hint}"
            ) from err
        finally:
            client.close()
