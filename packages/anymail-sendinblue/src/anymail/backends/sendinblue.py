"""Anymail 6.0's SendinBlue backend path, kept working.

``anymail.backends.sendinblue.EmailBackend`` is Brevo's backend
(``anymail.backends.brevo.EmailBackend``, from anymail-brevo) under SendinBlue's
old identity: its signals say ``esp_name="SendinBlue"``. Using it warns
(AnymailDeprecationWarning, once per process) with the path to use instead. Its settings are Brevo's:
``BREVO_*``, or the former ``SENDINBLUE_*`` names, which warn too.
"""

from __future__ import annotations

from typing import Any

from anymail.backends import brevo
from anymail.backends.brevo import renamed_attributes, warn_renamed
from anymail.esps.sendinblue import ESP

__all__ = ["EmailBackend"]

#: The backend to use instead.
REPLACEMENT = "anymail.backends.brevo.EmailBackend"

#: Names this module had in anymail-sendinblue 0.1, now in anymail.backends.brevo.
_MOVED = {
    "SendinBluePayload": "BrevoPayload",
    "DEFAULT_API_URL": "DEFAULT_API_URL",
    "ALLOWED_ATTACHMENT_EXTENSIONS": "ALLOWED_ATTACHMENT_EXTENSIONS",
    "METADATA_HEADER": "METADATA_HEADER",
}


class EmailBackend(brevo.EmailBackend):
    """Deprecated: ``anymail.backends.brevo.EmailBackend`` under the SendinBlue name."""

    esp = ESP

    def __init__(self, **kwargs: Any) -> None:
        warn_renamed(
            "SendinBlue is now Brevo: the email backend "
            '"anymail.backends.sendinblue.EmailBackend" is deprecated. Use '
            f'"{REPLACEMENT}" (in EMAIL_BACKEND, or as a MAILERS alias\'s "BACKEND"), and '
            "rename the SENDINBLUE_* settings BREVO_* (SENDINBLUE_API_KEY becomes "
            "BREVO_API_KEY). Its signals then say esp_name='Brevo'.",
        )
        super().__init__(**kwargs)


__getattr__ = renamed_attributes(__name__, brevo, _MOVED)
