"""System checks for Anymail settings (``manage.py check``): importing this package
registers them all."""

from __future__ import annotations

from anymail.checks.configuration import (
    GENERAL_OPTIONS,
    backend_options,
    check_esp_entry_points,
    check_mailers_options,
    check_removed_settings,
    check_required_settings,
    check_required_settings_deploy,
)
from anymail.checks.webhooks import (
    check_background_task_backend,
    check_replay_store,
    check_replay_store_table,
    check_webhook_secret,
)

__all__ = [
    "GENERAL_OPTIONS",
    "backend_options",
    "check_background_task_backend",
    "check_esp_entry_points",
    "check_mailers_options",
    "check_removed_settings",
    "check_replay_store",
    "check_replay_store_table",
    "check_required_settings",
    "check_required_settings_deploy",
    "check_webhook_secret",
]
