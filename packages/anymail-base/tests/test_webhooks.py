"""The base webhook views, exercised through the real URL configuration with the
test-only "fake" ESP (testproject/fake_esp.py) registered by a real entry point."""

import hashlib
import hmac
import json
import logging
import time

import pytest
from django.test import Client

from anymail.exceptions import AnymailInsecureWebhookWarning
from anymail.signals import tracking
from anymail.testing import basic_auth_header

pytestmark = pytest.mark.usefixtures("fake_esp_installed")

TRACKING = "anymail:fake_tracking_webhook"


def tracking_body(*events):
    return {
        "events": [
            {
                "event": event,
                "ts": 1700000000 + n,
                "id": f"msg-{n}",
                "to": f"r{n}@example.com",
                "token": f"t{n}",
            }
            for n, event in enumerate(events)
        ]
    }


class TestBasicAuth:
    def test_valid_credentials_deliver_events(self, webhook_client, webhook_secret):
        response, signals = webhook_client.post(TRACKING, tracking_body("delivered"))
        assert response.status_code == 200
        assert [s.event.event_type for s in signals] == ["delivered"]
        assert signals[0].esp_name == "Fake"
        assert signals[0].sender.__name__ == "FakeTrackingWebhookView"

    def test_missing_credentials_rejected_without_signal(self, webhook_client, webhook_secret):
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), basic_auth=None
        )
        assert response.status_code == 400
        assert signals == []

    @pytest.mark.parametrize("credentials", ["user:wrong", "user:pass ", "USER:pass", ""])
    def test_wrong_credentials_rejected(self, webhook_client, webhook_secret, credentials):
        headers = {"Authorization": basic_auth_header(credentials)}
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=headers, basic_auth=None
        )
        assert response.status_code == 400
        assert signals == []

    @pytest.mark.parametrize(
        "header", ["Bearer abc", "Basic !!!notbase64", "Basic", "Digest user:pass"]
    )
    def test_malformed_authorization_header_rejected(self, webhook_client, webhook_secret, header):
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers={"Authorization": header}, basic_auth=None
        )
        assert response.status_code == 400
        assert signals == []

    def test_rotated_secrets_accept_each(self, webhook_client, settings):
        settings.ANYMAIL = {"WEBHOOK_SECRET": ["old:secret", "new:secret"]}
        for credentials in ("old:secret", "new:secret"):
            body = tracking_body("delivered")
            # (a different event each time: the same one again would be a duplicate)
            body["events"][0]["token"] = credentials
            response, signals = webhook_client.post(TRACKING, body, basic_auth=credentials)
            assert response.status_code == 200
            assert len(signals) == 1
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), basic_auth="other:secret"
        )
        assert response.status_code == 400

    def test_prefixed_setting_works(self, webhook_client, settings):
        settings.ANYMAIL_WEBHOOK_SECRET = "user:pass"
        response, _ = webhook_client.post(
            TRACKING, tracking_body("delivered"), basic_auth="user:wrong"
        )
        assert response.status_code == 400

    def test_compares_with_constant_time_compare_against_every_secret(
        self, webhook_client, settings, monkeypatch
    ):
        import anymail.webhooks.validation as webhook_base

        calls = []
        real_compare = webhook_base.constant_time_compare

        def spy(given, expected):
            calls.append(expected)
            return real_compare(given, expected)

        monkeypatch.setattr(webhook_base, "constant_time_compare", spy)
        settings.ANYMAIL = {"WEBHOOK_SECRET": ["first:secret", "second:secret"]}
        response, _ = webhook_client.post(
            TRACKING, tracking_body("delivered"), basic_auth="first:secret"
        )
        assert response.status_code == 200
        # no early exit: the second secret is compared even though the first matched
        assert calls == ["first:secret", "second:secret"]

    def test_no_secret_warns_insecure(self, webhook_client):
        with pytest.warns(AnymailInsecureWebhookWarning, match="WEBHOOK_SECRET"):
            response, signals = webhook_client.post(
                TRACKING, tracking_body("delivered"), basic_auth=None
            )
        assert response.status_code == 200
        assert len(signals) == 1

    def test_failure_is_not_logged_with_secret(self, webhook_client, webhook_secret, caplog):
        with caplog.at_level(logging.DEBUG):
            webhook_client.post(
                TRACKING, tracking_body("delivered"), basic_auth="user:not-the-secret"
            )
        assert "user:pass" not in caplog.text


class TestRequestHandling:
    def test_get_not_allowed(self, client, webhook_secret):
        from django.urls import reverse

        response = client.get(
            reverse(TRACKING), headers={"Authorization": basic_auth_header("user:pass")}
        )
        assert response.status_code == 405

    def test_csrf_exempt_with_enforcing_client(self, webhook_secret):
        from anymail.testing import WebhookClient

        csrf_client = Client(enforce_csrf_checks=True)
        response, signals = WebhookClient(csrf_client, "user:pass").post(
            TRACKING, tracking_body("delivered")
        )
        assert response.status_code == 200
        assert len(signals) == 1

    def test_works_behind_login_required_middleware(self, webhook_client, webhook_secret, settings):
        import django

        if django.VERSION < (5, 1):
            # Django 4.2 has no LoginRequiredMiddleware; the marker must still be set.
            from django.urls import resolve, reverse

            assert resolve(reverse(TRACKING)).func.login_required is False
            return
        # (the test project has sessions and authentication already)
        settings.MIDDLEWARE = [
            *settings.MIDDLEWARE,
            "django.contrib.auth.middleware.LoginRequiredMiddleware",
        ]
        response, signals = webhook_client.post(TRACKING, tracking_body("delivered"))
        assert response.status_code == 200
        assert len(signals) == 1

    def test_batch_gives_one_signal_per_event_in_order(self, webhook_client, webhook_secret):
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered", "bounced", "delivered")
        )
        assert response.status_code == 200
        assert [s.event.event_type for s in signals] == ["delivered", "bounced", "delivered"]
        assert [s.event.message_id for s in signals] == ["msg-0", "msg-1", "msg-2"]
        assert all(s.event.timestamp.tzinfo is not None for s in signals)

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"",
            b"{}",
            b'{"events": [{"event": "delivered"}]}',
            b'{"events": "x"}',
            b'{"events": [{"event": "exploded", "ts": 1, "id": "x", "to": "y"}]}',
            b"\xff\xfe\x00",
        ],
    )
    def test_malformed_body_gives_400_not_500(self, webhook_client, webhook_secret, body):
        response, signals = webhook_client.post(TRACKING, body)
        assert response.status_code == 400
        assert signals == []

    def test_raising_receiver_gives_retry_answer_and_is_logged(
        self, webhook_client, webhook_secret, caplog
    ):
        """A receiver that raises is a fault on our side, not the ESP's: the ESP's
        declared retry answer (503 by default) with Retry-After, logged with the
        traceback."""
        calls = []

        def broken_receiver(sender, event, esp_name, **kwargs):
            calls.append(event.message_id)
            raise RuntimeError("database unavailable")

        tracking.connect(broken_receiver)
        try:
            with caplog.at_level(logging.ERROR, logger="anymail.webhooks"):
                response, _ = webhook_client.post(TRACKING, tracking_body("delivered", "delivered"))
        finally:
            tracking.disconnect(broken_receiver)
        assert response.status_code == 503
        assert response["Retry-After"] == "60"
        assert calls == ["msg-0"]  # processing stops at the first failure
        assert "database unavailable" in caplog.text
        assert "Traceback" in caplog.text

    def test_settings_overridden_per_view_with_as_view(self, rf):
        from testproject.fake_esp import FakeTrackingWebhookView

        view = FakeTrackingWebhookView.as_view(webhook_secret="view:secret")
        body = json.dumps(tracking_body("delivered"))
        good = rf.post(
            "/",
            body,
            content_type="application/json",
            headers={"Authorization": basic_auth_header("view:secret")},
        )
        bad = rf.post(
            "/",
            body,
            content_type="application/json",
            headers={"Authorization": basic_auth_header("user:pass")},
        )
        assert view(good).status_code == 200
        from django.core.exceptions import SuspiciousOperation

        with pytest.raises(SuspiciousOperation):
            view(bad)


def signed_headers(key, timestamp=None, token="tok-1"):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"X-Fake-Timestamp": timestamp, "X-Fake-Token": token, "X-Fake-Signature": signature}


class TestSignatureAndReplay:
    @pytest.fixture(autouse=True)
    def _signing_key(self, settings):
        from django.core.cache import cache

        cache.clear()
        settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", "FAKE_WEBHOOK_SIGNING_KEY": "sign-key"}

    def test_valid_signature_accepted(self, webhook_client):
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=signed_headers("sign-key")
        )
        assert response.status_code == 200
        assert len(signals) == 1

    def test_bad_signature_rejected(self, webhook_client):
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=signed_headers("wrong")
        )
        assert response.status_code == 400
        assert signals == []

    def test_a_duplicate_is_acknowledged_but_not_signalled_again(self, webhook_client):
        """An ESP that missed our 200 retries: answer 200 (so it stops), no second signal."""
        headers = signed_headers("sign-key", token="once")
        first, first_signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=headers
        )
        second, signals = webhook_client.post(TRACKING, tracking_body("delivered"), headers=headers)
        assert (first.status_code, len(first_signals)) == (200, 1)
        assert second.status_code == 200
        assert second.content == b"Already received"
        assert signals == []

    # (past the 300-second window by 5 s: the request is checked a moment after it is
    # signed, and on a busy machine that moment can exceed a second)
    @pytest.mark.parametrize("age", [305, -305, 86400])
    def test_stale_or_future_timestamp_rejected(self, webhook_client, age):
        headers = signed_headers("sign-key", timestamp=int(time.time()) - age)
        response, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=headers
        )
        assert response.status_code == 400
        assert signals == []

    def test_token_released_when_receiver_fails_so_retry_succeeds(self, webhook_client):
        def broken(sender, event, **kwargs):
            raise RuntimeError("transient")

        headers = signed_headers("sign-key", token="retry-me")
        tracking.connect(broken)
        try:
            failed, _ = webhook_client.post(TRACKING, tracking_body("delivered"), headers=headers)
        finally:
            tracking.disconnect(broken)
        retried, signals = webhook_client.post(
            TRACKING, tracking_body("delivered"), headers=headers
        )
        assert failed.status_code == 503
        assert retried.status_code == 200
        assert len(signals) == 1
