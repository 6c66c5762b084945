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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from anymail.esps.amazon_ses import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailImproperlyInstalled,
    AnymailWebhookValidationFailure,
)
from anymail.features import EventType, RejectReason
from anymail.inbound import AnymailInboundMessage
from anymail.utils import UNSET, get_anymail_setting
from anymail.webhooks.amazon_ses_sns import DEFAULT_CERT_HOST_PATTERN, SNSMessageVerifier
from anymail.webhooks.base import (
    AnymailBaseWebhookView,
    AnymailInboundWebhookView,
    AnymailTrackingWebhookView,
)

__all__ = [
    "AmazonSESInboundWebhookView",
    "AmazonSESTrackingWebhookView",
    "SNSMessageVerifier",
    "inbound_events",
    "tracking_events",
]

logger = logging.getLogger("anymail.webhooks.amazon_ses")

ESP_ID = ESP.id

# ---------------------------------------------------------------------------
# Tracking: an SES event in, normalized events out


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


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


def tracking_events(
    ses_event: dict[str, Any], sns_message: dict[str, Any], tag_name: str | None = None
) -> list[AnymailTrackingEvent]:
    """The normalized events of one SES notification or published event (the JSON
    in an SNS Notification's ``Message``). ``tag_name`` is AMAZON_SES_MESSAGE_TAG_NAME."""
    # SES Notifications say "notificationType", SES Event Publishing "eventType"
    kind = ses_event.get("eventType") or ses_event.get("notificationType")
    if kind == "Received":
        raise AnymailConfigurationError(
            "The Amazon SES tracking webhook received an inbound (Received) "
            "notification: subscribe the inbound webhook (amazon_ses/inbound/) to "
            "your receipt rule's SNS topic instead."
        )
    mail = ses_event.get("mail") or {}
    message_id = mail.get("messageId")
    metadata, tags = metadata_and_tags(mail, tag_name)
    common = {
        "event_id": sns_message.get("MessageId"),
        "esp_event": ses_event,
        "message_id": message_id,
        "metadata": metadata,
        "tags": tags,
    }
    everyone = [str(address) for address in mail.get("destination") or ()]

    def events(event_type: str, recipients: list[Any], detail: dict[str, Any], **fields: Any):
        timestamp = _timestamp(detail.get("timestamp") or mail.get("timestamp"))
        return [
            AnymailTrackingEvent(event_type, timestamp, recipient=recipient, **common, **fields)
            for recipient in recipients
        ]

    if kind == "Bounce":
        bounce = ses_event["bounce"]
        bounce_type = bounce.get("bounceType", "")
        sub_type = bounce.get("bounceSubType", "")
        reason = BOUNCE_REASON_MAP.get((bounce_type, sub_type), RejectReason.OTHER)
        return [
            event
            for recipient in bounce.get("bouncedRecipients") or ()
            for event in events(
                EventType.BOUNCED,
                [recipient.get("emailAddress")],
                bounce,
                reject_reason=reason,
                description=f"{bounce_type}: {sub_type}",
                mta_response=recipient.get("diagnosticCode"),
            )
        ]
    if kind == "Complaint":
        complaint = ses_event["complaint"]
        return events(
            EventType.COMPLAINED,
            [r.get("emailAddress") for r in complaint.get("complainedRecipients") or ()],
            complaint,
            description=complaint.get("complaintFeedbackType"),
            user_agent=complaint.get("userAgent"),
        )
    if kind == "Delivery":
        delivery = ses_event["delivery"]
        return events(
            EventType.DELIVERED,
            list(delivery.get("recipients") or ()),
            delivery,
            mta_response=delivery.get("smtpResponse"),
        )
    if kind == "DeliveryDelay":
        delay = ses_event["deliveryDelay"]
        return [
            event
            for recipient in delay.get("delayedRecipients") or ()
            for event in events(
                EventType.DEFERRED,
                [recipient.get("emailAddress")],
                delay,
                description=delay.get("delayType"),
                mta_response=recipient.get("diagnosticCode"),
            )
        ]
    if kind == "Send":
        return events(EventType.SENT, everyone, ses_event.get("send") or {})
    if kind == "Reject":
        reject = ses_event.get("reject") or {}
        return events(
            EventType.REJECTED,
            everyone,
            reject,
            reject_reason=RejectReason.BLOCKED,
            description=reject.get("reason"),
        )
    if kind == "Open":
        opened = ses_event.get("open") or {}
        return events(EventType.OPENED, everyone, opened, user_agent=opened.get("userAgent"))
    if kind == "Click":
        click = ses_event.get("click") or {}
        return events(
            EventType.CLICKED,
            everyone,
            click,
            click_url=click.get("link"),
            user_agent=click.get("userAgent"),
        )
    if kind == "Rendering Failure":
        failure = ses_event.get("failure") or {}
        return events(
            EventType.FAILED,
            everyone,
            failure,
            description=failure.get("errorMessage"),
        )
    # Subscription and any event type added after this was written
    return events(EventType.UNKNOWN, everyone, {}, description=kind)


def metadata_and_tags(
    mail: dict[str, Any], tag_name: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Anymail's metadata and tags, from the original headers (when SES includes
    them) or, for tags, from the AMAZON_SES_MESSAGE_TAG_NAME SES Message Tag."""
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    for header in mail.get("headers") or ():
        name = str(header.get("name", "")).lower()
        if name == "x-metadata":
            try:
                value = json.loads(header.get("value", ""))
            except ValueError:
                logger.warning("Amazon SES event has an X-Metadata header that isn't JSON")
            else:
                if isinstance(value, dict):
                    metadata = value
        elif name == "x-tag":
            tags.append(header.get("value", ""))
    if not tags and tag_name:
        tags = list((mail.get("tags") or {}).get(tag_name) or ())
    return metadata, tags


# ---------------------------------------------------------------------------
# Inbound: an SES receipt notification in, an inbound event out


def inbound_events(
    ses_event: dict[str, Any],
    fetch_s3: Callable[[dict[str, Any]], AnymailInboundMessage] | None = None,
) -> list[AnymailInboundEvent]:
    """The inbound event of one SES receipt notification. A receipt rule's SNS
    action carries the message; for its S3 action, ``fetch_s3(action)`` reads it."""
    if ses_event.get("notificationType") != "Received":
        raise AnymailConfigurationError(
            "The Amazon SES inbound webhook received a "
            f"{ses_event.get('notificationType') or ses_event.get('eventType')!r} "
            "notification: subscribe the tracking webhook (amazon_ses/tracking/) to "
            "that SNS topic instead."
        )
    mail = ses_event.get("mail") or {}
    receipt = ses_event.get("receipt") or {}
    action = receipt.get("action") or {}
    action_type = action.get("type")
    if action_type == "SNS":
        message = message_from_sns_action(ses_event, action)
    elif action_type == "S3":
        if fetch_s3 is None:
            raise AnymailConfigurationError("Reading an S3 action's message needs fetch_s3")
        message = fetch_s3(action)
    else:
        raise AnymailConfigurationError(
            f"Anymail's Amazon SES inbound webhook supports the receipt rule SNS and S3 "
            f"actions, not {action_type!r}."
        )
    message.envelope_sender = mail.get("source")
    recipients = receipt.get("recipients") or mail.get("destination") or []
    message.envelope_recipient = recipients[0] if recipients else None
    spam = (receipt.get("spamVerdict") or {}).get("status")
    message.spam_detected = {"PASS": False, "FAIL": True}.get(str(spam).upper())
    return [
        AnymailInboundEvent(
            EventType.INBOUND,
            timestamp=_timestamp(mail.get("timestamp")),
            event_id=mail.get("messageId"),
            esp_event=ses_event,
            message=message,
        )
    ]


def message_from_sns_action(
    ses_event: dict[str, Any], action: dict[str, Any]
) -> AnymailInboundMessage:
    content = ses_event["content"]
    encoding = str(action.get("encoding", "UTF8")).upper()
    if encoding == "BASE64":
        return AnymailInboundMessage.parse_raw_mime_bytes(base64.b64decode(content))
    return AnymailInboundMessage.parse_raw_mime(content)


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
    session_params: Any = UNSET
    client_params: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        def setting(name: str, default: Any) -> Any:
            return get_anymail_setting(name, esp_name=ESP_ID, kwargs=kwargs, default=default)

        self.auto_confirm = bool(setting("auto_confirm_sns_subscriptions", True))
        self.verify_signatures = bool(setting("sns_verify_signatures", True))
        topic_arns = setting("sns_topic_arns", None)
        if isinstance(topic_arns, str):
            topic_arns = [topic_arns]
        self.topic_arns = frozenset(topic_arns) if topic_arns else None
        self.verifier = SNSMessageVerifier(
            setting("sns_cert_host_pattern", DEFAULT_CERT_HOST_PATTERN),
            setting("sns_cert_verify", True),
        )
        self.boto_session_params = setting("session_params", None) or {}
        self.boto_client_params = setting("client_params", None) or {}
        return {}

    # --- reading the request ---

    def read_payload(self, request: HttpRequest) -> dict[str, Any]:
        """The SNS message (SNS posts it as text/plain JSON)."""
        try:
            message = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AnymailWebhookValidationFailure(
                "Malformed Amazon SNS message: the body is not JSON"
            ) from None
        if not isinstance(message, dict) or "Type" not in message:
            raise AnymailWebhookValidationFailure("Malformed Amazon SNS message: no Type")
        return message

    def validate_esp(self, request: HttpRequest, payload: Any) -> None:
        message = payload
        header_type = request.headers.get("X-Amz-Sns-Message-Type")
        if header_type is not None and header_type != message.get("Type"):
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
        except (TypeError, ValueError):
            ses_event = None
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
        topic_arn = message.get("TopicArn", "")
        token = message.get("Token", "")
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
        if not region:
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
            raise AnymailAPIError(
                f"Amazon SNS ConfirmSubscription for {topic_arn!r} failed: {err}"
            ) from err
        finally:
            client.close()


class AmazonSESTrackingWebhookView(AmazonSESBaseWebhookView, AnymailTrackingWebhookView):
    """SES Notifications and SES Event Publishing, through an SNS topic."""

    message_tag_name: Any = UNSET

    def read_esp_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.tag_name = get_anymail_setting(
            "message_tag_name", esp_name=ESP_ID, kwargs=kwargs, default=None
        )
        return super().read_esp_settings(kwargs)

    def convert(self, ses_event: dict[str, Any], sns_message: dict[str, Any]) -> list[Any]:
        return tracking_events(ses_event, sns_message, self.tag_name)


class AmazonSESInboundWebhookView(AmazonSESBaseWebhookView, AnymailInboundWebhookView):
    """SES email receiving, with a receipt rule's SNS action or S3 action."""

    def convert(self, ses_event: dict[str, Any], sns_message: dict[str, Any]) -> list[Any]:
        return inbound_events(ses_event, fetch_s3=self.message_from_s3_action)

    def message_from_s3_action(self, action: dict[str, Any]) -> AnymailInboundMessage:
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
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise AnymailAPIError(
                f"Anymail can't fetch the inbound message s3://{bucket}/{key}: {err} "
                "(does the IAM policy allow s3:GetObject on it?)",
                status_code=status,
            ) from err
        except BotoCoreError as err:
            raise AnymailAPIError(
                f"Anymail can't fetch the inbound message s3://{bucket}/{key}: {err}"
            ) from err
        finally:
            client.close()
