"""System checks of Anymail's configuration: removed settings, ESP packages that
failed to load, required settings, MAILERS options."""

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


def _setting_is_set(name: str, options: dict[str, Any], esp_id: str) -> bool:
    """Whether an Anymail setting ("MAILGUN_API_KEY") is given anywhere it may be: a
    backend option (MAILERS OPTIONS: "api_key", without the ESP prefix), the ANYMAIL
    dict, an ANYMAIL_-prefixed setting, or the bare setting."""
    anymail_settings = getattr(settings, "ANYMAIL", None) or {}
    return (
        name.lower().removeprefix(f"{esp_id}_") in options
        or name in anymail_settings
        or hasattr(settings, f"ANYMAIL_{name}")
        or hasattr(settings, name)
    )


def _missing(required: Any, options: dict[str, Any], esp_id: str) -> list[str]:
    missing = []
    for entry in required:
        alternatives = (entry,) if isinstance(entry, str) else tuple(entry)
        if not any(_setting_is_set(name, options, esp_id) for name in alternatives):
            missing.append(" or ".join(alternatives))
    return missing


def _configured_backends() -> list[tuple[str, str, dict[str, Any]]]:
    """(where, backend path, options) for the email backends this site configures:
    each MAILERS alias (Django 6.1+), or EMAIL_BACKEND."""
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, dict):
        return [
            (
                f"MAILERS[{alias!r}]",
                str(config.get("BACKEND", "")),
                dict(config.get("OPTIONS") or {}),
            )
            for alias, config in mailers.items()
            if isinstance(config, dict)
        ]
    backend = getattr(settings, "EMAIL_BACKEND", None)
    return [("EMAIL_BACKEND", str(backend), {})] if backend else []


def _routed(esp: Any) -> bool | None:
    """Whether any of the ESP's webhook URLs is in the URLconf (None: the URLconf is
    broken, which Django's own checks report)."""
    from django.urls import NoReverseMatch, reverse

    for route in esp.webhooks:
        try:
            reverse(f"anymail:{esp.id}_{route.name}")
        except NoReverseMatch:
            continue
        except Exception:
            return None
        return True
    return False


def _required_settings_messages(level: type[Any], deploy: bool) -> list[Any]:
    """Missing required settings of the configured backends and routed webhooks.

    A plain ``manage.py check`` (and ``migrate``) warns: a key may legitimately be
    missing at the first deploy (Mandrill issues its webhook key only after it has
    reached the deployed URL; a backend's key may be passed to get_connection), and
    the webhook answers so the ESP retries until it is set. ``check --deploy``
    reports the same as errors.
    """
    from anymail.registry import installed_esps

    messages = []
    esps = installed_esps().values()
    by_backend = {esp.backend: esp for esp in esps}
    for where, backend, options in _configured_backends():
        esp = by_backend.get(backend)
        if esp is None:
            continue
        for name in _missing(esp.required_settings, options, esp.id):
            first = name.split(" or ")[0]
            option = first.lower().removeprefix(esp.id + "_")
            where_option = (
                f"the option {option!r} in {where}['OPTIONS']"
                if where.startswith("MAILERS")
                else f"the backend option {option!r}"
            )
            messages.append(
                level(
                    f"{where} uses Anymail's {esp.name} backend, but {name} is not set.",
                    hint=f"Set ANYMAIL = {{{first!r}: ...}} (or ANYMAIL_{first}, or "
                    f"{where_option}). Ignore this if you pass it to get_connection().",
                    id="anymail.E003" if deploy else "anymail.W005",
                )
            )
    for esp in esps:
        if not esp.webhook_required_settings:
            continue
        routed = _routed(esp)
        if routed is None:
            return messages
        if not routed:
            continue
        for name in _missing(esp.webhook_required_settings, {}, esp.id):
            first = name.split(" or ")[0]
            messages.append(
                level(
                    f"Anymail's {esp.name} webhooks are routed, but {name} is not set: "
                    f"until it is, they answer {esp.webhook_retry_status} so {esp.name} "
                    "retries later (no event is lost, none is handled).",
                    hint=f"Set ANYMAIL = {{{first!r}: ...}} (or ANYMAIL_{first}).",
                    id="anymail.E004" if deploy else "anymail.W006",
                )
            )
    return messages


@register(Tags.compatibility)
def check_required_settings(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """A configured ESP backend, or a routed ESP webhook, whose required setting is
    missing: a warning (it never blocks ``migrate`` or a first deploy)."""
    return _required_settings_messages(Warning, deploy=False)


@register(Tags.compatibility, deploy=True)
def check_required_settings_deploy(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``check --deploy``: a missing required setting is an error."""
    return _required_settings_messages(Error, deploy=True)


#: Backend options every Anymail backend reads (besides its ESP's own settings).
GENERAL_OPTIONS = frozenset(
    {
        "fail_silently",
        "ignore_recipient_status",
        "ignore_unsupported_features",
        "send_defaults",
        "requests_timeout",
        "debug_api_requests",
        "api_url",
        "background",
    }
)


def backend_options(esp: Any) -> frozenset[str]:
    """The option names an ESP's backend accepts: the general ones and its declared
    settings without the ESP prefix (``"MAILGUN_API_KEY"`` → ``"api_key"``)."""
    prefix = esp.id.upper() + "_"
    return GENERAL_OPTIONS | {
        name.removeprefix(prefix).lower() for name in esp.all_settings if name.startswith(prefix)
    }


@register(Tags.compatibility)
def check_mailers_options(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A MAILERS alias (Django 6.1+) with an OPTIONS key its Anymail backend doesn't
    know (a typo: ``batch_send_mesages``) fails only at the first send: say so now."""
    import difflib

    from anymail.registry import installed_esps

    by_backend = {esp.backend: esp for esp in installed_esps().values()}
    errors = []
    for where, backend, options in _configured_backends():
        esp = by_backend.get(backend)
        if esp is None or not where.startswith("MAILERS"):
            continue
        known = backend_options(esp)
        for option in sorted(set(options) - known):
            close = difflib.get_close_matches(option, sorted(known), n=1)
            errors.append(
                Error(
                    f"{where}['OPTIONS'] has {option!r}, which Anymail's {esp.name} backend "
                    "doesn't know: sending would fail.",
                    hint=(f"Did you mean {close[0]!r}? " if close else "")
                    + f"Its options are: {', '.join(sorted(known))}.",
                    id="anymail.E005",
                )
            )
    return errors
