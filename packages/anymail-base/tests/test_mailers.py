"""Configuring an Anymail backend through Django 6.1's MAILERS setting (an alias
with BACKEND and OPTIONS) and, on earlier Django, through get_connection() keyword
arguments: the same options, read with the same precedence over the ANYMAIL dict."""

import pytest
from django.core import mail
from django.core.management import call_command

from anymail.exceptions import AnymailRecipientsRefused
from anymail.message import AnymailMessage
from anymail.testing import MAILERS_SUPPORTED

TEST_BACKEND = "anymail.backends.test.EmailBackend"


def mailer(settings, alias, backend, **options):
    """The backend configured as ``alias``: a MAILERS alias where Django has MAILERS,
    else (Django 5.2 / 6.0) get_connection() with the same options as keywords."""
    if MAILERS_SUPPORTED:
        settings.MAILERS = {
            **getattr(settings, "MAILERS", {}),
            alias: {"BACKEND": backend, "OPTIONS": options},
        }
        return mail.mailers[alias]
    return mail.get_connection(backend, **options)


def message(**kwargs):
    return AnymailMessage("Subject", "Body", "from@example.com", ["to@example.com"], **kwargs)


def test_options_take_precedence_over_the_anymail_dict(settings):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "rejected", "SEND_DEFAULTS": {"tags": ["dict"]}}
    connection = mailer(
        settings,
        "transactional",
        TEST_BACKEND,
        recipient_status="queued",
        send_defaults={"tags": ["options"]},
    )
    sent = message()
    assert connection.send_messages([sent]) == 1
    assert sent.anymail_status.status == {"queued"}
    assert sent.anymail_send_params["tags"] == ["options"]
    assert mail.outbox == [sent]  # the test backend still collects it


def test_options_alone_no_anymail_dict(settings):
    del settings.ANYMAIL
    connection = mailer(settings, "default", TEST_BACKEND, ignore_recipient_status=True)
    assert connection.ignore_recipient_status is True
    assert connection.send_messages([message()]) == 1


def test_an_unknown_option_is_reported_not_ignored(settings):
    if MAILERS_SUPPORTED:
        from django.core.mail import InvalidMailer

        with pytest.raises(InvalidMailer, match="'api_kee'"):
            mailer(settings, "default", TEST_BACKEND, api_kee="typo")
    else:
        # Django before 6.1 ignores unknown get_connection() keywords (its own rule).
        assert mailer(settings, "default", TEST_BACKEND, api_kee="typo") is not None


def test_fail_silently_is_an_option_anymail_keeps(settings):
    connection = mailer(settings, "quiet", TEST_BACKEND, fail_silently=True)
    assert connection.fail_silently is True
    # An Anymail error (here, every recipient refused) is swallowed: nothing sent.
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "rejected"}
    assert (
        mailer(settings, "quiet", TEST_BACKEND, fail_silently=True).send_messages([message()]) == 0
    )
    loud = mailer(settings, "loud", TEST_BACKEND)
    assert loud.fail_silently is False
    with pytest.raises(AnymailRecipientsRefused):
        loud.send_messages([message()])


def test_two_aliases_two_configurations(settings):
    """The docs' "Mixing email backends", in its MAILERS form."""
    marketing = mailer(settings, "marketing", TEST_BACKEND, send_defaults={"tags": ["mkt"]})
    receipts = mailer(settings, "receipts", TEST_BACKEND, send_defaults={"tags": ["rcpt"]})
    first, second = message(), message()
    marketing.send_messages([first])
    receipts.send_messages([second])
    assert (first.anymail_send_params["tags"], second.anymail_send_params["tags"]) == (
        ["mkt"],
        ["rcpt"],
    )


def test_system_checks_pass_with_mailers(settings, capsys):
    from anymail.registry import installed_esps

    keys = {  # what the installed ESPs' webhooks require (signing keys)
        (entry if isinstance(entry, str) else entry[0]): "test-key"
        for esp in installed_esps().values()
        for entry in esp.webhook_required_settings
    }
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", **keys}
    mailer(settings, "default", TEST_BACKEND)
    call_command("check")
    assert "no issues" in capsys.readouterr().out
