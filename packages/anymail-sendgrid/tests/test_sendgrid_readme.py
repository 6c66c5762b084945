"""What only SendGrid's README says works as written: its install snippets'
settings, the console trial's refusals, the curl's sample, the script that signs a
test post, what it says SendGrid signs and where Anymail remembers posts. The
conformance suite's test_readme.py checks what every README shows (the settings
snippets, the console trial, the curl of a webhook, the retry answer it states);
here, that SendGrid's README has them."""

import json
import re
import subprocess
import sys

import pytest
from django.core.mail import EmailMessage
from django.test import override_settings

from anymail.backends.sendgrid import EmailBackend
from anymail.esps.sendgrid import ESP
from anymail.exceptions import AnymailUnsupportedFeature
from anymail.testing import SignalCapture
from anymail_conformance.package_checks import CONSOLE_BACKEND, Readme, RetryClaim

README = Readme.of(ESP.distribution)
SAMPLE_SECRET = "<random>:<random>"  # the README's WEBHOOK_SECRET placeholder
[TRIAL] = README.curl_trials()  # the README's curl of a webhook


def test_readme_has_the_trials_the_conformance_suite_runs():
    assert TRIAL.path == "/anymail/sendgrid/tracking/"
    assert TRIAL.credentials == SAMPLE_SECRET
    assert TRIAL.shown_output.startswith("SendGrid delivered example@test.com")
    assert TRIAL.repeat_answer == "Already received"
    assert README.retry_claims() == [RetryClaim(503, "60")]
    # ... and that handled events are remembered past the last retry
    assert f"for {ESP.webhook_retry_window / 3600:.0f} hours, past the last retry" in README.prose


# --- installing


def test_install_snippets_set_up_anymail_and_configure_the_api_key():
    """Labelled for each Django (the 6.1 one first), each adds the app and the
    README's WEBHOOK_SECRET; the one for this Django configures the backend's key."""
    for snippet in README.labelled_settings_snippets(ESP.backend):
        namespace = snippet.run()
        assert "anymail" in namespace["INSTALLED_APPS"]
        assert namespace["ANYMAIL"]["WEBHOOK_SECRET"] == SAMPLE_SECRET
    connection = README.configured_connection(ESP.backend)
    assert isinstance(connection, EmailBackend)
    assert connection.api_key == "<your SendGrid API key>"


# --- trying it locally


def test_console_trial_refuses_what_sendgrid_doesnt_support(capsys):
    """The console backend with SendGrid's declaration refuses what SendGrid can't
    send (and prints nothing of it), but not several Reply-To addresses (SendGrid's
    reply_to_list)."""
    [console] = README.mailer_snippets(CONSOLE_BACKEND)
    with override_settings(**console.mailer_settings()):
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
        message = EmailMessage(
            "Hi", "Text", "from@example.com", ["to@example.com"],
            reply_to=["one@example.com", "two@example.com"],
        )  # fmt: skip
        assert message.send() == 1
        assert "Reply-To: one@example.com, two@example.com" in capsys.readouterr().out


def test_curl_posts_sendgrids_published_sample():
    from anymail.conformance.sendgrid.profile import PROFILE
    from anymail_conformance import load_fixtures

    [fixture] = [f for f in load_fixtures(PROFILE) if f.name == "tracking_delivered"]
    assert json.loads(TRIAL.body) == fixture.data["request"]["json"]


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
    code = README.block_with("python", "# sign_sendgrid_post.py").code
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
    assert "Later runs print `200 Already received`" in README.prose

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
        assert claim in README.prose, claim
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    verification_key = base64.b64encode(der).decode()
    assert verification_key.startswith("MFkw")
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "user:pass",
        "SENDGRID_WEBHOOK_VERIFICATION_KEY": verification_key,
    }
    body = TRIAL.body.encode()
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

    assert 'by default `"database"`, the `anymail` app\'s table' in README.prose
    assert "Django cache named by" not in README.prose
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", **PROFILE.webhook_settings()}
    body = TRIAL.body.encode()
    prepared = PROFILE.prepare_webhook({"json": json.loads(body)})
    assert not WebhookReplayToken.objects.filter(esp_id="sendgrid").exists()
    response, signals = webhook_client.post(
        "anymail:sendgrid_tracking_webhook", prepared.body, headers=prepared.headers
    )
    assert (response.status_code, len(signals)) == (200, 1)
    # the signed post's token and the event's id
    assert WebhookReplayToken.objects.filter(esp_id="sendgrid").count() == 2
