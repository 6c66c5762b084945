"""Mandrill's combined webhook through the real URLs: every conformance fixture, the
signature (URL forms, proxies, key lists), replays, the URL check, tracking and
inbound events in one batch, and the pure converters."""

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.test import Client

from anymail.conformance.mandrill.profile import PROFILE, WEBHOOK_KEY
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.exceptions import AnymailConfigurationError
from anymail.webhooks.mandrill import (
    inbound_events,
    message_from_fields,
    sign,
    tracking_events,
    webhook_events,
)
from anymail_conformance import WebhookFixtureTests, load_fixtures

FIXTURES = {fixture.name: fixture for fixture in load_fixtures(PROFILE)}
VECTOR = json.loads(
    (Path(PROFILE.fixtures_dir).parent / "signature_vector.json").read_text(encoding="utf-8")
)
COMBINED_URL = "http://testserver/anymail/mandrill/"
TRACKING_URL = "http://testserver/anymail/mandrill/tracking/"


class TestMandrillFixtures(WebhookFixtureTests):
    esp_id = "mandrill"


@pytest.fixture(autouse=True)
def webhook_key(settings, webhook_secret):
    # The request's own URL (no MANDRILL_WEBHOOK_URL), basic auth "user:pass".
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_WEBHOOK_KEY": WEBHOOK_KEY}


@pytest.fixture(autouse=True)
def forget_accepted_signatures():
    # Tests here sign the same sample batches: each starts with an empty replay cache.
    from django.core.cache import cache

    cache.clear()


def events_of(name):
    return json.loads(FIXTURES[name].data["request"]["form"]["mandrill_events"])


def post(webhook_client, events, *, url=COMBINED_URL, key=WEBHOOK_KEY, route=None, **kwargs):
    """Post a mandrill_events batch, signed as Mandrill would for ``url``."""
    value = events if isinstance(events, str) else json.dumps(events)
    headers = {"X-Mandrill-Signature": sign(key, url, [("mandrill_events", value)])}
    route = route or (
        "anymail:mandrill_tracking_webhook" if "tracking" in url else "anymail:mandrill_webhook"
    )
    return webhook_client.post(
        route,
        urlencode({"mandrill_events": value}),
        "application/x-www-form-urlencoded",
        headers,
        **kwargs,
    )


# --- signing ---


def test_sign_matches_a_real_mandrill_signature():
    params = list(VECTOR["form"].items())
    assert sign(VECTOR["webhook_key"], VECTOR["url"], params) == VECTOR["signature"]
    assert sign("other-key", VECTOR["url"], params) != VECTOR["signature"]


def test_sign_sorts_parameters_by_name():
    assert sign("k", "u", [("b", "2"), ("a", "1")]) == sign("k", "u", [("a", "1"), ("b", "2")])


@pytest.mark.parametrize(
    "signed_url",
    [
        "http://user:pass@testserver/anymail/mandrill/",  # as the docs tell you to enter it
        COMBINED_URL,  # a URL without credentials
    ],
)
def test_signature_over_the_request_url_with_or_without_credentials(webhook_client, signed_url):
    response, signals = post(webhook_client, events_of("send_sent"), url=signed_url)
    assert response.status_code == 200, response.content
    assert [s.event.event_type for s in signals] == ["sent"]


def test_percent_encoded_credentials_in_the_url(webhook_client, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "us@r:p@ss:word"}
    signed_url = "http://us%40r:p%40ss:word@testserver/anymail/mandrill/"
    response, _ = post(
        webhook_client, events_of("send_sent"), url=signed_url, basic_auth="us@r:p@ss:word"
    )
    assert response.status_code == 200, response.content


def test_tracking_route_signature_covers_its_own_url(webhook_client):
    response, signals = post(webhook_client, events_of("open_opened"), url=TRACKING_URL)
    assert response.status_code == 200
    assert signals[0].event.event_type == "opened"
    # Signed for mandrill/ but posted to mandrill/tracking/: refused, naming the URL checked.
    response, signals = post(
        webhook_client,
        events_of("open_opened"),
        url=COMBINED_URL,
        route="anymail:mandrill_tracking_webhook",
    )
    assert response.status_code == 400
    assert signals == []


def test_invalid_signature_error_names_the_url_without_credentials(webhook_client, caplog):
    response, signals = post(webhook_client, events_of("send_sent"), key="wrong-key")
    assert response.status_code == 400
    assert signals == []
    logged = caplog.text
    assert "'http://testserver/anymail/mandrill/'" in logged
    assert "MANDRILL_WEBHOOK_URL" in logged
    assert "user:pass" not in logged
    assert WEBHOOK_KEY not in logged


def test_missing_signature_refused(webhook_client):
    response, signals = webhook_client.post(
        "anymail:mandrill_webhook",
        urlencode({"mandrill_events": json.dumps(events_of("send_sent"))}),
        "application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert signals == []


def test_signature_in_an_x_mailchimp_signature_header(webhook_client):
    value = json.dumps(events_of("send_sent"))
    response, signals = webhook_client.post(
        "anymail:mandrill_webhook",
        urlencode({"mandrill_events": value}),
        "application/x-www-form-urlencoded",
        {"X-Mailchimp-Signature": sign(WEBHOOK_KEY, COMBINED_URL, [("mandrill_events", value)])},
    )
    assert response.status_code == 200
    assert len(signals) == 1


def test_behind_a_proxy_the_public_url_is_signed(webhook_client, settings):
    settings.ALLOWED_HOSTS = ["testserver", "yoursite.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    public = "https://user:pass@yoursite.example.com/anymail/mandrill/"
    value = json.dumps(events_of("send_sent"))
    headers = {
        "X-Mandrill-Signature": sign(WEBHOOK_KEY, public, [("mandrill_events", value)]),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "yoursite.example.com",
    }
    response, signals = webhook_client.post(
        "anymail:mandrill_webhook",
        urlencode({"mandrill_events": value}),
        "application/x-www-form-urlencoded",
        headers,
    )
    assert response.status_code == 200, response.content
    assert len(signals) == 1


def test_webhook_url_setting_is_used_instead_of_the_request_url(webhook_client, settings):
    public = "https://yoursite.example.com/anymail/mandrill/"
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_WEBHOOK_URL": public}
    response, _ = post(webhook_client, events_of("send_sent"), url=public)
    assert response.status_code == 200
    # ... also with the basic auth credentials in it
    response, _ = post(
        webhook_client,
        events_of("spam_complained"),
        url=public.replace("https://", "https://user:pass@"),
    )
    assert response.status_code == 200
    response, _ = post(webhook_client, events_of("unsub_unsubscribed"), url=COMBINED_URL)
    assert response.status_code == 400


def test_several_keys_and_urls(webhook_client, settings):
    # A webhook and an inbound route each have their own key (and maybe their own URL).
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MANDRILL_WEBHOOK_KEY": ["tracking-key", "inbound-key"],
        "MANDRILL_WEBHOOK_URL": ["https://a.example.com/anymail/mandrill/", COMBINED_URL],
    }
    response, _ = post(webhook_client, events_of("send_sent"), key="inbound-key")
    assert response.status_code == 200
    response, _ = post(
        webhook_client,
        events_of("open_opened"),
        key="tracking-key",
        url="https://a.example.com/anymail/mandrill/",
    )
    assert response.status_code == 200
    response, _ = post(webhook_client, events_of("click_clicked"), key=WEBHOOK_KEY)
    assert response.status_code == 400


def test_webhook_key_as_view_kwarg():
    from anymail.webhooks.mandrill import MandrillCombinedWebhookView

    view = MandrillCombinedWebhookView(webhook_key="k1", webhook_url="https://x.example/")
    assert view.webhook_keys == ["k1"]
    assert view.webhook_urls == ["https://x.example/"]


def test_bad_key_setting_type(settings):
    from anymail.webhooks.mandrill import MandrillCombinedWebhookView

    settings.ANYMAIL = {"MANDRILL_WEBHOOK_KEY": 1234}
    with pytest.raises(AnymailConfigurationError, match="MANDRILL_WEBHOOK_KEY"):
        MandrillCombinedWebhookView()


# --- replays ---


def test_a_signed_request_is_accepted_once(webhook_client):
    events = events_of("hard_bounce_bounced")
    response, signals = post(webhook_client, events)
    assert response.status_code == 200
    assert len(signals) == 1
    # A repeat (Mandrill retrying a batch it thinks failed) is acknowledged, not signalled.
    response, signals = post(webhook_client, events)
    assert response.status_code == 200
    assert signals == []


def test_a_failed_request_can_be_retried(webhook_client):
    from anymail.signals import tracking

    def broken(sender, event, esp_name, **kwargs):
        raise RuntimeError("receiver failed")

    events = events_of("soft_bounce_bounced")
    tracking.connect(broken)
    try:
        assert post(webhook_client, events)[0].status_code == 400
    finally:
        tracking.disconnect(broken)
    response, signals = post(webhook_client, events)  # Mandrill's retry
    assert response.status_code == 200
    assert len(signals) == 1


# --- URL checks and a missing key ---


def test_head_checks_basic_auth(client):
    assert client.head("/anymail/mandrill/").status_code == 400
    assert client.head("/anymail/mandrill/tracking/").status_code == 400


def test_before_the_key_is_set(webhook_client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    # Mandrill's URL check: HEAD, or (if that fails) an empty batch signed "test-webhook".
    response = webhook_client.client.head(
        "/anymail/mandrill/", headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 200
    response, signals = post(webhook_client, [], key="test-webhook")
    assert response.status_code == 200
    assert signals == []
    # Anything else is a configuration error (a server fault: Mandrill retries later).
    with pytest.raises(AnymailConfigurationError, match="MANDRILL_WEBHOOK_KEY"):
        post(webhook_client, events_of("send_sent"), key="test-webhook")


def test_missing_key_is_a_500_not_a_400(settings):
    settings.ANYMAIL = {}
    value = json.dumps(events_of("send_sent"))
    response = Client(raise_request_exception=False).post(
        "/anymail/mandrill/",
        urlencode({"mandrill_events": value}),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Mandrill-Signature": sign("k", COMBINED_URL, [("mandrill_events", value)])},
    )
    assert response.status_code == 500


def test_test_webhook_key_only_signs_empty_batches(webhook_client):
    response, signals = post(webhook_client, events_of("send_sent"), key="test-webhook")
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize(
    ("setting", "advice"),
    [
        ("DJRILL_WEBHOOK_SECRET", "ANYMAIL_WEBHOOK_SECRET"),
        ("DJRILL_WEBHOOK_SECRET_NAME", "basic auth"),
        ("DJRILL_WEBHOOK_SIGNATURE_KEY", "ANYMAIL_MANDRILL_WEBHOOK_KEY"),
        ("DJRILL_WEBHOOK_URL", "ANYMAIL_MANDRILL_WEBHOOK_URL"),
    ],
)
def test_djrill_webhook_settings_raise_with_migration_advice(settings, setting, advice):
    from anymail.webhooks.mandrill import MandrillCombinedWebhookView

    setattr(settings, setting, "anything")
    with pytest.raises(AnymailConfigurationError) as raised:
        MandrillCombinedWebhookView()
    assert setting in str(raised.value)
    assert advice in str(raised.value)


# --- one URL, two signals ---


def test_tracking_and_inbound_events_in_one_batch_go_to_their_signals(webhook_client):
    inbound_event = events_of("inbound_text_attachment")[0]
    batch = [*events_of("send_sent"), inbound_event, *events_of("sync_whitelist_unknown")[:1]]
    response, signals = post(webhook_client, batch)
    assert response.status_code == 200
    assert [(s.signal, s.event.event_type) for s in signals] == [
        ("tracking", "sent"),
        ("inbound", "inbound"),
        ("tracking", "unknown"),
    ]
    assert all(s.esp_name == "Mandrill" for s in signals)
    # esp_event is the one Mandrill event, not the batch
    assert signals[1].event.esp_event == inbound_event
    assert signals[0].event.esp_event == batch[0]


def test_non_ascii_payload_signature(webhook_client):
    events = events_of("send_sent")
    events[0]["msg"]["subject"] = "Grüße aus Köln ✉"
    events[0]["msg"]["metadata"] = {"name": "Zoë"}
    response, signals = post(webhook_client, json.dumps(events, ensure_ascii=False))
    assert response.status_code == 200, response.content
    assert signals[0].event.metadata == {"name": "Zoë"}


@pytest.mark.parametrize(
    "value",
    ["{not json", '{"event": "send"}', '["a string"]', '[{"event": "send", "ts": "not-a-time"}]'],
)
def test_malformed_batches_are_400(webhook_client, value):
    response, signals = post(webhook_client, value)
    assert response.status_code == 400
    assert signals == []


# --- the pure converters ---


def test_converters_are_pure_functions_of_the_payload():
    batch = events_of("batch_all_test_events") + events_of("inbound_send_test")
    events = webhook_events(batch)
    assert len(events) == 16
    assert [e.event_type for e in tracking_events(batch)][:9] == [
        "sent", "deferred", "bounced", "bounced", "opened", "clicked", "complained",
        "unsubscribed", "rejected",
    ]  # fmt: skip
    assert all(isinstance(e, AnymailTrackingEvent) for e in tracking_events(batch))
    assert len(inbound_events(batch)) == 2
    assert all(isinstance(e, AnymailInboundEvent) for e in inbound_events(batch))
    with pytest.raises(ValueError, match="JSON array"):
        webhook_events({"event": "send"})


def test_sync_events_carry_the_entry():
    [blacklist_add, *_] = tracking_events(events_of("sync_blacklist_unknown"))
    assert blacklist_add.event_type == "unknown"
    assert blacklist_add.recipient == "example.webhook@mandrillapp.com"
    assert blacklist_add.description == "Example detail"
    assert blacklist_add.message_id is None


def test_unknown_message_event_is_unknown():
    event = events_of("send_sent")[0]
    event["event"] = "delivered"  # listed by Mailchimp's current docs; no sample published
    [converted] = tracking_events([event])
    assert converted.event_type == "unknown"
    assert converted.message_id == "fa239ebedd0a4831a3eefa59e880d8b2"


def test_inbound_message_from_parsed_fields_without_raw_msg():
    msg = {
        "from_email": "from@example.com",
        "from_name": "From Person",
        "to": [["inbox@example.com", None], ["other@example.com", "Other"]],
        "subject": "Fields only",
        "text": "Hello\n",
        "html": "<p>Hello</p>",
        "headers": {"X-Thing": ["one", "two"], "Message-Id": "<1@example.com>"},
        "attachments": {
            "a.txt": {"name": "a.txt", "type": "text/plain", "content": "QUJD", "base64": True}
        },
        "images": {
            "logo.png": {"name": "logo.png", "type": "image/png", "content": "iVBO", "base64": True}
        },
        "email": "inbox@example.com",
    }
    message = message_from_fields(msg)
    assert str(message.from_email) == "From Person <from@example.com>"
    assert [str(a) for a in message.to] == ["inbox@example.com", "Other <other@example.com>"]
    assert message.subject == "Fields only"
    assert message.text == "Hello\n"
    assert message.get_all("X-Thing") == ["one", "two"]
    [attachment] = message.attachments
    assert attachment.get_content_bytes() == b"ABC"
    assert list(message.inline_attachments) == ["logo.png"]
    [event] = inbound_events([{"event": "inbound", "ts": 1360822567, "msg": msg}])
    assert event.message.envelope_recipient == "inbox@example.com"
    assert event.message.spam_score is None
