"""How Anymail finds Mailgun: the ``anymail.esps`` entry point points here.

This module imports only anymail-base: the backend and webhook views are named
by dotted path and imported when they are first used.
"""

from __future__ import annotations

from anymail.esp import EspDescription, WebhookRoute
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES"]

#: Mailgun's feature support (Anymail 6.0 docs, section 1.5.9, and the messages API).
FEATURES = FeatureSupport(
    # Mailgun picks the sending domain from it; the local part is ignored.
    envelope_sender=Support.DOMAIN_ONLY,
    metadata=Support.YES,
    merge_metadata=Support.YES,
    send_at=Support.YES,
    tags=Support.YES,
    track_clicks=Support.YES,
    track_opens=Support.YES,
    # Mailgun's stored (Handlebars) templates: the messages API's `template`.
    template_id=Support.YES,
    # recipient-variables (with a template, also v:<key> = %recipient.<key>%).
    merge_data=Support.YES,
    # With a template, Mailgun's own t:variables; without one, copied into every
    # recipient's recipient-variables (emulated).
    merge_global_data=Support.EMULATED,
    # The messages API's `from` is one address.
    from_email=Support.MAX_ONE,
    reply_to=Support.YES,
    # Only the text and html bodies: no other alternative parts.
    alternatives=Support.NO,
    attachments=Support.YES,
    inline_images=Support.YES,
    headers=Support.YES,
    # `to` is both the envelope and the To header: no separate To header.
    spoofed_to=Support.NO,
)

#: The normalized event types Mailgun's tracking webhook reports.
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
    }
)

ESP = EspDescription(
    id="mailgun",
    name="Mailgun",
    features=FEATURES,
    event_types=EVENT_TYPES,
    inbound=True,
    extra_webhooks=(
        # A route whose forward() URL ends in "mime" gets the raw message.
        WebhookRoute(
            "inbound_mime/", "MailgunInboundWebhookView", "inbound_mime_webhook", "inbound"
        ),
    ),
    settings=(
        "MAILGUN_API_KEY",
        "MAILGUN_WEBHOOK_SIGNING_KEY",
        "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE",
        "MAILGUN_SENDER_DOMAIN",
    ),
    required_settings=("MAILGUN_API_KEY",),
    # Accounts created before Mailgun issued webhook signing keys signed with the API key.
    webhook_required_settings=(("MAILGUN_WEBHOOK_SIGNING_KEY", "MAILGUN_API_KEY"),),
    # Every post carries an HMAC signature the webhook verifies: basic auth is optional.
    signed_webhooks=True,
    # Mailgun retries a webhook post (and a route's forward()) that gets any answer but
    # 200 or 406, so a 503 for a fault on our side is retried...
    webhook_retry_status=503,
    # ...for 8 hours, at intervals of 5, 10 and 15 minutes, then 1, 2 and 4 hours.
    # Handled events are remembered for 9 hours, like MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE:
    # Mailgun's help center gives a schedule that adds up to 8 h 05 min, so the last
    # retry can land just past 8 hours.
    webhook_retry_window=9 * 3600,
    webhook_retry_docs="https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-retries",
)
