"""Anymail 6.0's SendinBlue names keep working, each with an AnymailDeprecationWarning
that says what to change: the backend path, the SENDINBLUE_* settings, the tracking
webhook URL and view, the modules' other names. Brevo's behaviour itself is
anymail-brevo's to prove (and the conformance suite proves it under these names)."""

import json
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse

from anymail.backends import brevo as brevo_backend
from anymail.backends.brevo import _warned as warned
from anymail.conformance.brevo.profile import API_KEY, brevo_error
from anymail.conformance.brevo.profile import PROFILE as BREVO_PROFILE
from anymail.conformance.brevo.profile import answer as brevo_answer
from anymail.conformance.sendinblue.profile import PROFILE
from anymail.esps.brevo import ESP as BREVO
from anymail.esps.sendinblue import ESP
from anymail.exceptions import AnymailConfigurationError, AnymailDeprecationWarning
from anymail.message import AnymailMessage
from anymail.registry import current_esps, installed_esps
from anymail.signals import post_send, pre_send
from anymail.testing import get_connection
from anymail.webhooks import brevo as brevo_webhooks
from anymail_conformance import WebhookFixtureTests, load_fixtures
from anymail_conformance.fake_server import FakeESPServer
from anymail_conformance.package_checks import emptied, run_python, warns_once

OLD_BACKEND = "anymail.backends.sendinblue.EmailBackend"
OLD_URL = "/anymail/sendinblue/tracking/"
NEW_URL = "/anymail/brevo/tracking/"
BACKEND_WARNING = (
    'SendinBlue is now Brevo: the email backend "anymail.backends.sendinblue.EmailBackend" '
    'is deprecated. Use "anymail.backends.brevo.EmailBackend" (in EMAIL_BACKEND, or as a '
    'MAILERS alias\'s "BACKEND"), and rename the SENDINBLUE_* settings BREVO_* '
    "(SENDINBLUE_API_KEY becomes BREVO_API_KEY). Its signals then say esp_name='Brevo'."
)
WEBHOOK_WARNING = (
    "SendinBlue is now Brevo: the webhook URL /anymail/sendinblue/tracking/ "
    "(anymail:sendinblue_tracking_webhook, SendinBlueTrackingWebhookView) is deprecated. "
    "In Brevo (Transactional > Settings > Webhook), change the webhook's URL to end in "
    "/anymail/brevo/tracking/ instead, keeping its user:password. Its signals then come "
    "from anymail.webhooks.brevo.BrevoTrackingWebhookView with esp_name='Brevo'."
)
DELIVERED = BREVO_PROFILE.fixtures_dir / "delivered.json"


@pytest.fixture(autouse=True)
def _fresh_deprecation_warnings():
    """Each deprecation warning is given once per process: forget those given."""
    with emptied(warned):
        yield


@pytest.fixture
def api():
    with FakeESPServer(
        lambda request: brevo_error(request) or brevo_answer(request.json())
    ) as server:
        yield server


def message(**kwargs):
    msg = AnymailMessage(
        subject="Subject",
        body="Text",
        from_email="from@example.com",
        to=["to@example.com"],
        **kwargs,
    )
    msg.attach_alternative("<p>HTML</p>", "text/html")
    return msg


def messages_of(caught):
    return [str(w.message) for w in caught if issubclass(w.category, AnymailDeprecationWarning)]


# --- the backend


def test_the_old_backend_and_settings_still_send_with_a_warning_for_each(settings, api):
    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = {
        "SENDINBLUE_API_KEY": API_KEY,
        "SENDINBLUE_API_URL": f"{api.url}/v3/",
        "SENDINBLUE_SEND_DEFAULTS": {"tags": ["from-defaults"]},
    }
    seen = []

    def receiver(sender, message, esp_name, **kwargs):
        seen.append((sender.__module__, esp_name))

    pre_send.connect(receiver)
    post_send.connect(receiver)
    try:
        msg = message()
        with pytest.warns(AnymailDeprecationWarning) as caught:
            msg.send()
    finally:
        pre_send.disconnect(receiver)
        post_send.disconnect(receiver)
    [request] = api.requests
    assert request.headers["api-key"] == API_KEY
    assert request.json()["tags"] == ["from-defaults"]
    assert msg.anymail_status.status == {"queued"}
    # Signals say SendinBlue, as they always did on this path.
    assert seen == [("anymail.backends.sendinblue", "SendinBlue")] * 2
    assert sorted(messages_of(caught)) == sorted(
        [
            BACKEND_WARNING,
            'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_API_KEY"] is deprecated. '
            'Rename it ANYMAIL["BREVO_API_KEY"] (same value).',
            'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_API_URL"] is deprecated. '
            'Rename it ANYMAIL["BREVO_API_URL"] (same value).',
            'SendinBlue is now Brevo: the setting ANYMAIL["SENDINBLUE_SEND_DEFAULTS"] is '
            'deprecated. Rename it ANYMAIL["BREVO_SEND_DEFAULTS"] (same value).',
        ]
    )


@pytest.mark.parametrize(
    ("name", "value", "spelling", "replacement"),
    [
        (
            "ANYMAIL_SENDINBLUE_API_KEY",
            API_KEY,
            "ANYMAIL_SENDINBLUE_API_KEY",
            "ANYMAIL_BREVO_API_KEY",
        ),
        ("SENDINBLUE_API_KEY", API_KEY, "SENDINBLUE_API_KEY", "BREVO_API_KEY"),
    ],
)
def test_every_spelling_of_the_old_settings_works(
    settings, api, name, value, spelling, replacement
):
    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = {"BREVO_API_URL": f"{api.url}/v3/"}
    setattr(settings, name, value)
    with pytest.warns(AnymailDeprecationWarning) as caught:
        message().send()
    assert api.requests[0].headers["api-key"] == API_KEY
    assert (
        f"SendinBlue is now Brevo: the setting {spelling} is deprecated. "
        f"Rename it {replacement} (same value)."
    ) in messages_of(caught)


def test_the_old_backend_with_the_new_settings_warns_only_about_its_path(settings, api):
    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{api.url}/v3/"}
    with pytest.warns(AnymailDeprecationWarning) as caught:
        message().send()
    assert messages_of(caught) == [BACKEND_WARNING]
    assert len(api.requests) == 1


def test_the_old_backend_takes_options_like_the_new_one(settings, api):
    """A MAILERS alias's OPTIONS (or get_connection keywords) have no prefix."""
    settings.ANYMAIL = {}
    with pytest.warns(AnymailDeprecationWarning, match="the email backend"):
        connection = get_connection(OLD_BACKEND, api_key=API_KEY, api_url=f"{api.url}/v3/")
    assert isinstance(connection, brevo_backend.EmailBackend)
    assert (connection.esp_name, connection.api_key) == ("SendinBlue", API_KEY)
    msg = message()
    msg.connection = connection
    msg.send()
    assert len(api.requests) == 1


def test_a_missing_api_key_names_the_new_setting(settings):
    settings.ANYMAIL = {}
    with (
        pytest.warns(AnymailDeprecationWarning),
        pytest.raises(AnymailConfigurationError, match=re.escape('ANYMAIL = {"BREVO_API_KEY"')),
    ):
        get_connection(OLD_BACKEND)


def test_the_new_features_work_under_the_old_names_too(settings, api):
    """Several tags, send_at and batch sending: Brevo's declaration is the old name's."""
    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{api.url}/v3/"}
    msg = message(tags=["a", "b"])
    msg.to = ["one@example.com", "two@example.com"]
    msg.merge_data = {"one@example.com": {"n": 1}}
    with pytest.warns(AnymailDeprecationWarning):
        msg.send()
    body = api.requests[0].json()
    assert body["tags"] == ["a", "b"]
    assert [version["to"] for version in body["messageVersions"]] == [
        [{"email": "one@example.com"}],
        [{"email": "two@example.com"}],
    ]


def test_each_warning_is_given_once(settings, api):
    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = {"SENDINBLUE_API_KEY": API_KEY, "BREVO_API_URL": f"{api.url}/v3/"}
    warns_once(lambda: message().send(), AnymailDeprecationWarning)
    assert len(api.requests) == 2


def test_the_modules_old_names_are_brevos_with_a_warning():
    from anymail.backends import sendinblue as old_backend
    from anymail.webhooks import sendinblue as old_webhooks

    with pytest.warns(AnymailDeprecationWarning) as caught:
        found = [
            (old_backend.SendinBluePayload, brevo_backend.BrevoPayload),
            (old_backend.DEFAULT_API_URL, "https://api.brevo.com/v3/"),
            (old_webhooks.tracking_events, brevo_webhooks.tracking_events),
            (old_webhooks.SendinBlueWebhookView, brevo_webhooks.BrevoWebhookView),
        ]
    assert all(old == new for old, new in found)
    assert messages_of(caught) == [
        "SendinBlue is now Brevo: anymail.backends.sendinblue.SendinBluePayload is "
        "deprecated. Use anymail.backends.brevo.BrevoPayload.",
        "SendinBlue is now Brevo: anymail.backends.sendinblue.DEFAULT_API_URL is deprecated. "
        "Use anymail.backends.brevo.DEFAULT_API_URL.",
        "SendinBlue is now Brevo: anymail.webhooks.sendinblue.tracking_events is deprecated. "
        "Use anymail.webhooks.brevo.tracking_events.",
        "SendinBlue is now Brevo: anymail.webhooks.sendinblue.SendinBlueWebhookView is "
        "deprecated. Use anymail.webhooks.brevo.BrevoWebhookView.",
    ]
    with pytest.raises(AttributeError):
        old_backend.NoSuchName  # noqa: B018


# --- the tracking webhook


def post(url, payload, credentials="user:pass"):
    from anymail.testing import SignalCapture, basic_auth_header

    with SignalCapture() as capture:
        response = Client().post(
            url,
            json.dumps(payload),
            content_type="application/json",
            headers={"Authorization": basic_auth_header(credentials)},
        )
    return response, capture.signals


def test_the_old_url_still_works_with_a_warning(webhook_secret):
    payload = json.loads(DELIVERED.read_text())["request"]["json"]
    assert reverse("anymail:sendinblue_tracking_webhook") == OLD_URL
    with pytest.warns(AnymailDeprecationWarning) as caught:
        response, [signal] = post(OLD_URL, payload)
    assert response.status_code == 200
    assert messages_of(caught) == [WEBHOOK_WARNING]
    assert signal.esp_name == "SendinBlue"
    assert signal.sender.__name__ == "SendinBlueTrackingWebhookView"
    assert issubclass(signal.sender, brevo_webhooks.BrevoTrackingWebhookView)
    assert signal.event.event_type == "delivered"
    assert signal.event.message_id == "<201798300811.5787683@relay.domain.com>"


def test_an_event_handled_at_one_url_is_a_duplicate_at_the_other(webhook_secret):
    """Moving Brevo's webhook from the old URL to the new one (or having both for a
    while) signals no event twice."""
    payload = json.loads(DELIVERED.read_text())["request"]["json"]
    with pytest.warns(AnymailDeprecationWarning):
        _response, [signal] = post(OLD_URL, payload)
    response, signals = post(NEW_URL, payload)
    assert (response.status_code, response.content, signals) == (200, b"Already received", [])
    other = {**payload, "event": "opened"}
    _response, [signal] = post(NEW_URL, other)
    response, signals = post(OLD_URL, other)
    assert (response.status_code, signals) == (200, [])
    assert signal.esp_name == "Brevo"


def test_there_is_no_old_inbound_url(webhook_secret):
    """SendinBlue never had an inbound webhook: Brevo's is /anymail/brevo/inbound/."""
    with pytest.raises(NoReverseMatch):
        reverse("anymail:sendinblue_inbound_webhook")
    response = Client().post("/anymail/sendinblue/inbound/", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert reverse("anymail:brevo_inbound_webhook") == "/anymail/brevo/inbound/"


class TestSendinBlueFixtures(WebhookFixtureTests):
    """Brevo's tracking fixtures, posted to the old URL (the profile lets its
    deprecation warning through)."""

    esp_id = "sendinblue"


def test_the_profile_has_brevos_tracking_fixtures_only():
    names = {fixture.name for fixture in load_fixtures(PROFILE)}
    brevo_names = {fixture.name for fixture in load_fixtures(BREVO_PROFILE)}
    assert names == {
        name
        for name in brevo_names
        if name not in ("inbound_published_sample", "wrong_url_tracking_at_inbound")
    }
    assert {"delivered", "wrong_url_inbound_at_tracking"} <= names


# --- the description


def test_the_description_is_brevos_under_the_old_identity():
    assert (ESP.id, ESP.name, ESP.superseded_by) == ("sendinblue", "SendinBlue", "brevo")
    assert ESP.backend == OLD_BACKEND
    assert ESP.features == BREVO.features
    assert ESP.event_types == BREVO.event_types
    assert (ESP.webhook_retry_status, ESP.webhook_retry_window) == (429, BREVO.webhook_retry_window)
    assert [route.name for route in ESP.webhooks] == ["tracking_webhook"]


def test_the_feature_matrix_lists_only_brevo(capsys):
    assert "sendinblue" in installed_esps()
    assert "sendinblue" not in current_esps()
    assert "brevo" in current_esps()
    call_command("anymail_features")
    output = capsys.readouterr().out
    assert "Brevo" in output
    assert "SendinBlue" not in output


@pytest.mark.parametrize(
    "anymail_settings",
    [{"SENDINBLUE_API_KEY": "k"}, {"BREVO_API_KEY": "k"}],
)
def test_manage_py_check_accepts_either_api_key_name(settings, anymail_settings):
    from anymail.checks import check_required_settings

    settings.EMAIL_BACKEND = OLD_BACKEND
    settings.ANYMAIL = anymail_settings
    assert [m for m in check_required_settings() if m.id == "anymail.W005"] == []
    settings.ANYMAIL = {}
    [missing] = [m for m in check_required_settings() if m.id == "anymail.W005"]
    assert "SENDINBLUE_API_KEY or BREVO_API_KEY" in missing.msg


def test_the_description_module_imports_no_backend_or_webhook():
    """Listing the registry imports neither package's backend or webhook modules."""
    code = (
        "import sys, anymail.esps.sendinblue; "
        "bad = {'anymail.backends.sendinblue', 'anymail.webhooks.sendinblue', "
        "'anymail.backends.brevo', 'anymail.webhooks.brevo'} & set(sys.modules); "
        "assert not bad, bad"
    )
    run_python(code)
