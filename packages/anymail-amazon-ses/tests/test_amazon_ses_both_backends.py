"""The conformance suite's sends, through both backends: the default one (SES API
v2, which the suite itself runs through the registered ESP description) and the SES
API v1 one (anymail.backends.amazon_sesv1), which the suite can't reach. Each
feature case is the suite's own (anymail_conformance.cases), read back by the
profile from what moto's server received."""

import pytest

from anymail.esps.amazon_ses import ESP
from anymail.exceptions import AnymailAPIError, AnymailUnsupportedFeature
from anymail.features import Feature, Support
from anymail.testing import get_connection, use_backend
from anymail_conformance.cases import CASES, TO1, TO2, base_message

from .conftest import V1_BACKEND

FEATURES = [Feature(name) for name in CASES]

#: the send calls of each backend
V2_ACTIONS = {"SendEmail", "SendBulkEmail"}
V1_ACTIONS = {"SendRawEmail", "SendBulkTemplatedEmail"}


def actions(profile, server):
    return {params["Action"] for params in profile.send_requests(server)}


@pytest.mark.parametrize("feature", FEATURES, ids=[f.value for f in FEATURES])
def test_declared_feature_support(any_ses_settings, profile, moto_ses, settings, feature):
    """Supported: arrives intact. Not supported: raises naming the feature and sends
    nothing; with IGNORE_UNSUPPORTED_FEATURES, sent without it."""
    support = ESP.features[feature]
    case = CASES[feature]
    message = base_message(profile)
    case.use(message, profile, ESP.features)
    profile.adapt_message(message, feature.value)
    if support is not Support.NO:
        assert message.send() == 1
        case.arrived(profile.sent_messages(moto_ses)[-1], support)
    else:
        with pytest.raises(AnymailUnsupportedFeature) as raised:
            message.send()
        assert raised.value.feature == feature.value
        assert profile.request_count(moto_ses) == 0
        settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
        message = base_message(profile)
        case.use(message, profile, ESP.features)
        profile.adapt_message(message, feature.value)
        assert message.send() == 1
        case.absent(profile.sent_messages(moto_ses)[-1])
    expected = V1_ACTIONS if any_ses_settings == V1_BACKEND else V2_ACTIONS
    assert actions(profile, moto_ses) <= expected


def test_status_is_normalized(any_ses_settings, profile, moto_ses):
    message = base_message(profile)
    message.to = [f"To One <{TO1}>", TO2]
    message.cc = ["cc@example.com"]
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {"queued"}
    assert set(status.recipients) == {TO1, TO2, "cc@example.com"}
    assert isinstance(status.message_id, str)
    assert all(r.message_id == status.message_id for r in status.recipients.values())
    assert status.esp_response is not None


@pytest.mark.parametrize(
    ("scenario", "status_range"),
    [("client_error", (400, 499)), ("server_error", (500, 599)), ("malformed", None)],
)
@pytest.mark.parametrize("template", [False, True], ids=["raw", "template"])
def test_api_errors_raise_anymail_api_error(
    any_ses_settings, profile, moto_ses, scenario, status_range, template
):
    profile.set_scenario(moto_ses, scenario)
    message = base_message(profile)
    if template:
        profile.adapt_message(message, "merge_data")  # a stored template
        message.merge_data = {TO1: {"name": "One"}}
    with pytest.raises(AnymailAPIError) as raised:
        message.send()
    if status_range:
        assert status_range[0] <= raised.value.status_code <= status_range[1]
    assert str(raised.value)
    assert get_connection(fail_silently=True).send_messages([base_message(profile)]) == 0


def test_connection_refused_and_timeout(any_ses_settings, profile, moto_ses, settings):
    backend = any_ses_settings
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.timeout_settings()}
    profile.set_scenario(moto_ses, "slow")
    with pytest.raises(AnymailAPIError):
        base_message(profile).send()
    settings.ANYMAIL = profile.unreachable_settings()
    use_backend(settings, backend)
    with pytest.raises(AnymailAPIError) as raised:
        base_message(profile).send()
    assert raised.value.status_code is None


def test_send_messages_reuses_one_connection(any_ses_settings, profile, moto_ses):
    messages = [base_message(profile) for _ in range(3)]
    assert get_connection().send_messages(messages) == 3
    assert profile.request_count(moto_ses) == 3
    assert moto_ses.connection_count == 1


def test_send_defaults_and_esp_send_defaults(any_ses_settings, profile, moto_ses, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SEND_DEFAULTS": {"metadata": {"source": "defaults", "district": "North"}},
        "AMAZON_SES_SEND_DEFAULTS": {"metadata": {"source": "esp-defaults"}},
    }
    message = base_message(profile)
    message.metadata = {"user": "7"}
    message.send()
    assert profile.sent_messages(moto_ses)[-1].metadata == {"source": "esp-defaults", "user": "7"}


def test_esp_extra_reaches_the_api(any_ses_settings, profile, moto_ses):
    """Each backend's own parameter names (v1's SendRawEmail "Tags", v2's
    SendEmail "EmailTags")."""
    tags_param = "Tags" if any_ses_settings == V1_BACKEND else "EmailTags"
    message = base_message(profile)
    message.esp_extra = {
        "ConfigurationSetName": "ConformanceConfigSet",
        tags_param: [{"Name": "Conformance", "Value": "esp-extra"}],
    }
    message.send()
    sent = profile.sent_messages(moto_ses)[-1]
    assert sent.raw["ConfigurationSetName"] == "ConformanceConfigSet"
    assert sent.raw[tags_param] == [{"Name": "Conformance", "Value": "esp-extra"}]


def test_batch_send_per_recipient_status(any_ses_settings, profile, moto_ses):
    """A template send with merge_data reports each recipient's own status: the
    API's per-destination result (v2 BulkEmailEntryResults, v1 Status)."""
    profile.set_scenario(moto_ses, "partial_rejection")
    message = base_message(profile)
    profile.adapt_message(message, "merge_data")
    message.to = [TO1, TO2]
    message.merge_data = {TO1: {"name": "One"}, TO2: {"name": "Two"}}
    assert message.send() == 1
    recipients = message.anymail_status.recipients
    assert recipients[TO1].status == "queued"
    assert recipients[TO1].message_id
    assert recipients[TO2].status == "rejected"
