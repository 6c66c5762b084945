"""The app config and system checks."""

from pathlib import Path

import pytest
from django.apps import apps
from django.core import checks
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def anymail_errors(**kwargs):
    return [
        message
        for message in run_checks(**kwargs)
        if message.id and message.id.startswith("anymail.")
    ]


def webhook_keys():
    """A value for every webhook setting the installed ESPs require (signing keys)."""
    from anymail.registry import installed_esps

    return {
        (entry if isinstance(entry, str) else entry[0]): "test-key"
        for esp in installed_esps().values()
        for entry in esp.webhook_required_settings
    }


def test_no_errors_for_current_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "abc:def", **webhook_keys()}
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


# --- required settings (each ESP declares them; the checks report them by name)


@pytest.fixture
def strict_esp(no_esp_installed):
    """An installed ESP that requires an API key to send and a key for its webhooks."""
    from anymail import registry
    from anymail.features import FeatureSupport

    esp = registry.EspDescription(
        id="strict",
        name="Strict",
        features=FeatureSupport.all_supported(),
        backend="testproject.strict.EmailBackend",
        required_settings=("STRICT_API_KEY",),
        webhook_required_settings=(("STRICT_WEBHOOK_KEY", "STRICT_API_KEY"),),
        settings=("STRICT_API_KEY", "STRICT_WEBHOOK_KEY"),
        signed_webhooks=True,
    )
    with registry.override_installed_esps([esp]):
        yield esp


def test_missing_required_setting_of_the_configured_backend(settings, strict_esp):
    from anymail.testing import use_backend

    use_backend(settings, "testproject.strict.EmailBackend")
    settings.ANYMAIL = {}
    # A warning: the key may be passed to get_connection(), and a check must never
    # block `migrate` or a first deploy. `check --deploy` makes it an error.
    [warning] = [e for e in anymail_errors() if e.id == "anymail.W005"]
    assert warning.level == checks.WARNING
    assert "STRICT_API_KEY is not set" in warning.msg
    assert "'api_key'" in warning.hint  # the backend option's name
    [error] = [e for e in anymail_errors(include_deployment_checks=True) if e.id == "anymail.E003"]
    assert error.level == checks.ERROR
    call_command("check")  # passes

    for given in (
        {"ANYMAIL": {"STRICT_API_KEY": "k"}},
        {"ANYMAIL_STRICT_API_KEY": "k"},
    ):
        for name, value in given.items():
            setattr(settings, name, value)
        assert [e for e in anymail_errors() if e.id == "anymail.W005"] == []
        for name in given:
            delattr(settings, name)


def test_a_mailers_option_counts_as_the_setting(settings, strict_esp):
    settings.ANYMAIL = {}
    settings.MAILERS = {
        "default": {"BACKEND": "testproject.strict.EmailBackend", "OPTIONS": {"api_key": "k"}},
        "other": {"BACKEND": "testproject.strict.EmailBackend"},
    }
    [warning] = [e for e in anymail_errors() if e.id == "anymail.W005"]
    assert warning.msg.startswith("MAILERS['other']")
    assert "the option 'api_key' in MAILERS['other']['OPTIONS']" in warning.hint


def test_a_mailers_option_typo_is_named_with_its_alias(settings, strict_esp):
    settings.ANYMAIL = {}
    settings.MAILERS = {
        "default": {
            "BACKEND": "testproject.strict.EmailBackend",
            "OPTIONS": {"api_key": "k", "api_kye": "k2", "send_defaults": {}},
        },
    }
    [error] = [e for e in anymail_errors() if e.id == "anymail.E005"]
    assert error.level == checks.ERROR
    assert "MAILERS['default']['OPTIONS'] has 'api_kye'" in error.msg
    assert "Did you mean 'api_key'?" in error.hint
    assert "k2" not in error.msg + error.hint  # values (secrets) are never shown
    settings.MAILERS["default"]["OPTIONS"].pop("api_kye")
    assert [e for e in anymail_errors() if e.id == "anymail.E005"] == []


def test_missing_webhook_key_only_when_its_webhooks_are_routed(settings, strict_esp):
    import importlib

    from django.urls import clear_url_caches

    import anymail.urls
    import testproject.urls

    # (no_esp_installed rebuilt anymail.urls without the strict ESP: no routes)
    settings.ANYMAIL = {}
    assert [e for e in anymail_errors() if e.id == "anymail.W006"] == []

    importlib.reload(anymail.urls)  # now with the strict ESP's routes
    importlib.reload(testproject.urls)
    clear_url_caches()
    [warning] = [e for e in anymail_errors() if e.id == "anymail.W006"]
    assert "STRICT_WEBHOOK_KEY or STRICT_API_KEY is not set" in warning.msg
    assert "answer 503" in warning.msg  # the ESP retries until it is set
    # `migrate` (and `check`) don't stop for it; `check --deploy` does.
    call_command("migrate", verbosity=0)
    with pytest.raises(SystemCheckError, match=r"anymail\.E004"):
        call_command("check", deploy=True)
    settings.ANYMAIL = {"STRICT_API_KEY": "k"}  # one of the alternatives will do
    assert [
        e
        for e in anymail_errors(include_deployment_checks=True)
        if e.id in ("anymail.W006", "anymail.E004")
    ] == []


@pytest.mark.django_db(transaction=True)
def test_missing_replay_store_table_is_reported_naming_migrate(
    settings, fake_esp_installed, transactional_db
):
    from django.db import connection

    from anymail.checks import check_replay_store_table

    assert check_replay_store_table(databases=["default"]) == []
    with connection.schema_editor() as editor:
        from anymail.models import WebhookReplayToken

        editor.delete_model(WebhookReplayToken)
    try:
        [warning] = check_replay_store_table(databases=["default"])
        assert warning.id == "anymail.W007"
        assert "manage.py migrate anymail" in warning.hint
        assert check_replay_store_table(databases=None) == []  # not asked to check databases
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(WebhookReplayToken)


def test_signed_webhooks_need_no_webhook_secret_warning(settings, strict_esp):
    settings.ANYMAIL = {}
    assert [e for e in anymail_errors() if e.id == "anymail.W002"] == []
