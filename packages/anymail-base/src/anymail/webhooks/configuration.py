"""The general settings every webhook view reads (``WEBHOOK_SECRET``,
``WEBHOOK_REPLAY_STORE``/``_CACHE``, ``WEBHOOK_CLAIM_LEASE``, ``WEBHOOK_PROCESSING``),
each overridable by an ``as_view()`` keyword."""

from __future__ import annotations

from typing import Any

from anymail.exceptions import AnymailConfigurationError
from anymail.settings import get_anymail_setting, string_list
from anymail.webhooks.replay import get_replay_store

__all__ = ["read_general_settings"]


def read_general_settings(view: Any, settings_kwargs: dict[str, Any]) -> None:
    """Set the view's ``basic_auth``, ``replay_store``, ``claim_lease`` and
    ``processing``; AnymailConfigurationError for a wrong one."""
    view.basic_auth = string_list(
        get_anymail_setting("webhook_secret", kwargs=settings_kwargs, default=None),
        "WEBHOOK_SECRET",
        "a 'user:password' string",
    )
    view.replay_store = get_replay_store(
        get_anymail_setting("webhook_replay_store", kwargs=settings_kwargs, default="database"),
        get_anymail_setting("webhook_replay_cache", kwargs=settings_kwargs, default="default"),
    )
    view.claim_lease = float(get_anymail_setting("webhook_claim_lease", default=view.claim_lease))
    view.processing = get_anymail_setting(
        "webhook_processing", kwargs=settings_kwargs, default="inline"
    )
    if view.processing not in ("inline", "background"):
        raise AnymailConfigurationError(
            "ANYMAIL['WEBHOOK_PROCESSING'] must be 'inline' or 'background', "
            f"not {view.processing!r}."
        )
