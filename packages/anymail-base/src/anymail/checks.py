"""System checks for Anymail settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


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


@register(Tags.security)
def check_webhook_secret(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when an ESP's webhooks are routed but WEBHOOK_SECRET is not set."""
    from django.urls import NoReverseMatch, reverse

    from anymail.registry import iter_routes
    from anymail.utils import get_anymail_setting

    if get_anymail_setting("webhook_secret", default=None):
        return []
    routed = []
    for esp, route in iter_routes():
        url_name = f"anymail:{esp.id}_{route.name}"
        try:
            reverse(url_name)
        except NoReverseMatch:
            continue
        except Exception:  # a broken URLconf is reported by Django's own checks
            return []
        routed.append(url_name)
    if not routed:
        return []
    return [
        Warning(
            "Anymail webhooks are routed but ANYMAIL['WEBHOOK_SECRET'] is not set, so anyone "
            f"can post to them ({', '.join(routed)}).",
            hint="Set ANYMAIL['WEBHOOK_SECRET'] to a random 'user:password' string and include it "
            "in the webhook URLs you give your ESP (https://user:password@example.com/anymail/...).",
            id="anymail.W002",
        )
    ]


@register(Tags.compatibility)
def check_esp_entry_points(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Name each installed ESP package whose entry point could not be used (the
    registry skipped it; every other ESP keeps working)."""
    from anymail.registry import load_errors

    return [
        Warning(
            f"The Anymail ESP {error.name!r} ({error.distribution or 'unknown package'}, "
            f"entry point {error.value}) {error.reason}. Anymail skipped it: its backend "
            "and webhook URLs are not available.",
            hint=f"Reinstall or upgrade {error.distribution or 'the package that provides it'} "
            "(it may need a newer or older anymail-base), or uninstall it if unused.",
            id="anymail.W003",
        )
        for error in load_errors()
    ]
