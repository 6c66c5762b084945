"""How Anymail finds SendinBlue (now named Brevo): the ``anymail.esps`` entry point
points here.

This module imports only anymail-base: the backend and webhook view are named by
dotted path and imported when they are first used.

Anymail keeps the name "SendinBlue" in code (the id ``sendinblue``, the settings,
the backend path and the webhook URL), as Anymail 6.0 did, so existing sites keep
working after Brevo's rename.
"""

from __future__ import annotations

from anymail.features import EventType, FeatureSupport, Support
from anymail.registry import EspDescription

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: SendinBlue's feature support (Anymail 6.0 docs, section 1.5.7, on Brevo's v3
#: ``smtp/email`` API).
FEATURES = FeatureSupport(
    # No envelope sender, scheduling or per-message tracking options in the 6.0 docs.
    envelope_sender=Support.NO,
    # A JSON object in the X-Mailin-custom header, returned by the tracking webhook.
    metadata=Support.YES,
    # No batch sending: every "to" recipient sees the same message.
    merge_metadata=Support.NO,
    send_at=Support.NO,
    # One tag per message (6.0: "Single tag").
    tags=Support.MAX_ONE,
    track_clicks=Support.NO,
    track_opens=Support.NO,
    # Stored templates by numeric id, filled with merge_global_data ("params").
    template_id=Support.YES,
    merge_data=Support.NO,
    merge_global_data=Support.YES,
    # "sender" and "replyTo" are single objects.
    from_email=Support.MAX_ONE,
    reply_to=Support.MAX_ONE,
    # Only htmlContent and textContent.
    alternatives=Support.NO,
    attachments=Support.YES,
    # The API has no Content-ID for attachments (6.0: "doesn't support inline images,
    # at all"); with IGNORE_UNSUPPORTED_FEATURES they go as ordinary attachments.
    inline_images=Support.NO,
    headers=Support.YES,
    # "to" is both the recipients and the To header.
    spoofed_to=Support.NO,
)

#: The normalized event types SendinBlue's transactional webhook reports. (The 6.0
#: docs also list "subscribed", adding that it "should never occur for transactional
#: email": Brevo's transactional webhook has no such event, so it isn't declared.)
EVENT_TYPES = frozenset(
    {
        EventType.QUEUED,
        EventType.REJECTED,
        EventType.FAILED,
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
    id="sendinblue",
    name="SendinBlue",
    features=FEATURES,
    event_types=EVENT_TYPES,
    # Only the tracking route: SendinBlue has no inbound webhook (6.0 docs).
    inbound=False,
    required_settings=("SENDINBLUE_API_KEY",),
    settings=(
        "SENDINBLUE_API_KEY",
        "SENDINBLUE_API_URL",
        "SENDINBLUE_SEND_DEFAULTS",
    ),
    # Brevo retries a webhook post only when the answer is 429 (or there is none):
    # every other 4xx and every 5xx discards it. So a fault on our side answers 429.
    webhook_retry_status=429,
    # Four retries, 10 min, 1 h, 2 h and 8 h apart: the last comes 11 h 10 min after
    # the first post. A day leaves room for the 10-minute pauses Brevo adds while a
    # server doesn't answer, and for queueing on Brevo's side.
    webhook_retry_window=24 * 3600,
    webhook_retry_docs="https://developers.brevo.com/docs/retry-mechanism",
    docs_url="https://github.com/anymail/anymail/tree/main/packages/anymail-sendinblue#readme",
)
