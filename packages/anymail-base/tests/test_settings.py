"""Settings lookup (docs 1.2.4): the ANYMAIL dict, ANYMAIL_-prefixed settings, the
bare-name fallback for ESP keys, and backend keyword overrides."""

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from anymail.exceptions import AnymailConfigurationError, AnymailRecipientsRefused
from anymail.settings import get_anymail_setting
from anymail.testing import get_connection


def test_reads_the_anymail_dict(settings):
    settings.ANYMAIL = {"MAILGUN_API_KEY": "12345", "SEND_DEFAULTS": {"tags": ["myapp"]}}
    assert get_anymail_setting("api_key", esp_name="mailgun") == "12345"
    assert get_anymail_setting("send_defaults") == {"tags": ["myapp"]}


def test_reads_anymail_prefixed_settings(settings):
    settings.ANYMAIL_MAILGUN_API_KEY = "12345"
    settings.ANYMAIL_SEND_DEFAULTS = {"tags": ["myapp"]}
    assert get_anymail_setting("api_key", esp_name="mailgun") == "12345"
    assert get_anymail_setting("send_defaults") == {"tags": ["myapp"]}


def test_the_anymail_dict_wins_over_a_prefixed_setting(settings):
    settings.ANYMAIL = {"MAILGUN_API_KEY": "from-dict"}
    settings.ANYMAIL_MAILGUN_API_KEY = "from-prefixed"
    assert get_anymail_setting("api_key", esp_name="mailgun") == "from-dict"


def test_bare_name_is_a_fallback_only_where_allowed(settings):
    settings.MAILGUN_API_KEY = "bare"
    assert get_anymail_setting("api_key", esp_name="mailgun", allow_bare=True) == "bare"
    # Without allow_bare the bare name is not consulted.
    assert get_anymail_setting("api_key", esp_name="mailgun", default=None) is None


def test_bare_name_is_used_only_if_neither_anymail_setting_is_set(settings):
    settings.MAILGUN_API_KEY = "bare"
    settings.ANYMAIL_MAILGUN_API_KEY = "prefixed"
    assert get_anymail_setting("api_key", esp_name="mailgun", allow_bare=True) == "prefixed"
    settings.ANYMAIL = {"MAILGUN_API_KEY": "dict"}
    assert get_anymail_setting("api_key", esp_name="mailgun", allow_bare=True) == "dict"


def test_keyword_argument_overrides_settings_and_is_consumed(settings):
    settings.ANYMAIL = {"MAILGUN_API_KEY": "from-settings"}
    kwargs = {"api_key": "from-kwarg", "other": 1}
    assert get_anymail_setting("api_key", esp_name="mailgun", kwargs=kwargs) == "from-kwarg"
    # Popped, so backends can pass the leftovers on to Django's BaseEmailBackend.
    assert kwargs == {"other": 1}


def test_default_is_returned_when_setting_is_missing():
    assert get_anymail_setting("requests_timeout", default=30) == 30
    assert get_anymail_setting("api_key", esp_name="mailgun", default=None) is None


def test_missing_required_setting_names_every_place_it_may_be_given():
    with pytest.raises(AnymailConfigurationError) as excinfo:
        get_anymail_setting("api_key", esp_name="mailgun", allow_bare=True)
    message = str(excinfo.value)
    assert 'ANYMAIL = {"MAILGUN_API_KEY": ...}' in message
    assert "ANYMAIL_MAILGUN_API_KEY" in message
    assert " or MAILGUN_API_KEY" in message
    # ... and as a backend option: a MAILERS alias's OPTIONS, or get_connection()
    assert 'the option "api_key"' in message
    assert 'MAILERS alias\'s "OPTIONS"' in message
    assert "get_connection(api_key=...)" in message
    # A configuration error is an ImproperlyConfigured, as Django code expects.
    assert isinstance(excinfo.value, ImproperlyConfigured)


def test_missing_setting_without_bare_fallback_does_not_suggest_the_bare_name():
    with pytest.raises(AnymailConfigurationError) as excinfo:
        get_anymail_setting("webhook_secret")
    message = str(excinfo.value)
    assert "ANYMAIL_WEBHOOK_SECRET" in message
    assert " or WEBHOOK_SECRET" not in message


def test_anymail_setting_must_be_a_dict(settings):
    settings.ANYMAIL = ["MAILGUN_API_KEY", "12345"]
    with pytest.raises(AnymailConfigurationError, match="ANYMAIL setting must be a dict"):
        get_anymail_setting("api_key", esp_name="mailgun", default=None)


def test_backend_settings_come_from_prefixed_settings_too(settings):
    settings.ANYMAIL_TEST_RECIPIENT_STATUS = "rejected"
    settings.ANYMAIL_IGNORE_RECIPIENT_STATUS = False
    with pytest.raises(AnymailRecipientsRefused):
        mail.send_mail("Subject", "Body", "from@example.com", ["to@example.com"])


def test_get_connection_keywords_override_settings(settings):
    # As in the docs' "Mixing email backends": get_connection(..., api_key=...).
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "rejected", "IGNORE_RECIPIENT_STATUS": False}
    connection = get_connection(
        "anymail.backends.test.EmailBackend",
        recipient_status="queued",
        send_defaults={"tags": ["from-kwarg"]},
    )
    message = mail.EmailMessage("Subject", "Body", to=["to@example.com"], connection=connection)
    message.send()
    assert message.anymail_status.status == {"queued"}
    assert message.anymail_send_params["tags"] == ["from-kwarg"]

    # The settings still apply to connections made without the keywords.
    with pytest.raises(AnymailRecipientsRefused):
        mail.send_mail("Subject", "Body", "from@example.com", ["to@example.com"])
