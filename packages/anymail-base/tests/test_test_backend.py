"""Anymail's test backend (docs 1.6.5)."""

import pytest
from django.core import mail

from anymail.exceptions import AnymailConfigurationError, AnymailUnsupportedFeature
from anymail.features import FeatureSupport
from anymail.message import AnymailMessage
from anymail.testing import get_connection


def test_collects_messages_in_the_outbox_like_locmem():
    message = AnymailMessage(
        "Subject", "Body", "from@example.com", ["user@example.com"], tags=["confirmation"]
    )
    message.send()
    assert mail.outbox == [message]
    assert mail.outbox[0].to == ["user@example.com"]
    assert mail.outbox[0].tags == ["confirmation"]


def test_docs_example_verifies_params_including_send_defaults(settings):
    settings.ANYMAIL = {"SEND_DEFAULTS": {"track_clicks": True}}
    mail.send_mail("Confirm", "Body", "from@example.com", ["user@example.com"])
    assert len(mail.outbox) == 1
    assert mail.outbox[0].anymail_send_params["track_clicks"]


def test_sets_anymail_status():
    message = mail.EmailMessage(
        "s", "b", "from@example.com", ["you@example.com", "Me <me@example.com>"]
    )
    message.send()
    status = message.anymail_status
    assert status.status == {"sent"}
    assert isinstance(status.message_id, str)
    assert status.message_id.endswith("@test.anymail.invalid>")
    assert set(status.recipients) == {"you@example.com", "me@example.com"}
    assert status.recipients["me@example.com"].message_id == status.message_id
    assert status.esp_response["params"] is message.anymail_send_params


def test_each_message_gets_its_own_message_id():
    first = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    second = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    get_connection().send_messages([first, second])
    assert first.anymail_status.message_id != second.anymail_status.message_id


def test_send_params_also_available_under_django_anymail_name():
    message = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.send()
    assert message.anymail_test_params is message.anymail_send_params
    assert message.anymail_send_params == {
        "from_email": "from@example.com",
        "to": ["to@example.com"],
        "subject": "s",
        "text_body": "b",
    }


def test_recipient_status_per_recipient(settings):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": {"bad@example.com": "invalid"}}
    message = mail.EmailMessage(
        "s", "b", "from@example.com", ["bad@example.com", "good@example.com"]
    )
    message.send()
    assert message.anymail_status.recipients["bad@example.com"].status == "invalid"
    assert message.anymail_status.recipients["good@example.com"].status == "sent"
    assert message.anymail_status.status == {"invalid", "sent"}


def test_recipient_status_must_be_a_normalized_status(settings):
    settings.ANYMAIL = {"TEST_RECIPIENT_STATUS": "delivered"}
    with pytest.raises(AnymailConfigurationError, match="TEST_RECIPIENT_STATUS"):
        mail.send_mail("s", "b", "from@example.com", ["to@example.com"])


def test_features_stand_in_for_a_more_limited_esp():
    connection = get_connection(features=FeatureSupport.all_supported().replace(metadata="no"))
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"], metadata={"k": "v"})
    with pytest.raises(AnymailUnsupportedFeature):
        connection.send_messages([message])
    assert mail.outbox == []


def test_features_must_be_a_declaration(settings):
    settings.ANYMAIL = {"TEST_FEATURES": {"metadata": "no"}}
    with pytest.raises(AnymailConfigurationError, match="TEST_FEATURES"):
        get_connection()
