"""The README's snippets work as written: the settings for each Django version, the
local trial with the console backend, the curl of a webhook, the script that signs a
test post, and what it says Anymail answers SendGrid and where it remembers posts."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.mail import EmailMessage, send_mail
from django.test import override_settings

from anymail.backends.sendgrid import EmailBackend
from anymail.esps.sendgrid import ESP
from anymail.exceptions import AnymailUnsupportedFeature
from anymail.signals import tracking
from anymail.testing import MAILERS_SUPPORTED, SignalCapture, basic_auth_header, get_connection

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
#: the README's text with its line breaks and indents as single spaces, for prose checks
PROSE = " ".join(README.split())
SAMPLE_SECRET = "<random>:<random>"  # the README's WEBHOOK_SECRET placeholder


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def block_with(language, text):
    [block] = [block for block in blocks(language) if text in block]
    return block


def settings_snippet(django_version):
    namespace = {}
    exec(block_with("python", f"# settings.py (Django {django_version})"), namespace)  # noqa: S102
    assert "anymail" in namespace["INSTALLED_APPS"]
    assert namespace["ANYMAIL"]["WEBHOOK_SECRET"] == SAMPLE_SECRET
    return namespace


# --- installing


def test_install_settings_mailers_first_then_email_backend():
    """The 6.1 snippet comes first (a new 6.1 project already has MAILERS, and then
    refuses EMAIL_BACKEND) and sets no EMAIL_BACKEND; the 5.2 one sets no MAILERS."""
    assert README.index("# settings.py (Django 6.1+)") < README.index("# settings.py (Django 5.2")
    assert README.index("MAILERS = {") < README.index('EMAIL_BACKEND = "')
    mailers = settings_snippet("6.1+")
    assert "EMAIL_BACKEND" not in mailers
    assert mailers["MAILERS"]["default"]["BACKEND"] == "anymail.backends.sendgrid.EmailBackend"
    email_backend = settings_snippet("5.2, 6.0")
    assert "MAILERS" not in email_backend
    assert email_backend["EMAIL_BACKEND"] == "anymail.backends.sendgrid.EmailBackend"


def test_install_settings_for_this_django_configure_the_backend():
    namespace = settings_snippet("6.1+" if MAILERS_SUPPORTED else "5.2, 6.0")
    mailer = {key: namespace[key] for key in ("MAILERS", "EMAIL_BACKEND") if key in namespace}
    with override_settings(**mailer, ANYMAIL=namespace["ANYMAIL"]):
        connection = get_connection()
    assert isinstance(connection, EmailBackend)
    assert connection.api_key == "<your SendGrid API key>"


def test_user_docs_need_no_test_extra():
    """anymail-conformance isn't published: nothing a user reads installs or imports it."""
    assert "[test]" not in README
    assert "anymail.conformance" not in README
    assert "anymail_conformance" not in README


# --- trying it locally


def test_local_trial_with_the_console_backend(capsys):
    namespace = {}
    exec(block_with("python", "anymail.backends.console.EmailBackend"), namespace)  # noqa: S102
    if MAILERS_SUPPORTED:
        mailer = {"MAILERS": namespace["MAILERS"], "ANYMAIL": {}}
    else:
        mailer = {"EMAIL_BACKEND": namespace["EMAIL_BACKEND"], "ANYMAIL": namespace["ANYMAIL"]}
    with override_settings(**mailer):
        send_mail("Hi", "Text", "from@example.com", ["to@example.com"])
        output = capsys.readouterr().out
        assert "Subject: Hi" in output
        assert "Anymail send params" in output
        # ... and it refuses what SendGrid's declaration says is unsupported
        for unsupported in (
            {"from_email": "one@example.com, two@example.com"},
            {"envelope_sender": "bounces@example.com"},
        ):
            message = EmailMessage("Hi", "Text", "from@example.com", ["to@example.com"])
            for name, value in unsupported.items():
                setattr(message, name, value)
            with pytest.raises(AnymailUnsupportedFeature):
                message.send()
        assert "Subject: Hi" not in capsys.readouterr().out
        # ... but not several Reply-To addresses (SendGrid's reply_to_list)
        message = EmailMessage(
            "Hi", "Text", "from@example.com", ["to@example.com"],
            reply_to=["one@example.com", "two@example.com"],
        )  # fmt: skip
        assert message.send() == 1
        assert "Reply-To: one@example.com, two@example.com" in capsys.readouterr().out


def curl_command():
    """The README's curl: (credentials, path, body)."""
    block = block_with("console", "curl ")
    command = block[block.index("$ curl ") + 2 :].replace("\\\n", " ")
    args = shlex.split(command)
    credentials = args[args.index("-u") + 1]
    body = args[args.index("-d") + 1]
    [url] = [arg for arg in args if arg.startswith("http://")]
    return credentials, url.removeprefix("http://127.0.0.1:8000"), body


def test_curl_posts_sendgrids_published_sample():
    from anymail.conformance.sendgrid.profile import PROFILE
    from anymail_conformance import load_fixtures

    [fixture] = [f for f in load_fixtures(PROFILE) if f.name == "tracking_delivered"]
    assert json.loads(curl_command()[2]) == fixture.data["request"]["json"]


def test_webhook_trial_with_curl(client, settings, capsys):
    credentials, path, body = curl_command()
    assert credentials == SAMPLE_SECRET
    settings.ANYMAIL = {"WEBHOOK_SECRET": credentials}
    namespace = {}
    exec(block_with("python", "def print_tracking_event"), namespace)  # noqa: S102 (connects it)
    try:
        headers = {"Authorization": basic_auth_header(credentials)}
        with SignalCapture() as capture:
            response = client.post(path, body, content_type="application/json", headers=headers)
        assert response.status_code == 200
        [signal] = capture.signals
        assert signal.event.esp_event == json.loads(body)[0]
        # The README shows what the server prints.
        shown = re.search(r"The server prints `(.*?)`", PROSE).group(1)
        assert capsys.readouterr().out == shown + "\n"
        # ... and that the same post again is acknowledged without a signal.
        with SignalCapture() as capture:
            again = client.post(path, body, content_type="application/json", headers=headers)
        assert (again.status_code, again.content, capture.signals) == (
            200,
            b"Already received",
            [],
        )
        assert "answers 200 `Already received`" in PROSE
    finally:
        tracking.disconnect(namespace["print_tracking_event"])


# --- the Signed Event Webhook


def run_script(script, cwd):
    return subprocess.run(  # noqa: S603 (the README's own script)
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def runserver():
    """runserver's stand-in: Django's live server thread (serving the test project,
    no static files), on the test database's connection."""
    from django.db import connections
    from django.test.testcases import LiveServerThread

    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    server = LiveServerThread("127.0.0.1", lambda handler: handler, connections_override=shared)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()


def test_signing_script_posts_a_signed_event(runserver, settings, tmp_path):
    """The README's script, run as a user would, against a live server: the first run
    makes the key and prints the setting, the next posts a signed event (200, one
    signal), the one after is a duplicate (200, no signal)."""
    code = block_with("python", "# sign_sendgrid_post.py")
    assert 'URL = "http://127.0.0.1:8000/anymail/sendgrid/tracking/"' in code
    script = tmp_path / "sign_sendgrid_post.py"
    script.write_text(code.replace("http://127.0.0.1:8000", runserver), encoding="utf-8")

    first = run_script(script, tmp_path)
    assert first.returncode == 1, first.stderr
    assert "run this again" in first.stderr
    assert (tmp_path / "sendgrid-test-key.pem").exists()
    setting = re.fullmatch(
        r'ANYMAIL\["SENDGRID_WEBHOOK_VERIFICATION_KEY"\] = "(MFkw[A-Za-z0-9+/=]+)"\n', first.stdout
    )
    assert setting, first.stdout
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": SAMPLE_SECRET,
        "SENDGRID_WEBHOOK_VERIFICATION_KEY": setting.group(1),
    }

    with SignalCapture() as capture:
        second = run_script(script, tmp_path)
    assert (second.returncode, second.stdout) == (0, "200 \n"), second.stderr
    [signal] = capture.signals
    assert signal.event.event_type == "delivered"
    assert signal.event.event_id == "rWVYmVk90MjZJ9iohOBa3w=="

    with SignalCapture() as capture:
        third = run_script(script, tmp_path)
    assert third.stdout == "200 Already received\n"
    assert capture.signals == []
    assert "Later runs print `200 Already received`" in PROSE

    # A key the site doesn't know: 400.
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_WEBHOOK_VERIFICATION_KEY": _other_key()}
    assert run_script(script, tmp_path).stdout.startswith("400 ")


def _other_key():
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return base64.b64encode(
        public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).decode()


def test_signature_description_matches_what_the_view_verifies(webhook_client, settings):
    """What the README says SendGrid signs (timestamp + body, ECDSA P-256, SHA-256,
    base64 DER), done by hand, is what the view accepts."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    for claim in (
        "ECDSA on the P-256 curve (secp256r1) with SHA-256",
        "`X-Twilio-Email-Event-Webhook-Timestamp` header's value",
        "followed by the request body exactly as sent",
        "DER-encoded and then base64, is the `X-Twilio-Email-Event-Webhook-Signature` header",
        "DER `SubjectPublicKeyInfo`, base64 (so it starts `MFkw`)",
    ):
        assert claim in PROSE, claim
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    verification_key = base64.b64encode(der).decode()
    assert verification_key.startswith("MFkw")
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "user:pass",
        "SENDGRID_WEBHOOK_VERIFICATION_KEY": verification_key,
    }
    body = curl_command()[2].encode()
    import time

    timestamp = str(int(time.time()))
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    headers = {
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
    }
    response, signals = webhook_client.post(
        "anymail:sendgrid_tracking_webhook", body, headers=headers
    )
    assert (response.status_code, len(signals)) == (200, 1)


def test_accepted_posts_are_remembered_in_the_database_by_default(webhook_client, settings):
    """The README: the replay store is the database by default (the anymail app's
    table), the cache only with WEBHOOK_REPLAY_STORE = "cache"."""
    from anymail.conformance.sendgrid.profile import PROFILE
    from anymail.models import WebhookReplayToken

    assert 'by default `"database"`, the `anymail` app\'s table' in PROSE
    assert "Django cache named by" not in PROSE
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", **PROFILE.webhook_settings()}
    body = curl_command()[2].encode()
    prepared = PROFILE.prepare_webhook({"json": json.loads(body)})
    assert not WebhookReplayToken.objects.filter(esp_id="sendgrid").exists()
    response, signals = webhook_client.post(
        "anymail:sendgrid_tracking_webhook", prepared.body, headers=prepared.headers
    )
    assert (response.status_code, len(signals)) == (200, 1)
    # the signed post's token and the event's id
    assert WebhookReplayToken.objects.filter(esp_id="sendgrid").count() == 2


# --- what Anymail answers SendGrid


def test_webhook_retries_section_matches_what_anymail_answers(webhook_client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}

    def broken(sender, event, **kwargs):
        raise RuntimeError("database down")

    _credentials, path, body = curl_command()
    tracking.connect(broken)
    try:
        response, _signals = webhook_client.post(path, body.encode())
    finally:
        tracking.disconnect(broken)
    retry_after = re.search(r"\*\*503\*\*, with `Retry-After: (\d+)`", README).group(1)
    assert response.status_code == ESP.webhook_retry_status == 503
    assert response["Retry-After"] == retry_after
    assert f"({ESP.webhook_retry_docs})" in README
    assert f"for {ESP.webhook_retry_window / 3600:.0f} hours, past the last retry" in PROSE
