"""System checks for Anymail settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.compatibility)
def check_removed_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """WEBHOOK_AUTHORIZATION was renamed WEBHOOK_SECRET (so Django's error reports hide it)."""
    errors = []
    anymail_settings = getattr(settings, "ANYMAIL", None) or {}
    if "WEBHOOK_AUTHORIZATION" in anymail_settings:
        errors.append(
            Error(
                "The ANYMAIL setting 'WEBHOOK_AUTHORIZATION' has been renamed 'WEBHOOK_SECRET'.",
                hint="Rename it to ANYMAIL['WEBHOOK_SECRET'] in your settings.py "
                "(the value stays the same). Until then every webhook call fails basic auth.",
                id="anymail.E001",
            )
        )
    if hasattr(settings, "ANYMAIL_WEBHOOK_AUTHORIZATION"):
        errors.append(
            Error(
                "The ANYMAIL_WEBHOOK_AUTHORIZATION setting has been renamed ANYMAIL_WEBHOOK_SECRET.",
                hint="Rename it to ANYMAIL_WEBHOOK_SECRET in your settings.py "
                "(the value stays the same). Until then every webhook call fails basic auth.",
                id="anymail.E001",
            )
        )
    return errors
