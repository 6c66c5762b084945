"""Each ESP package's README (its PyPI page) works as written, for what every README
shows the same way:

- nothing a user reads installs or imports the conformance suite (it isn't published);
- the settings snippets that configure the ESP's backend: MAILERS (Django 6.1+) shown
  first, then EMAIL_BACKEND (5.2, 6.0), labelled ``# settings.py (Django 6.1+)`` and
  ``# settings.py (Django 5.2, 6.0)`` where the README labels them, and each
  configuring the backend on the Django it is for;
- the local trials it has: the console backend (prints instead of sending), the curl
  that posts an event to runserver (one signal, what the README says the server
  prints, and the same post again acknowledged without a signal), and the retry
  answer it states (``**503**, with `Retry-After: 60` ``).

Each package's own README test keeps what only its README says (and that it has the
trials its README is expected to have: a README that drops one isn't checked here).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.mail import send_mail
from django.test import override_settings

from anymail.esp import import_string
from anymail.registry import installed_esps
from anymail.testing import SignalCapture, basic_auth_header
from anymail_conformance.fixtures import load_fixtures, post_fixture, webhook_settings
from anymail_conformance.package_checks import (
    CONSOLE_BACKEND,
    SETTINGS_LABELS,
    BrokenReceiver,
    Readme,
)
from anymail_conformance.profiles import EspUnderTest, esps_under_test

# Webhook posts record their events in the default replay store: the test database.
pytestmark = pytest.mark.django_db


def readme_of(esp: EspUnderTest) -> Readme:
    return Readme.of(esp.esp.distribution)


def backend_of(esp: EspUnderTest) -> str:
    """The backend the README configures: a renamed ESP's README (SendinBlue's) tells
    users to move to its successor's."""
    if esp.esp.superseded_by:
        return installed_esps()[esp.esp.superseded_by].backend
    return esp.esp.backend


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The trials each installed ESP's README has, as (esp, trial) pairs."""
    kinds = {
        "console_trial": lambda readme: readme.mailer_snippets(CONSOLE_BACKEND),
        "curl_trial": Readme.curl_trials,
        "retry_claim": Readme.retry_claims,
    }
    for name, find in kinds.items():
        if name in metafunc.fixturenames:
            pairs, ids = [], []
            for esp in esps_under_test():
                for index, item in enumerate(find(readme_of(esp))):
                    pairs.append((esp, item))
                    ids.append(f"{esp.id}-{index}")
            metafunc.parametrize(name, pairs, ids=ids)


def test_readme_needs_no_test_extra(esp):
    """anymail-conformance isn't published: nothing a user reads installs or imports
    it. (A renamed ESP's README may tell contributors, under "Development", that the
    suite runs its successor's profile under the old module names.)"""
    readme = readme_of(esp)
    assert "[test]" not in readme.text
    assert "anymail_conformance" not in readme.text
    user_docs = readme.without_section("Development") if esp.esp.superseded_by else readme.text
    assert "anymail.conformance" not in user_docs


def test_readme_settings_snippets_configure_the_backend(esp):
    readme = readme_of(esp)
    backend = backend_of(esp)
    snippets = readme.mailer_snippets(backend)
    assert any(snippet.sets("MAILERS") for snippet in snippets), (
        f"{readme.name} shows no MAILERS setting (Django 6.1+) for {backend}"
    )
    for snippet in snippets:
        namespace = snippet.run()
        # one way or the other: a user copies the snippet for their Django
        assert snippet.sets("MAILERS") != snippet.sets("EMAIL_BACKEND"), snippet.code
        if snippet.sets("MAILERS"):
            assert namespace["MAILERS"]["default"]["BACKEND"] == backend
        else:
            assert namespace["EMAIL_BACKEND"] == backend
        if "INSTALLED_APPS" in namespace:
            assert "anymail" in namespace["INSTALLED_APPS"]
    # The 6.1 way first: a new 6.1 project already has MAILERS (and then refuses
    # EMAIL_BACKEND).
    first = {
        setting: next((s.start for s in snippets if s.sets(setting)), len(readme.text))
        for setting in SETTINGS_LABELS
    }
    assert first["MAILERS"] < first["EMAIL_BACKEND"]
    if 'EMAIL_BACKEND = "' in readme.text:
        assert readme.text.index("MAILERS = {") < readme.text.index('EMAIL_BACKEND = "')
    if any(label in readme.text for label in SETTINGS_LABELS.values()):
        readme.labelled_settings_snippets(backend)  # one of each, on the right snippet
        labels = list(SETTINGS_LABELS.values())
        assert readme.text.index(labels[0]) < readme.text.index(labels[1])
    # ... and the snippets for this Django configure the backend.
    backend_class = import_string(backend)
    for snippet in snippets:
        connection = snippet.connection()
        if connection is not None:
            assert isinstance(connection, backend_class), snippet.code


def test_readme_console_trial_prints_instead_of_sending(console_trial, capsys):
    """The README's local trial with the console backend: a message is printed, with
    the params the ESP's backend would have sent."""
    _esp, snippet = console_trial
    mailer = snippet.mailer_settings()
    assert mailer is not None, f"the console snippet has nothing for this Django: {snippet.code}"
    with override_settings(**mailer):
        send_mail("Hi", "Text", "from@example.com", ["to@example.com"], html_message="<p>Hi</p>")
    output = capsys.readouterr().out
    assert "Subject: Hi" in output
    assert "Anymail send params" in output


def test_readme_webhook_trial_with_curl(curl_trial, client, settings, capsys):
    """The README's curl, against the site its settings make (WEBHOOK_SECRET, the
    credentials it posts with): one signal, for the event posted; the server prints
    what the README shows (its receiver); the same post again is acknowledged, with
    no signal."""
    esp, trial = curl_trial
    readme = readme_of(esp)
    settings.ANYMAIL = {"WEBHOOK_SECRET": trial.credentials}
    receivers: dict[str, Any] = {}
    if trial.shown_output is not None:
        snippet = readme.receiver_snippet(trial.start)
        assert snippet is not None, f"{readme.name} shows no receiver for its trial"
        receivers = snippet.run()  # connects the README's receiver
    headers = {name: value for name, value in trial.curl.headers.items() if name != "Content-Type"}
    headers["Authorization"] = basic_auth_header(trial.credentials)

    def post() -> tuple[Any, list[Any]]:
        with SignalCapture() as capture:
            response = client.post(
                trial.path, trial.body, content_type=trial.content_type, headers=headers
            )
        return response, capture.signals

    from anymail.signals import tracking

    try:
        response, signals = post()
        assert response.status_code == 200, response.content
        [signal] = signals
        posted = json.loads(trial.body)
        assert signal.event.esp_event == (posted[0] if isinstance(posted, list) else posted)
        printed = capsys.readouterr().out
        if trial.shown_output is not None:
            if trial.shown_output.endswith("..."):
                assert printed.startswith(trial.shown_output.removesuffix("...")), printed
            else:
                assert printed == trial.shown_output + "\n"
        again, signals = post()
        assert (again.status_code, again.content, signals) == (200, b"Already received", [])
        assert trial.repeat_answer in (None, "Already received")
    finally:
        for value in receivers.values():
            if callable(value):
                tracking.disconnect(value)


def test_readme_retry_answer_is_what_the_webhook_answers(retry_claim, settings):
    """The answer the README says a fault on the site's side gets (a receiver raised)
    is the one the webhook gives, and the ESP's declared retry answer; the README links
    the ESP's page that documents its retries."""
    esp, claim = retry_claim
    profile = esp.profile
    fixture = next(
        f for f in load_fixtures(profile) if f.expected_status == 200 and f.expected_events
    )
    settings.ANYMAIL = webhook_settings(profile)
    with BrokenReceiver():
        response, _signals = post_fixture(profile, fixture)
    assert response.status_code == claim.status == esp.esp.webhook_retry_status
    assert response["Retry-After"] == claim.retry_after
    assert f"({esp.esp.webhook_retry_docs})" in readme_of(esp).text
