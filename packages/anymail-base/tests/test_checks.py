"""The app config and system checks."""

from pathlib import Path

import pytest
from django.apps import apps
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def anymail_errors():
    return [message for message in run_checks() if message.id and message.id.startswith("anymail.")]


def test_no_errors_for_current_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "abc:def"}
    assert anymail_errors() == []


def test_webhook_authorization_in_the_anymail_dict_is_an_error(settings, no_esp_installed):
    settings.ANYMAIL = {"WEBHOOK_AUTHORIZATION": "abc:def"}
    [error] = anymail_errors()
    assert isinstance(error, Error)
    assert error.id == "anymail.E001"
    assert "'WEBHOOK_AUTHORIZATION' has been renamed 'WEBHOOK_SECRET'" in error.msg
    assert "ANYMAIL['WEBHOOK_SECRET']" in error.hint
    # The secret itself is never echoed.
    assert "abc:def" not in error.msg + error.hint


def test_prefixed_webhook_authorization_setting_is_an_error(settings, no_esp_installed):
    settings.ANYMAIL_WEBHOOK_AUTHORIZATION = "abc:def"
    [error] = anymail_errors()
    assert "ANYMAIL_WEBHOOK_SECRET" in error.msg
    assert "Rename it to ANYMAIL_WEBHOOK_SECRET" in error.hint


def test_manage_py_check_fails(settings):
    settings.ANYMAIL = {"WEBHOOK_AUTHORIZATION": "abc:def"}
    with pytest.raises(SystemCheckError, match=r"anymail\.E001"):
        call_command("check")


def test_app_config_path_is_anymail_base_directory():
    # `anymail` is a namespace package spread over several wheels: the app config names
    # anymail-base's directory explicitly.
    config = apps.get_app_config("anymail")
    assert config.verbose_name == "Anymail"
    path = Path(config.path)
    assert (path / "message.py").is_file()
    assert (path / "apps.py").is_file()
