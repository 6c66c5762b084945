"""How Anymail finds Mandrill: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend and webhook view are named
by dotted path and imported when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription, WebhookRoute
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: Mandrill's feature support (Anymail 6.0 docs, section 1.5.4 and the feature table
#: in 1.5.9; Mailchimp Transactional's messages/send API for the Django features).
FEATURES = FeatureSupport(
    # Only the domain becomes the message's return_path_domain: Mandrill always
    # generates its own bounce mailbox.
    envelope_sender=Support.DOMAIN_ONLY,
    metadata=Support.YES,
    # message.recipient_metadata
    merge_metadata=Support.YES,
    send_at=Support.YES,
    tags=Support.YES,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    # messages/send-template.json with template_name
    template_id=Support.YES,
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # The message has one from_email (and from_name).
    from_email=Support.MAX_ONE,
    # A Reply-To header, which can list several addresses.
    reply_to=Support.YES,
    # Only the text and html bodies: no other alternative parts.
    alternatives=Support.NO,
    attachments=Support.YES,
    # message.images: image/* parts referenced by Content-ID.
    inline_images=Support.YES,
    headers=Support.YES,
    # Mandrill writes the To header from the recipients itself.
    spoofed_to=Support.NO,
)

#: The normalized event types Mandrill's tracking events map to (6.0 docs: "sent,
#: rejected, deferred, bounced, opened, clicked, complained, unsubscribed"). Allowlist
#: and denylist sync events come through as "unknown"; inbound events go to the
#: inbound signal.
EVENT_TYPES = frozenset(
    {
        EventType.SENT,
        EventType.REJECTED,
        EventType.DEFERRED,
        EventType.BOUNCED,
        EventType.OPENED,
        EventType.CLICKED,
        EventType.COMPLAINED,
        EventType.UNSUBSCRIBED,
    }
)

ESP = EspDescription(
    id="mandrill",
    name="Mandrill",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    # One view takes tracking and inbound events alike, at mandrill/ (the URL the
    # docs recommend) and at mandrill/tracking/ (Anymail's URL before 1.3, still served).
    standard_routes=False,
    extra_webhooks=(
        WebhookRoute("", "MandrillCombinedWebhookView", "webhook", "tracking"),
        WebhookRoute("tracking/", "MandrillCombinedWebhookView", "tracking_webhook", "tracking"),
    ),
    required_settings=("MANDRILL_API_KEY",),
    webhook_required_settings=("MANDRILL_WEBHOOK_KEY",),
    signed_webhooks=True,
    # Mailchimp Transactional retries a batch it got no 200 for (any other answer, a
    # 4xx included) up to 20 times, 15-25 minutes apart, then disables the webhook
    # (release note of 17 June 2024, "Webhook retry interval increased"). A 503 is
    # retried like any failure. 20 x 25 minutes is 8 h 20 min: handled events are
    # remembered for 9 hours.
    webhook_retry_status=503,
    webhook_retry_window=9 * 3600,
    webhook_retry_docs="https://mailchimp.com/developer/release-notes/",
    settings=("MANDRILL_API_KEY", "MANDRILL_WEBHOOK_KEY", "MANDRILL_WEBHOOK_URL"),
)
