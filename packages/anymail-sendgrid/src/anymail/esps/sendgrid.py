"""How Anymail finds SendGrid: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend and webhook views are named
by dotted path and imported when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: SendGrid's feature support (Anymail 6.0 docs, section 1.5.6, and the v3 Mail Send API).
FEATURES = FeatureSupport(
    # "SendGrid does not support overriding envelope_sender on individual messages."
    envelope_sender=Support.NO,
    # custom_args in each personalization
    metadata=Support.YES,
    merge_metadata=Support.YES,
    send_at=Support.YES,
    # categories (at most 10: more is refused in the payload, naming "tags")
    tags=Support.YES,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    # dynamic ("d-...") and legacy templates
    template_id=Support.YES,
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # the Mail Send `from` is one address
    from_email=Support.MAX_ONE,
    # One address as `reply_to`, several as `reply_to_list` (the 6.0 docs allowed one;
    # https://www.twilio.com/docs/sendgrid/api-reference/mail-send, "Multiple Reply-To
    # Emails": the two are mutually exclusive, at most 1000 addresses, each once)
    reply_to=Support.YES,
    # `content` takes any MIME type after text/plain and text/html
    alternatives=Support.YES,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    # SendGrid refuses a `To` in `headers`: the To header is always the recipients
    spoofed_to=Support.NO,
)

#: The normalized event types SendGrid's Event Webhook reports (6.0 docs).
EVENT_TYPES = frozenset(
    {
        EventType.QUEUED,
        EventType.REJECTED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.DELIVERED,
        EventType.OPENED,
        EventType.CLICKED,
        EventType.COMPLAINED,
        EventType.UNSUBSCRIBED,
        EventType.SUBSCRIBED,
    }
)

ESP = EspDescription(
    id="sendgrid",
    name="SendGrid",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    # Signed Event Webhook: verified when SENDGRID_WEBHOOK_VERIFICATION_KEY is set.
    signed_webhooks="optional",
    required_settings=("SENDGRID_API_KEY",),
    # (beside the standard SENDGRID_API_URL, _SEND_DEFAULTS and _SEND_IN_BACKGROUND)
    settings=(
        "SENDGRID_API_KEY",
        "SENDGRID_GENERATE_MESSAGE_ID",
        "SENDGRID_MERGE_FIELD_FORMAT",
        "SENDGRID_WEBHOOK_VERIFICATION_KEY",
    ),
    # SendGrid retries a 5xx from both webhooks: the Event Webhook retries any answer
    # but a 2xx "at increasing intervals for up to 24 hours after the event occurs";
    # Inbound Parse retries a 5xx for up to 72 hours (and drops a post on a 3xx or 4xx).
    webhook_retry_status=503,
    # The longer of the two: Inbound Parse's 72 hours.
    webhook_retry_window=72 * 3600,
    webhook_retry_docs=(
        "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/troubleshooting"
    ),
)
