"""SparkPost's webhooks through the real URLs: every conformance fixture, batches,
the validation ping, payloads posted to the wrong URL, relay messages, and the pure
converters."""

import base64
from datetime import UTC, datetime

import pytest

from anymail.conformance.sparkpost.profile import PROFILE
from anymail.exceptions import AnymailInsecureWebhookWarning
from anymail.webhooks.sparkpost import inbound_events, tracking_events
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
TRACKING = "anymail:sparkpost_tracking_webhook"
INBOUND = "anymail:sparkpost_inbound_webhook"


class TestSparkPostFixtures(WebhookFixtureTests):
    esp_id = "sparkpost"


batch = FIXTURES.json


def test_one_signal_per_event_with_the_wrapped_event(webhook_client, webhook_secret):
    events = batch("tracking_batch_all_samples")
    response, signals = webhook_client.post(TRACKING, events)
    assert response.status_code == 200
    assert len(signals) == len(events) == 19
    for signal, item in zip(signals, events, strict=True):
        assert signal.esp_name == "SparkPost"
        # esp_event: the raw wrapped event, {"msys": {"<class>": {...}}}
        assert signal.event.esp_event == item
        assert signal.event.timestamp.utcoffset() is not None


def test_validation_ping_gets_200_and_no_signal(webhook_client, webhook_secret):
    for url in (TRACKING, INBOUND):
        response, signals = webhook_client.post(url, [{"msys": {}}])
        assert response.status_code == 200
        assert signals == []


def test_basic_auth_is_required(webhook_client, webhook_secret):
    response, signals = webhook_client.post(
        TRACKING, batch("tracking_delivery_delivered"), basic_auth=None
    )
    assert response.status_code == 400
    assert signals == []


def test_insecure_without_webhook_secret_warns(webhook_client):
    with pytest.warns(AnymailInsecureWebhookWarning):
        response, signals = webhook_client.post(
            TRACKING, batch("tracking_delivery_delivered"), basic_auth=None
        )
    assert response.status_code == 200
    assert len(signals) == 1


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        [{"msys": []}],
        [{"not_msys": {}}],
        [{"msys": {"message_event": "delivery"}}],
        {"msys": {}},
    ],
)
def test_malformed_batches_get_400(webhook_client, webhook_secret, body):
    response, signals = webhook_client.post(TRACKING, body)
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize("value", [{"id": 1}, ["65832150921904138"], 1.5, True])
def test_text_fields_of_the_wrong_type_get_400(webhook_client, webhook_secret, value):
    items = batch("tracking_delivery_delivered")
    items[0]["msys"]["message_event"]["transmission_id"] = value
    response, signals = webhook_client.post(TRACKING, items)
    assert response.status_code == 400
    assert signals == []


def test_integer_ids_are_read_as_text(webhook_client, webhook_secret):
    items = batch("tracking_delivery_delivered")
    items[0]["msys"]["message_event"]["transmission_id"] = 65832150921904138
    response, [signal] = webhook_client.post(TRACKING, items)
    assert response.status_code == 200
    assert signal.event.message_id == "65832150921904138"


def test_payloads_at_the_wrong_url_name_the_right_one(webhook_client, webhook_secret):
    response, signals = webhook_client.post(TRACKING, batch("inbound_relay_message"))
    assert response.status_code == 400
    assert b"/anymail/sparkpost/inbound/" in response.content
    assert signals == []
    response, signals = webhook_client.post(INBOUND, batch("tracking_delivery_delivered"))
    assert response.status_code == 400
    assert b"/anymail/sparkpost/tracking/" in response.content
    assert signals == []


def test_inbound_relay_message(webhook_client, webhook_secret):
    response, [signal] = webhook_client.post(INBOUND, batch("inbound_relay_message"))
    assert response.status_code == 200
    event = signal.event
    assert event.event_type == "inbound"
    assert event.esp_event == batch("inbound_relay_message")[0]
    message = event.message
    # the raw MIME, not the sample's disagreeing convenience fields, is the message
    assert message.subject == "Relay webhooks rawk!"
    assert message.envelope_sender == "me@here.com"
    assert message.envelope_recipient == "you@there.com"


def test_inbound_base64_raw_mime_that_is_not_utf8(webhook_client, webhook_secret):
    # SparkPost base64-encodes the whole email_rfc822 when it holds non-UTF-8 bytes
    raw = (
        b"From: sender@example.com\r\nTo: inbound@example.com\r\nSubject: Caf\xe9\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me\r\n"
    )
    items = batch("inbound_relay_message")
    content = items[0]["msys"]["relay_message"]["content"]
    content["email_rfc822"] = base64.b64encode(raw).decode("ascii")
    content["email_rfc822_is_base64"] = True
    response, [signal] = webhook_client.post(INBOUND, items)
    assert response.status_code == 200
    assert signal.event.message.text == "Café crème\r\n"


def test_inbound_without_raw_mime_gets_400(webhook_client, webhook_secret):
    items = batch("inbound_relay_message")
    del items[0]["msys"]["relay_message"]["content"]["email_rfc822"]
    response, signals = webhook_client.post(INBOUND, items)
    assert response.status_code == 400
    assert signals == []


# --- the pure converters ---


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1454442600, datetime(2016, 2, 2, 19, 50, tzinfo=UTC)),
        ("1454442600", datetime(2016, 2, 2, 19, 50, tzinfo=UTC)),
        ("2016-04-18T14:25:07.000+00:00", datetime(2016, 4, 18, 14, 25, 7, tzinfo=UTC)),
        ("2016-04-18T14:25:07.000Z", datetime(2016, 4, 18, 14, 25, 7, tzinfo=UTC)),
        ("not a time", None),
        (None, None),
    ],
)
def test_timestamps(timestamp, expected):
    items = batch("tracking_delivery_delivered")
    items[0]["msys"]["message_event"]["timestamp"] = timestamp
    [event] = tracking_events(items)
    assert event.timestamp == expected


def test_tracking_converter_fields():
    [event] = tracking_events(batch("tracking_click_clicked"))
    assert event.event_type == "clicked"
    assert event.message_id == "65832150921904138"  # transmission_id, not message_id
    assert event.tags == ["Example Campaign Name"]  # campaign_id, not rcpt_tags
    assert event.metadata == {"customKey": "customValue"}
    assert event.click_url == "http://example.com"


def test_unknown_and_amp_event_types():
    items = batch("tracking_open_opened")
    items[0]["msys"]["track_event"]["type"] = "amp_open"
    assert [e.event_type for e in tracking_events(items)] == ["opened"]
    items[0]["msys"]["track_event"]["type"] = "something_new"
    assert [e.event_type for e in tracking_events(items)] == ["unknown"]


def test_inbound_converter_skips_the_ping():
    assert inbound_events([{"msys": {}}]) == []
    with pytest.raises(ValueError, match="non-empty"):
        inbound_events([])


# --- the recipient: raw_rcpt_to (case preserved), else rcpt_to ---


def _samples_with_a_recipient():
    """Each published sample that names a recipient, as a one-event batch and its
    event class (message, track, gen, unsubscribe and relay events)."""
    samples = []
    for item in batch("tracking_batch_all_samples"):
        [(event_class, data)] = item["msys"].items()
        if "rcpt_to" in data:
            samples.append(pytest.param([item], event_class, id=f"{event_class}-{data['type']}"))
    return samples


@pytest.mark.parametrize(("items", "event_class"), _samples_with_a_recipient())
def test_recipient_is_raw_rcpt_to_without_rcpt_to(
    webhook_client, webhook_secret, items, event_class
):
    data = items[0]["msys"][event_class]
    del data["rcpt_to"]
    data["raw_rcpt_to"] = "Recipient.Name@Example.COM"
    response, [signal] = webhook_client.post(TRACKING, items)
    assert response.status_code == 200
    assert signal.event.recipient == "Recipient.Name@Example.COM"


@pytest.mark.parametrize(("items", "event_class"), _samples_with_a_recipient())
def test_recipient_prefers_raw_rcpt_to_and_falls_back_to_rcpt_to(items, event_class):
    data = items[0]["msys"][event_class]
    # SparkPost lowercases rcpt_to; raw_rcpt_to is the address as it was sent
    data["rcpt_to"] = "recipient.name@example.com"
    data["raw_rcpt_to"] = "Recipient.Name@Example.COM"
    assert [e.recipient for e in tracking_events(items)] == ["Recipient.Name@Example.COM"]
    del data["raw_rcpt_to"]
    assert [e.recipient for e in tracking_events(items)] == ["recipient.name@example.com"]
    del data["rcpt_to"]
    assert [e.recipient for e in tracking_events(items)] == [None]


# --- bounce classes ---


def test_challenge_response_bounce_keeps_a_reject_reason(webhook_client, webhook_secret):
    # Bounce class 100, Challenge-Response: "The message is a challenge-response
    # probe", category Soft (SparkPost's Bounce Classification Codes). The message
    # wasn't delivered: an autoresponded event with the soft bounces' reason.
    items = batch("tracking_bounce_bounced")
    items[0]["msys"]["message_event"]["bounce_class"] = "100"
    response, [signal] = webhook_client.post(TRACKING, items)
    assert response.status_code == 200
    assert signal.event.event_type == "autoresponded"
    assert signal.event.reject_reason == "bounced"
    # an auto-reply (class 60) was delivered: it has no reject reason
    items[0]["msys"]["message_event"]["bounce_class"] = "60"
    [event] = tracking_events(items)
    assert (event.event_type, event.reject_reason) == ("autoresponded", None)


# --- retries: what SparkPost's retry logic needs from the answers ---


def test_fault_on_our_side_gets_503_and_the_redelivery_is_signalled_once(
    webhook_client, webhook_secret
):
    # SparkPost re-posts a batch it got no 2xx for, for 8 hours
    # (https://support.sparkpost.com/docs/tech-resources/webhook-data-streams)
    from datetime import timedelta

    from django.utils import timezone

    from anymail.models import WebhookReplayToken

    items = batch("tracking_delivery_delivered")
    with BrokenReceiver(times=1) as receiver:
        response, _ = webhook_client.post(TRACKING, items)
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        posted_at = timezone.now()
        response, _ = webhook_client.post(TRACKING, items)  # SparkPost's retry
        assert response.status_code == 200
        response, _ = webhook_client.post(TRACKING, items)  # a duplicate delivery
        assert response.status_code == 200
    assert receiver.event_ids == ["92356927693813856", "92356927693813856"]
    # the handled event is remembered for SparkPost's whole retry window
    [token] = WebhookReplayToken.objects.filter(esp_id="sparkpost")
    assert abs(token.expires_at - (posted_at + timedelta(hours=8))) < timedelta(minutes=5)
