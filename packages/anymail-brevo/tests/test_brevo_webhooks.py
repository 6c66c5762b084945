"""Brevo's tracking webhook through the real URLs: every conformance fixture,
batches, payloads that aren't Brevo transactional events, and the pure converter."""

import pytest
from django.urls import reverse

from anymail.conformance.brevo.profile import PROFILE
from anymail.esps.brevo import ESP
from anymail.webhooks.brevo import BrevoTrackingWebhookView, tracking_events
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
URL = "anymail:brevo_tracking_webhook"
URL_PATH = "/anymail/brevo/tracking/"


class TestBrevoFixtures(WebhookFixtureTests):
    esp_id = "brevo"


load = FIXTURES.json  # a fixture's payload (a copy, so tests can change it)


def test_batched_post_gives_one_signal_per_event_in_order(webhook_client, webhook_secret):
    batch = [load("request_queued"), load("delivered"), load("click")]
    response, signals = webhook_client.post(URL, batch)
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["queued", "delivered", "clicked"]
    assert [s.event.esp_event for s in signals] == batch


def test_esp_event_is_the_raw_event(webhook_client, webhook_secret):
    payload = load("hard_bounce")
    _response, [signal] = webhook_client.post(URL, payload)
    assert signal.event.esp_event == payload
    assert signal.esp_name == "Brevo"


@pytest.mark.parametrize(
    "body",
    [{"id": 1, "email": "a@example.com", "contact_id": 8}, [{"email": "a@example.com"}]],
)
def test_not_a_transactional_event_gets_a_400_that_says_so(webhook_client, webhook_secret, body):
    response, signals = webhook_client.post(URL, body)
    assert response.status_code == 400
    assert b"not a Brevo transactional webhook event" in response.content
    assert signals == []


def test_an_inbound_post_at_the_tracking_url_gets_a_400_naming_the_inbound_url(
    webhook_client, webhook_secret
):
    response, signals = webhook_client.post(
        URL, FIXTURES["inbound_published_sample"].data["request"]["json"]
    )
    assert response.status_code == 400
    assert b"inbound parsing post" in response.content
    assert b"/anymail/brevo/inbound/" in response.content
    assert signals == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("event=delivered&email=a%40example.com", "application/x-www-form-urlencoded"),
        ([load("delivered"), "not an event"], "application/json"),
        ({**load("delivered"), "ts_event": "yesterday"}, "application/json"),
        ({**load("delivered"), "email": {"not": "a string"}}, "application/json"),
        ({**load("delivered"), "tags": {"not": "a list"}}, "application/json"),
    ],
)
def test_malformed_posts_give_400_and_no_signal(webhook_client, webhook_secret, body, content_type):
    response, signals = webhook_client.post(URL, body, content_type)
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize(
    "payload",
    [
        {**load("delivered"), "ts_epoch": float("inf")},  # JSON 1e400
        {**load("delivered"), "ts_epoch": 10**30},  # no such year
        {**load("delivered"), "ts_event": -(10**20)},
        {**load("delivered"), "ts_epoch": float("nan")},
        {**load("delivered"), "ts_epoch": [1604933654]},
        {**load("delivered"), "event": ["delivered"]},
        {**load("delivered"), "link": ["https://example.com"]},
        {**load("delivered"), "tags": [["nested"]], "tag": 7},
        [[load("delivered")]],
        "delivered",
        17,
        None,
    ],
)
def test_every_malformed_payload_is_a_value_error(payload):
    """The view answers 400 (Brevo drops the post) only for a ValueError; any other
    exception would be taken for a fault on our side and answered 429, and Brevo would
    post the same malformed payload again."""
    try:
        events = tracking_events(payload)
    except ValueError:
        return
    # What isn't refused must be a well-formed event.
    for event in events:
        assert all(isinstance(tag, str) for tag in event.tags)
        assert event.timestamp is None or event.timestamp.utcoffset() is not None


def test_deeply_nested_json_is_a_value_error(rf, webhook_secret):
    """json.loads raises RecursionError for deep nesting: read_payload makes it a
    ValueError (a malformed body, 400), not a fault on our side."""
    request = rf.post(URL_PATH, b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    with pytest.raises(ValueError, match="nested"):
        BrevoTrackingWebhookView().read_payload(request)


# --- webhook retries: Brevo retries only a 429 (or no answer)


def test_brevo_retries_only_429():
    assert ESP.webhook_retry_status == 429
    assert ESP.webhook_retry_docs == "https://developers.brevo.com/docs/retry-mechanism"
    # Brevo's last retry comes 11 h 10 min after the first post.
    assert ESP.webhook_retry_window >= 11 * 3600 + 10 * 60


def test_a_receiver_that_raises_gets_429_so_brevo_retries(webhook_client, webhook_secret):
    with BrokenReceiver():
        response, _signals = webhook_client.post(URL, load("delivered"))
    assert response.status_code == 429
    assert response.has_header("Retry-After")
    # Brevo's retry is accepted, and signalled once.
    response, signals = webhook_client.post(URL, load("delivered"))
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["delivered"]
    response, signals = webhook_client.post(URL, load("delivered"))
    assert (response.status_code, signals) == (200, [])


def test_a_batch_retried_after_a_429_signals_only_the_unhandled_events(
    webhook_client, webhook_secret
):
    batch = [load("request_queued"), load("delivered"), load("click")]
    with BrokenReceiver(lambda event: event.event_type == "delivered", times=1):
        response, signals = webhook_client.post(URL, batch)
        assert response.status_code == 429
        assert [s.event.event_type for s in signals] == ["queued"]
        response, signals = webhook_client.post(URL, batch)  # Brevo's retry
        assert response.status_code == 200
        assert [s.event.event_type for s in signals] == ["delivered", "clicked"]


def test_brevo_events_get_a_stable_digest_event_id(webhook_client, webhook_secret):
    """Brevo's "id" is the webhook's, the same for every event: Anymail's event_id is
    a digest of the raw event, the same when Brevo posts the event again."""
    [event] = tracking_events(load("delivered"))
    assert event.event_id is None  # the converter leaves it to the view
    _response, [first] = webhook_client.post(URL, load("request_queued"))
    _response, [second] = webhook_client.post(URL, load("delivered"))
    assert first.event.event_id.startswith("sha256:")
    assert first.event.event_id != second.event.event_id


def test_the_webhook_urls():
    assert reverse("anymail:brevo_tracking_webhook") == "/anymail/brevo/tracking/"
    assert reverse("anymail:brevo_inbound_webhook") == "/anymail/brevo/inbound/"


# --- the pure converter


def test_spam_complaint_has_reject_reason_spam():
    [event] = tracking_events(load("spam_complaint"))
    assert (event.event_type, event.reject_reason) == ("complained", "spam")


def test_tracking_events_is_a_pure_function_of_the_payload():
    [event] = tracking_events(load("hard_bounce"))
    assert event.event_type == "bounced"
    assert event.reject_reason == "bounced"
    assert event.description == "server is down"
    assert event.message_id == "<201798300811.5787683@relay.domain.com>"
    assert event.timestamp.isoformat() == "2020-11-09T14:54:13+00:00"  # ts_epoch


@pytest.mark.parametrize(
    ("brevo_event", "event_type"),
    [
        ("proxy_open", "opened"),
        ("unique_proxy_open", "opened"),
        ("unique_opened", "opened"),
        ("opened", "opened"),
        # Brevo's changelog (2024-08-30) and posts name the event "unsubscribe"; its
        # samples print "unsubscribed".
        ("unsubscribe", "unsubscribed"),
        ("unsubscribed", "unsubscribed"),
        ("list_addition", "unknown"),
        ("some_future_event", "unknown"),
    ],
)
def test_event_type_map(brevo_event, event_type):
    [event] = tracking_events({**load("opened"), "event": brevo_event})
    assert event.event_type == event_type


def test_timestamp_is_ts_epoch_the_one_field_reliably_in_utc():
    """Brevo's ``ts`` and ``ts_event`` have followed the account's time zone (and its
    daylight saving time) rather than UTC; ``ts_epoch`` (milliseconds) hasn't. These
    are the three fields of one post (issue #23): a message sent at 19:10:23 UTC from
    an account set to US Pacific time, whose ``ts`` and ``ts_event`` read 10:10:23."""
    payload = {
        **load("request_queued"),
        "date": "2018-03-06 11:10:23",  # the account's local time
        "ts": 1520331023,  # 2018-03-06 10:10:23 as UTC: 9 hours off
        "ts_event": 1520331023,
        "ts_epoch": 1520363423000,  # 2018-03-06 19:10:23.000 UTC
    }
    [event] = tracking_events(payload)
    assert event.timestamp.isoformat() == "2018-03-06T19:10:23+00:00"


def test_timestamp_falls_back_to_ts_event_then_ts():
    payload = load("unique_proxy_open")
    # ts_epoch 1724322809710 is milliseconds
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:29.710000+00:00"
    payload["ts_epoch"] = 1724322809  # some of Brevo's samples give seconds
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:29+00:00"
    payload.update(ts_epoch="", ts_event=1724322800, ts=1724322700)
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:20+00:00"
    del payload["ts_epoch"], payload["ts_event"]
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:31:40+00:00"
    del payload["ts"]
    assert tracking_events(payload)[0].timestamp is None


@pytest.mark.parametrize(
    ("fields", "tags"),
    [
        ({"tags": ["a", "b"], "tag": '["ignored"]'}, ["a", "b"]),
        ({"tag": '["a", "b"]'}, ["a", "b"]),
        ({"tag": "single-tag"}, ["single-tag"]),
        ({"tag": "[not json"}, ["[not json"]),
        ({"tags": []}, []),
        ({}, []),
    ],
)
def test_tags(fields, tags):
    payload = load("delivered")
    del payload["tags"]
    [event] = tracking_events({**payload, **fields})
    assert event.tags == tags


@pytest.mark.parametrize(
    ("header", "metadata"),
    [
        ('{"order_id": "A-1", "n": 2}', {"order_id": "A-1", "n": 2}),
        ("some_custom_header", {}),
        ('["a", "list"]', {}),
        ("", {}),
    ],
)
def test_metadata_from_x_mailin_custom(header, metadata):
    [event] = tracking_events({**load("delivered"), "X-Mailin-custom": header})
    assert event.metadata == metadata


def test_message_id_brackets():
    payload = load("delivered")
    assert tracking_events(payload)[0].message_id == "<201798300811.5787683@relay.domain.com>"
    payload["message-id"] = "<already@bracketed>"
    assert tracking_events(payload)[0].message_id == "<already@bracketed>"
    payload["message-id"] = "an#2705147202202651768"
    assert tracking_events(payload)[0].message_id == "an#2705147202202651768"
    payload["message-id"] = ""
    assert tracking_events(payload)[0].message_id is None


def test_an_empty_batch_is_malformed():
    with pytest.raises(ValueError, match="no events"):
        tracking_events([])
