"""How Anymail finds Postmark: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend and webhook views are named
by dotted path and imported when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: Postmark's feature support (Anymail 6.0 docs, section 1.5.5, and Postmark's email API).
FEATURES = FeatureSupport(
    # The return path is configured per sending domain in Postmark, not per message.
    envelope_sender=Support.NO,
    metadata=Support.YES,
    # Each "to" recipient gets its own message (the batch API) with its own Metadata.
    merge_metadata=Support.YES,
    send_at=Support.NO,
    # Postmark's `Tag` is one string.
    tags=Support.MAX_ONE,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    template_id=Support.YES,
    # Supported since Anymail 4.2 (the docs' Postmark section and changelog; the
    # docs' summary table still says "No", and the section wins).
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # `From` is one address.
    from_email=Support.MAX_ONE,
    # `ReplyTo` takes a comma-separated list.
    reply_to=Support.YES,
    # Only TextBody and HtmlBody: no other alternative parts.
    alternatives=Support.NO,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    # `To` is both the recipients and the To header.
    spoofed_to=Support.NO,
)

#: The normalized event types Postmark's tracking webhooks report (docs section 1.5.5).
EVENT_TYPES = frozenset(
    {
        EventType.REJECTED,
        EventType.FAILED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.DELIVERED,
        EventType.AUTORESPONDED,
        EventType.OPENED,
        EventType.CLICKED,
        EventType.COMPLAINED,
        EventType.UNSUBSCRIBED,
        EventType.SUBSCRIBED,
    }
)

ESP = EspDescription(
    id="postmark",
    name="Postmark",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    required_settings=("POSTMARK_SERVER_TOKEN",),
    settings=("POSTMARK_SERVER_TOKEN", "POSTMARK_BATCH_SEND_MESSAGES"),
    # Postmark retries both webhooks after a 5xx. Its outbound (tracking) webhooks retry
    # only 5xx, 408, 429 and timeouts, 6 times over about an hour; its inbound webhook
    # retries anything but a 200 or a 403, 10 times over about 10.5 hours (1 min, 5 min,
    # 3 x 10 min, 15 min, 30 min, 1 h, 2 h, 6 h). Handled events are remembered for the
    # longer of the two, with a margin.
    webhook_retry_status=503,
    webhook_retry_window=12 * 3600,
    webhook_retry_docs=(
        "https://postmarkapp.com/support/article/understanding-inbound-webhook-retries-in-postmark"
    ),
)
