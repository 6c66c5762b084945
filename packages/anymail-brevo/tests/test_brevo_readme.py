"""The README's snippets work as written: the settings for each Django version, the
local trial with the console backend, the curl of a webhook, and what it says
Anymail answers Brevo."""

import json
import re
import shlex
from pathlib import Path

from django.core.mail import send_mail
from django.test import override_settings

from anymail.backends.brevo import EmailBackend
from anymail.testing import MAILERS_SUPPORTED, SignalCapture, basic_auth_header, get_connection

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def block_with(language, text):
    [block] = [block for block in blocks(language) if text in block]
    return block


def settings_snippet(django_version):
    namespace = {}
    exec(block_with("python", f"# settings.py (Django {django_version})"), namespace)  # noqa: S102
    assert "anymail" in namespace["INSTALLED_APPS"]
    assert namespace["ANYMAIL"]["WEBHOOK_SECRET"]
    return namespace


def test_install_settings_mailers_first_then_email_backend():
    """The 6.1 snippet comes first (a new 6.1 project already has MAILERS) and sets no
    EMAIL_BACKEND; the 5.2 one sets no MAILERS."""
    assert README.index("# settings.py (Django 6.1+)") < README.index("# settings.py (Django 5.2")
    mailers = settings_snippet("6.1+")
    assert "EMAIL_BACKEND" not in mailers
    assert mailers["MAILERS"]["default"]["BACKEND"] == "anymail.backends.brevo.EmailBackend"
    email_backend = settings_snippet("5.2, 6.0")
    assert "MAILERS" not in email_backend
    assert email_backend["EMAIL_BACKEND"] == "anymail.backends.brevo.EmailBackend"


def test_install_settings_for_this_django_configure_the_backend():
    namespace = settings_snippet("6.1+" if MAILERS_SUPPORTED else "5.2, 6.0")
    mailer = {key: namespace[key] for key in ("MAILERS", "EMAIL_BACKEND") if key in namespace}
    with override_settings(**mailer, ANYMAIL=namespace["ANYMAIL"]):
        connection = get_connection()
    assert isinstance(connection, EmailBackend)
    assert connection.api_key == "<your v3 API key>"


def test_user_docs_need_no_test_extra():
    """anymail-conformance isn't published: nothing a user reads installs it."""
    assert "[test]" not in README
    assert "anymail.conformance" not in README
    assert "anymail_conformance" not in README


def test_local_trial_with_the_console_backend(capsys):
    block = block_with("python", "anymail.backends.console.EmailBackend")
    namespace = {}
    exec(block, namespace)  # noqa: S102
    if MAILERS_SUPPORTED:
        mailer = {"MAILERS": namespace["MAILERS"]}
    else:
        mailer = {"EMAIL_BACKEND": namespace["EMAIL_BACKEND"]}
    with override_settings(**mailer, ANYMAIL={}):
        send_mail("Hi", "Text", "from@example.com", ["to@example.com"], html_message="<p>Hi</p>")
    output = capsys.readouterr().out
    assert "Subject: Hi" in output
    assert "Anymail send params" in output


def curl_command():
    """The README's curl: (credentials, path, body)."""
    block = block_with("console", "curl -u")
    command = block[block.index("$ curl ") + 2 :].replace("\\\n", " ")
    args = shlex.split(command)
    credentials = args[args.index("-u") + 1]
    body = args[args.index("-d") + 1]
    [url] = [arg for arg in args if arg.startswith("http://")]
    return credentials, url.removeprefix("http://127.0.0.1:8000"), body


def test_webhook_trial_with_curl(client, settings, capsys):
    credentials, path, body = curl_command()
    settings.ANYMAIL = {"WEBHOOK_SECRET": credentials}
    receiver_code = block_with("python", "def print_tracking_event")
    namespace = {}
    exec(receiver_code, namespace)  # noqa: S102 (connects the README's receiver)
    from anymail.signals import tracking

    try:
        headers = {"Authorization": basic_auth_header(credentials)}
        with SignalCapture() as capture:
            response = client.post(path, body, content_type="application/json", headers=headers)
        assert response.status_code == 200
        [signal] = capture.signals
        printed = capsys.readouterr().out
        # The README shows what the server prints.
        shown = re.search(r"The server prints `(.*?)`", README, re.DOTALL).group(1)
        expected = shown.replace("\n", " ").removesuffix("...")
        assert printed.startswith(expected), (printed, expected)
        assert signal.event.esp_event == json.loads(body)
        # ... and that the same post again is acknowledged without a signal.
        with SignalCapture() as capture:
            again = client.post(path, body, content_type="application/json", headers=headers)
        assert (again.status_code, again.content, capture.signals) == (
            200,
            b"Already received",
            [],
        )
        assert "answers 200 `Already received`" in README
    finally:
        tracking.disconnect(namespace["print_tracking_event"])


def test_webhook_retries_section_matches_what_anymail_answers(webhook_client, webhook_secret):
    """The README's "Webhook retries": 429 with the Retry-After it names."""
    from anymail.signals import tracking

    def broken(sender, event, **kwargs):
        raise RuntimeError("database down")

    _credentials, path, body = curl_command()
    tracking.connect(broken)
    try:
        response, _signals = webhook_client.post(path, json.loads(body))
    finally:
        tracking.disconnect(broken)
    retry_after = re.search(r"\*\*429\*\*, with `Retry-After: (\d+)`", README).group(1)
    assert response.status_code == 429
    assert response["Retry-After"] == retry_after


def test_batch_sending_snippet_is_one_call_with_a_version_each(settings):
    """The README's batch send, against the fake Brevo API."""
    from anymail.conformance.brevo.profile import API_KEY, brevo_error
    from anymail.conformance.brevo.profile import answer as brevo_answer
    from anymail.message import AnymailMessage
    from anymail_conformance.fake_server import FakeESPServer

    block = block_with("python", "message.merge_metadata")
    with FakeESPServer(lambda request: brevo_error(request) or brevo_answer(request.json())) as api:
        settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
        settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{api.url}/v3/"}
        settings.DEFAULT_FROM_EMAIL = "shop@example.com"
        namespace = {"AnymailMessage": AnymailMessage}
        exec(block, namespace)  # noqa: S102
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

    from anymail.backends.brevo import EmailBackend
    from anymail.webhooks.brevo import BrevoInboundWebhookView, BrevoTrackingWebhookView

    section = README.split("## Migrating from SendinBlue")[1].split("\n## ")[0]
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
    from anymail.esps.brevo import ESP

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
    block = block_with("shell", "inboundEmailProcessed")
    command = block[block.index("$ curl ") + 2 :].replace("\\\n", " ")
    args = shlex.split(command)
    body = json.loads(args[args.index("--data") + 1])
    assert body["type"] == "inbound"
    assert body["events"] == ["inboundEmailProcessed"]
    assert body["url"].endswith("@yoursite.example.com/anymail/brevo/inbound/")
    assert "https://api.brevo.com/v3/webhooks" in args
