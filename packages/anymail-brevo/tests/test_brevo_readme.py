"""What only Brevo's README says works as written: its install snippets' settings,
the batch send, the migration table, and the inbound webhook's creation. The
conformance suite's test_readme.py checks what every README shows (the settings
snippets, the console trial, the curl of a webhook, the retry answer it states);
here, that Brevo's README has them."""

import json

from anymail.backends.brevo import EmailBackend
from anymail.esps.brevo import ESP
from anymail_conformance.package_checks import CONSOLE_BACKEND, Curl, Readme, RetryClaim

README = Readme.of(ESP.distribution)


def test_readme_has_the_trials_the_conformance_suite_runs():
    [_console] = README.mailer_snippets(CONSOLE_BACKEND)
    [trial] = README.curl_trials()
    assert trial.path == "/anymail/brevo/tracking/"
    assert trial.shown_output.startswith("Brevo delivered example@domain.com")
    assert trial.repeat_answer == "Already received"
    assert README.retry_claims() == [RetryClaim(429, "60")]


def test_install_snippets_set_up_anymail_and_configure_the_api_key():
    """Labelled for each Django (the 6.1 one first), each adds the app and a
    WEBHOOK_SECRET; the one for this Django configures the backend with the key."""
    for snippet in README.labelled_settings_snippets(ESP.backend):
        namespace = snippet.run()
        assert "anymail" in namespace["INSTALLED_APPS"]
        assert namespace["ANYMAIL"]["WEBHOOK_SECRET"]
    connection = README.configured_connection(ESP.backend)
    assert isinstance(connection, EmailBackend)
    assert connection.api_key == "<your v3 API key>"


def test_batch_sending_snippet_is_one_call_with_a_version_each(settings):
    """The README's batch send, against the fake Brevo API."""
    from anymail.conformance.brevo.profile import API_KEY, brevo_error
    from anymail.conformance.brevo.profile import answer as brevo_answer
    from anymail.message import AnymailMessage
    from anymail_conformance.fake_server import FakeESPServer

    block = README.block_with("python", "message.merge_metadata")
    with FakeESPServer(lambda request: brevo_error(request) or brevo_answer(request.json())) as api:
        settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
        settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{api.url}/v3/"}
        settings.DEFAULT_FROM_EMAIL = "shop@example.com"
        namespace = block.run(AnymailMessage=AnymailMessage)
        [request] = api.requests
    body = request.json()
    assert [version["to"][0]["email"] for version in body["messageVersions"]] == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert body["messageVersions"][1]["params"] == {
        "ship_date": "May 15",
        "name": "Bob",
        "order_no": "54321",
    }
    status = namespace["message"].anymail_status
    assert status.recipients["bob@example.com"].message_id != (
        status.recipients["alice@example.com"].message_id
    )


def test_migrating_table_names_what_this_package_provides():
    """Every Brevo name the "Migrating from SendinBlue" table gives exists."""
    from django.urls import reverse

    from anymail.webhooks.brevo import BrevoInboundWebhookView, BrevoTrackingWebhookView

    section = README.section("Migrating from SendinBlue")
    for name in (
        "`anymail.backends.brevo.EmailBackend`",
        "`anymail.webhooks.brevo.BrevoTrackingWebhookView`",
        "`BrevoInboundWebhookView`",
        "`BREVO_API_KEY`, `BREVO_API_URL`, `BREVO_SEND_DEFAULTS`",
        '`"Brevo"`',
    ):
        assert name in section, name
    assert EmailBackend.esp_name == "Brevo"
    assert BrevoTrackingWebhookView.esp_name == BrevoInboundWebhookView.esp_name == "Brevo"
    assert reverse("anymail:brevo_tracking_webhook") == "/anymail/brevo/tracking/"
    assert reverse("anymail:brevo_inbound_webhook") == "/anymail/brevo/inbound/"
    assert "`/anymail/brevo/tracking/` (`anymail:brevo_tracking_webhook`)" in section
    # Every setting Brevo reads: the table's three, and the standard SEND_IN_BACKGROUND
    # (new since SendinBlue: nothing to migrate).
    assert {s.removeprefix("BREVO_") for s in ESP.all_settings} == {
        "API_KEY",
        "API_URL",
        "SEND_DEFAULTS",
        "SEND_IN_BACKGROUND",
    }


def test_inbound_webhook_creation_is_brevos_documented_request():
    """The README's curl creates an inbound webhook as Brevo's page shows, for this URL."""
    curl = Curl.parse(README.block_with("shell", "inboundEmailProcessed").code)
    body = json.loads(curl.option("--data"))
    assert body["type"] == "inbound"
    assert body["events"] == ["inboundEmailProcessed"]
    assert body["url"].endswith("@yoursite.example.com/anymail/brevo/inbound/")
    assert curl.url == "https://api.brevo.com/v3/webhooks"
