"""The exceptions (docs 1.3.6 and DESIGN's compatibility list), their bases, and
fail_silently."""

import pytest
import requests
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

from anymail import exceptions
from anymail.exceptions import (
    AnymailAPIError,
    AnymailCancelSend,
    AnymailConfigurationError,
    AnymailError,
    AnymailImproperlyInstalled,
    AnymailInsecureWebhookWarning,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
    AnymailWarning,
    AnymailWebhookValidationFailure,
)
from anymail.features import FeatureSupport
from anymail.testing import get_connection


@pytest.mark.parametrize(
    ("exception", "bases"),
    [
        (AnymailAPIError, (AnymailError,)),
        (AnymailRequestsAPIError, (AnymailAPIError, requests.RequestException)),
        (AnymailRecipientsRefused, (AnymailError,)),
        (AnymailInvalidAddress, (AnymailError, ValueError)),
        (AnymailUnsupportedFeature, (AnymailError, ValueError)),
        (AnymailSerializationError, (AnymailError, TypeError)),
        (AnymailWebhookValidationFailure, (AnymailError, SuspiciousOperation)),
        (AnymailConfigurationError, (ImproperlyConfigured,)),
        (AnymailImproperlyInstalled, (AnymailConfigurationError, ImportError)),
        (AnymailCancelSend, (Exception,)),
        (AnymailWarning, (Warning,)),
        (AnymailInsecureWebhookWarning, (AnymailWarning,)),
    ],
)
def test_public_exceptions_keep_their_bases(exception, bases):
    # `except requests.RequestException` or `except ValueError` in existing code keeps working.
    for base in bases:
        assert issubclass(exception, base)
    assert exception.__name__ in exceptions.__all__


def test_api_error_status_code_comes_from_the_response():
    response = requests.Response()
    response.status_code = 503
    response.reason = "Service Unavailable"
    response._content = b'{"message": "try later"}'
    error = AnymailRequestsAPIError("Send failed", response=response)
    assert error.status_code == 503
    assert error.response is response
    text = str(error)
    assert "Send failed" in text
    assert "503 Service Unavailable" in text
    assert "try later" in text


def test_error_message_never_contains_the_backends_secrets():
    class Backend:
        esp_name = "Example"

        def secret_values(self):
            return ["sk_live_abcdef123456"]

    response = requests.Response()
    response.status_code = 401
    response._content = b'{"error": "invalid key sk_live_abcdef123456"}'
    error = AnymailAPIError(
        "Posting with key sk_live_abcdef123456 failed",
        response=response,
        backend=Backend(),
        description="key=sk_live_abcdef123456",
    )
    text = str(error)
    assert "sk_live_abcdef123456" not in text
    assert "invalid key ********" in text
    assert error.esp_name == "Example"


def test_improperly_installed_says_what_to_install():
    error = AnymailImproperlyInstalled("boto3", install_extra="anymail-amazon-ses")
    assert error.missing_package == "boto3"
    assert 'install "anymail-amazon-ses"' in str(error)


def test_serialization_error_default_message_names_the_field():
    error = AnymailSerializationError(field="metadata['total']", orig_err=TypeError("Decimal"))
    assert error.field == "metadata['total']"
    assert "metadata['total']" in str(error)
    assert "Decimal" in str(error)


def test_unsupported_feature_names_the_feature():
    assert AnymailUnsupportedFeature("nope", feature="tags").feature == "tags"


# --- fail_silently --------------------------------------------------------------


@pytest.mark.parametrize(
    "make_it_fail",
    [
        pytest.param(
            lambda msg, settings: setattr(msg, "to", ["not an address"]), id="invalid-address"
        ),
        pytest.param(
            lambda msg, settings: setattr(
                settings, "ANYMAIL", {"TEST_RECIPIENT_STATUS": "rejected"}
            ),
            id="recipients-refused",
        ),
        pytest.param(
            lambda msg, settings: setattr(
                settings,
                "ANYMAIL",
                {"TEST_FEATURES": FeatureSupport.all_supported().replace(tags="no")},
            ),
            id="unsupported-feature",
        ),
        pytest.param(
            lambda msg, settings: setattr(msg, "metadata", {"when": object()}), id="serialization"
        ),
    ],
)
def test_fail_silently_suppresses_anymail_errors(settings, make_it_fail):
    def failing_message():
        message = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
        message.tags = ["tag"]
        make_it_fail(message, settings)
        return message

    with pytest.raises(AnymailError):
        failing_message().send()
    assert get_connection(fail_silently=True).send_messages([failing_message()]) == 0


def test_fail_silently_keeps_sending_the_rest_of_the_batch():
    good = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    bad = mail.EmailMessage("s", "b", "from@example.com", ["Widgets, Inc. <w@example.com>"])
    connection = get_connection(fail_silently=True)
    assert connection.send_messages([bad, good]) == 1
    assert mail.outbox == [good]
