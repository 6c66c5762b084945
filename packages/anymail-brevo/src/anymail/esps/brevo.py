"""How Anymail finds Brevo (formerly SendinBlue): the ``anymail.esps`` entry point
points here.

This module imports only anymail-base: the backend and webhook views are named by
dotted path and imported when they are first used.

SendinBlue renamed itself Brevo in 2023. This package uses the new name throughout
(the id ``brevo``, ``BREVO_*`` settings, ``anymail.backends.brevo.EmailBackend``,
``/anymail/brevo/tracking/``). The ``anymail-sendinblue`` package keeps Anymail
6.0's SendinBlue names working, with deprecation warnings; the backend here also
reads a ``SENDINBLUE_*`` setting when its ``BREVO_*`` one isn't set.
"""

from __future__ import annotations

from anymail.esp import EspDescription
from anymail.events import EventType
from anymail.features import FeatureSupport, Support

__all__ = ["ESP", "EVENT_TYPES", "FEATURES", "LEGACY_SETTINGS_PREFIX"]

#: The settings prefix of Brevo's former name: ``SENDINBLUE_API_KEY`` and the others
#: still work, with a deprecation warning, where no ``BREVO_*`` setting is given.
LEGACY_SETTINGS_PREFIX = "sendinblue"

#: Brevo's feature support, on its v3 ``smtp/email`` API
#: (https://developers.brevo.com/reference/sendtransacemail).
FEATURES = FeatureSupport(
    # No envelope sender and no per-message tracking options in Brevo's API.
    envelope_sender=Support.NO,
    # A JSON object in the X-Mailin-custom header, returned by the tracking webhook.
    metadata=Support.YES,
    # Each "to" recipient's own X-Mailin-custom, in its message version.
    merge_metadata=Support.YES,
    # "scheduledAt" (at most 72 hours ahead, Brevo says).
    send_at=Support.YES,
    # "tags": a list.
    tags=Support.YES,
    track_clicks=Support.NO,
    track_opens=Support.NO,
    # Stored templates by numeric id, filled with "params".
    template_id=Support.YES,
    # Batch sending: one "messageVersions" entry per "to" recipient, in one call.
    merge_data=Support.YES,
    merge_global_data=Support.YES,
    # "sender" and "replyTo" are single objects.
    from_email=Support.MAX_ONE,
    reply_to=Support.MAX_ONE,
    # Only htmlContent and textContent.
    alternatives=Support.NO,
    attachments=Support.YES,
    # The API has no Content-ID for attachments; with IGNORE_UNSUPPORTED_FEATURES
    # inline images go as ordinary attachments.
    inline_images=Support.NO,
    headers=Support.YES,
    # "to" is both the recipients and the To header.
    spoofed_to=Support.NO,
)

#: The normalized event types Brevo's transactional webhook reports. (The Anymail
#: 6.0 docs also list "subscribed", adding that it "should never occur for
#: transactional email": Brevo's transactional webhook has no such event.)
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
    id="brevo",
    name="Brevo",
    features=FEATURES,
    event_types=EVENT_TYPES,
    # The transactional webhook (tracking/) and the inbound parsing webhook (inbound/).
    inbound=True,
    # Either name will do: SENDINBLUE_API_KEY is read (with a deprecation warning)
    # when BREVO_API_KEY isn't set.
    required_settings=(("BREVO_API_KEY", "SENDINBLUE_API_KEY"),),
    # (With the standard BREVO_API_URL, BREVO_SEND_DEFAULTS and BREVO_SEND_IN_BACKGROUND.)
    settings=("BREVO_API_KEY",),
    # Brevo retries a webhook post only when the answer is 429 (or there is none):
    # every other 4xx and every 5xx discards it. So a fault on our side answers 429.
    webhook_retry_status=429,
    # Four retries, 10 min, 1 h, 2 h and 8 h apart: the last comes 11 h 10 min after
    # the first post. A day leaves room for the 10-minute pauses Brevo adds while a
    # server doesn't answer, and for queueing on Brevo's side.
    webhook_retry_window=24 * 3600,
    webhook_retry_docs="https://developers.brevo.com/docs/retry-mechanism",
)
