"""SendinBlue, Brevo's former name: the ``anymail.esps`` entry point ``sendinblue``
points here, so Anymail 6.0's SendinBlue names keep working.

SendinBlue renamed itself Brevo in 2023, and Anymail's Brevo support is the
``anymail-brevo`` package (``anymail.esps.brevo``). This description is Brevo's,
under the old identity: the id ``sendinblue`` (the ``/anymail/sendinblue/tracking/``
URL, ``anymail:sendinblue_tracking_webhook``), the display name "SendinBlue" (the
signals' ``esp_name``), ``anymail.backends.sendinblue.EmailBackend`` and the
``SENDINBLUE_*`` settings. Each of them works, with an AnymailDeprecationWarning
that says what to change. ``superseded_by="brevo"`` keeps it out of the feature
matrix and the docs (``anymail.registry.current_esps()``).

This module imports only anymail-base and Brevo's description.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.esps.brevo import ESP as BREVO

__all__ = ["ESP"]

ESP = EspDescription(
    id="sendinblue",
    name="SendinBlue",
    superseded_by=BREVO.id,
    # The same backend and webhook under the old names: the same features and events.
    features=BREVO.features,
    event_types=BREVO.event_types,
    # Only the tracking route: Anymail 6.0's SendinBlue had no inbound webhook, so
    # there is no old inbound URL to keep (Brevo's is /anymail/brevo/inbound/).
    inbound=False,
    required_settings=(("SENDINBLUE_API_KEY", "BREVO_API_KEY"),),
    # (With the standard SENDINBLUE_API_URL, _SEND_DEFAULTS and _SEND_IN_BACKGROUND.)
    settings=("SENDINBLUE_API_KEY",),
    webhook_retry_status=BREVO.webhook_retry_status,
    webhook_retry_window=BREVO.webhook_retry_window,
    webhook_retry_docs=BREVO.webhook_retry_docs,
)
