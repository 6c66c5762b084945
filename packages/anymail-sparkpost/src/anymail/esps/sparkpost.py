"""How Anymail finds SparkPost: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend (and with it SparkPost's
``sparkpost`` client) and the webhook views are named by dotted path and imported
when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: SparkPost's feature support (Anymail 6.0 docs, sections 1.5.8 and 1.5.9, on the
#: transmissions API as it is today).
FEATURES = FeatureSupport(
    # Sent whole as return_path; SparkPost may keep only its domain (see the README).
    envelope_sender=Support.YES,
    metadata=Support.YES,
    merge_metadata=Support.YES,
    send_at=Support.YES,
    # A message's tag is its campaign_id: one per transmission.
    tags=Support.MAX_ONE,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    template_id=Support.YES,
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # content.from is one address (a string or {name, email}).
    from_email=Support.MAX_ONE,
    # content.reply_to is the Reply-To header's value: a list of addresses is fine.
    reply_to=Support.YES,
    # content has text, html and amp_html only (amp_html through esp_extra).
    alternatives=Support.NO,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    # Each recipient's address.header_to is the To header it gets.
    spoofed_to=Support.YES,
)

#: The normalized event types SparkPost's event webhooks report: the 6.0 docs' list,
#: plus ``failed`` (generation_failure) and ``autoresponded`` (auto-reply and
#: challenge-response bounce classes), which the docs' list leaves out.
EVENT_TYPES = frozenset(
    {
        EventType.QUEUED,
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
    id="sparkpost",
    name="SparkPost",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    settings=("SPARKPOST_API_KEY",),
    # SparkPost re-posts a batch for any answer that isn't a 2xx (a 4xx too), with
    # growing gaps, 12 attempts in all, and gives up 8 hours after the first
    # ("Best Practices for Managing Webhook Data Streams"). Any 5xx does.
    webhook_retry_status=503,
    webhook_retry_window=8 * 3600,
    webhook_retry_docs="https://support.sparkpost.com/docs/tech-resources/webhook-data-streams",
)
