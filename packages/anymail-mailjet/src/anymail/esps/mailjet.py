"""How Anymail finds Mailjet: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend and webhook views are named
by dotted path and imported when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: Mailjet's feature support (Anymail 6.0 docs, section 1.5.3), the same with Send API
#: v3.1 (the default) and v3 (MAILJET_API_VERSION = "v3"). Property names: v3.1 / v3.
FEATURES = FeatureSupport(
    # Sender / Sender (needs Mailjet's approval for the API key).
    envelope_sender=Support.YES,
    # EventPayload / Mj-EventPayLoad, returned as "Payload" in tracking events.
    metadata=Support.YES,
    # Each "to" recipient gets its own message, with its own payload.
    merge_metadata=Support.YES,
    # The Send API has no scheduled sending.
    send_at=Support.NO,
    # CustomCampaign / Mj-campaign: one campaign per message.
    tags=Support.MAX_ONE,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    # v3.1: the template's numeric ID (v3 also takes its name).
    template_id=Support.YES,
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # From / FromEmail is one address.
    from_email=Support.MAX_ONE,
    # v3.1: ReplyTo (one address) or, for several, a Reply-To header; v3: the header.
    reply_to=Support.YES,
    # Only TextPart and HTMLPart.
    alternatives=Support.NO,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    # Mailjet builds the To header from the recipients; no separate To header.
    spoofed_to=Support.NO,
)

#: The normalized event types Mailjet's Event API reports (docs section 1.5.3).
EVENT_TYPES = frozenset(
    {
        EventType.REJECTED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.DELIVERED,
        EventType.OPENED,
        EventType.CLICKED,
        EventType.COMPLAINED,
        EventType.UNSUBSCRIBED,
    }
)

ESP = EspDescription(
    id="mailjet",
    name="Mailjet",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    # Mailjet's Event API guide: the endpoint "must return a 200 OK HTTP code if all
    # goes well. Any other HTTP code will result in our server retrying the request
    # later. Our system will retry every 30s and will stop after 24h, unless a new
    # event is generated." Any non-200 answer is retried, so the default 503 makes
    # Mailjet retry a fault on our side.
    webhook_retry_status=503,
    # 24 hours documented; remembered twice that long, because the guide says the
    # retries go on past 24 hours while new events keep coming.
    webhook_retry_window=2 * 24 * 3600,
    webhook_retry_docs="https://dev.mailjet.com/email/guides/webhooks/",
    required_settings=("MAILJET_API_KEY", "MAILJET_SECRET_KEY"),
    # (and the standard MAILJET_API_URL, MAILJET_SEND_DEFAULTS, MAILJET_SEND_IN_BACKGROUND)
    settings=(
        "MAILJET_API_KEY",
        "MAILJET_SECRET_KEY",
        "MAILJET_API_VERSION",
        "MAILJET_BATCH_SEND_MESSAGES",
    ),
)
