"""Anymail 6.0's SendinBlue tracking webhook, kept working.

``SendinBlueTrackingWebhookView`` (the URL ``/anymail/sendinblue/tracking/``, named
``anymail:sendinblue_tracking_webhook``) is Brevo's tracking view
(``anymail.webhooks.brevo.BrevoTrackingWebhookView``, from anymail-brevo) under
SendinBlue's old identity: its signals say ``esp_name="SendinBlue"`` and come from
this class. A request to it warns (AnymailDeprecationWarning, once per process)
with the URL to give Brevo instead.

It shares Brevo's record of handled events: an event handled at one of the two
URLs is a duplicate at the other, so a site can move Brevo's webhook from the old
URL to the new one (or have both for a while) without an event signalled twice.
"""

from __future__ import annotations

from typing import Any

from anymail.backends.brevo import renamed_attributes, warn_renamed
from anymail.esps.brevo import ESP as BREVO
from anymail.esps.sendinblue import ESP
from anymail.webhooks import brevo
from anymail.webhooks.base import ReplayProtection

__all__ = ["SendinBlueTrackingWebhookView"]

#: Names this module had in anymail-sendinblue 0.1, now in anymail.webhooks.brevo.
_MOVED = {
    "SendinBlueWebhookView": "BrevoWebhookView",
    "tracking_events": "tracking_events",
    "tracking_event": "transactional_event",
    "EVENT_TYPE_MAP": "EVENT_TYPE_MAP",
    "REJECT_REASON_MAP": "REJECT_REASON_MAP",
}


class SendinBlueTrackingWebhookView(brevo.BrevoTrackingWebhookView):
    """Deprecated: ``BrevoTrackingWebhookView`` under the SendinBlue name."""

    esp = ESP

    def __init__(self, **kwargs: Any) -> None:
        # (Django makes a view instance for each request.)
        warn_renamed(
            "SendinBlue is now Brevo: the webhook URL /anymail/sendinblue/tracking/ "
            "(anymail:sendinblue_tracking_webhook, SendinBlueTrackingWebhookView) is "
            "deprecated. In Brevo (Transactional > Settings > Webhook), change the "
            "webhook's URL to end in /anymail/brevo/tracking/ instead, keeping its "
            "user:password. Its signals then come from "
            "anymail.webhooks.brevo.BrevoTrackingWebhookView with esp_name='Brevo'.",
        )
        super().__init__(**kwargs)

    def replay_protection(self, tolerance: float | None) -> ReplayProtection:
        # Brevo's record of handled events, shared with /anymail/brevo/tracking/.
        return ReplayProtection(BREVO.id, tolerance, self.replay_store)


__getattr__ = renamed_attributes(__name__, brevo, _MOVED)
