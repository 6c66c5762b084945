"""How Anymail finds Amazon SES: the ``anymail.esps`` entry point points here.

Nothing in this module imports boto3; the backend and webhook views are named by
dotted path and imported only when used.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES", "SNS_RETRY_LIMIT"]

#: Seconds: the longest Amazon SNS retries an HTTP/S delivery, whatever the delivery
#: policy (its hard limit). The default policy gives up after about a minute.
SNS_RETRY_LIMIT = 3600

#: Amazon SES feature support (Anymail 6.0 docs, section 1.5.9), the same for the SES
#: API v2 backend (anymail.backends.amazon_ses) and the v1 one (amazon_sesv1). A raw
#: send (v2 SendEmail Content.Raw, v1 SendRawEmail) carries any MIME message Django can
#: build, so every Django email feature is supported; the limits of stored templates
#: (template_id) are checked by the payloads.
FEATURES = FeatureSupport(
    envelope_sender=Support.YES,
    metadata=Support.YES,
    merge_metadata=Support.NO,
    send_at=Support.NO,
    tags=Support.YES,
    track_clicks=Support.NO,
    track_opens=Support.NO,
    template_id=Support.YES,
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    from_email=Support.YES,
    reply_to=Support.YES,
    alternatives=Support.YES,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    spoofed_to=Support.YES,
)

#: The normalized event types SES Notifications and Event Publishing report.
EVENT_TYPES = frozenset(
    {
        EventType.SENT,
        EventType.REJECTED,
        EventType.FAILED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.DELIVERED,
        EventType.OPENED,
        EventType.CLICKED,
        EventType.COMPLAINED,
        # SES event publishing's "Subscription" event (list management)
        EventType.SUBSCRIBED,
        EventType.UNSUBSCRIBED,
    }
)

ESP = EspDescription(
    id="amazon_ses",
    name="Amazon SES",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    settings=(
        "AMAZON_SES_CLIENT_PARAMS",
        "AMAZON_SES_SESSION_PARAMS",
        "AMAZON_SES_CONFIGURATION_SET_NAME",
        "AMAZON_SES_MESSAGE_TAG_NAME",
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS",
        "AMAZON_SES_SNS_VERIFY_SIGNATURES",
        "AMAZON_SES_SNS_TOPIC_ARNS",
        "AMAZON_SES_SNS_CERT_HOST_PATTERN",
        "AMAZON_SES_SNS_CERT_VERIFY",
        "AMAZON_SES_SNS_MAX_AGE",
    ),
    # Sending needs no setting of ours: boto3 finds credentials and region itself
    # (environment, shared config, instance role), so nothing is declared required.
    # SNS signs every webhook post, and the views verify it (AMAZON_SES_SNS_VERIFY_SIGNATURES).
    signed_webhooks=True,
    # boto3 finds the endpoint itself (AMAZON_SES_CLIENT_PARAMS can set endpoint_url).
    api_url_setting=False,
    # Amazon SNS counts an HTTP/S delivery as failed, and retries it, only when the
    # endpoint answers outside 200-4xx (a 5xx), doesn't answer within 15 seconds or
    # can't be reached: every 4xx, 429 included, is final.
    # https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html
    webhook_retry_status=503,
    # SNS's default HTTP/S delivery policy retries 3 times, 20 seconds apart (about a
    # minute); a topic's or subscription's own policy can retry for longer, but never
    # beyond 3,600 seconds in all (a hard limit).
    webhook_retry_window=SNS_RETRY_LIMIT,
    webhook_retry_docs="https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html",
)
