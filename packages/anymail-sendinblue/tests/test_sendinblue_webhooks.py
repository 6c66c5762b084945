"""SendinBlue's tracking webhook through the real URLs: every conformance fixture,
batches, payloads that aren't Brevo transactional events, and the pure converter."""

import json

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from anymail.conformance.sendinblue.profile import PROFILE
from anymail.webhooks.sendinblue import tracking_events
from anymail_conformance import WebhookFixtureTests, load_fixtures

FIXTURES = {fixture.name: fixture for fixture in load_fixtures(PROFILE)}
URL = "anymail:sendinblue_tracking_webhook"


class TestSendinBlueFixtures(WebhookFixtureTests):
    esp_id = "sendinblue"


def load(name):
    """A fixture's payload (a copy, so tests can change it)."""
    return json.loads(json.dumps(FIXTURES[name].data["request"]["json"]))


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
    assert signal.esp_name == "SendinBlue"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"id": 1, "email": "a@example.com", "items": []}, "application/json"),
        ([{"email": "a@example.com"}], "application/json"),
    ],
)
def test_not_a_transactional_event_gets_a_400_that_says_so(
    webhook_client, webhook_secret, body, content_type
):
    response, signals = webhook_client.post(URL, body, content_type)
    assert response.status_code == 400
    assert b"transactional webhook" in response.content
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


def test_there_is_no_inbound_route(webhook_secret):
    with pytest.raises(NoReverseMatch):
        reverse("anymail:sendinblue_inbound_webhook")
    response = Client().post("/anymail/sendinblue/inbound/", b"{}", content_type="application/json")
    assert response.status_code == 404


# --- the pure converter


def test_tracking_events_is_a_pure_function_of_the_payload():
    [event] = tracking_events(load("hard_bounce"))
    assert event.event_type == "bounced"
    assert event.reject_reason == "bounced"
    assert event.description == "server is down"
    assert event.message_id == "<201798300811.5787683@relay.domain.com>"
    assert event.timestamp.isoformat() == "2020-11-09T14:54:14+00:00"


@pytest.mark.parametrize(
    ("brevo_event", "event_type"),
    [
        ("proxy_open", "opened"),
        ("unique_proxy_open", "opened"),
        ("unique_opened", "opened"),
        ("opened", "opened"),
        ("list_addition", "unknown"),
        ("some_future_event", "unknown"),
    ],
)
def test_event_type_map(brevo_event, event_type):
    [event] = tracking_events({**load("opened"), "event": brevo_event})
    assert event.event_type == event_type


def test_timestamp_falls_back_to_ts_then_ts_epoch_in_milliseconds():
    payload = load("unique_proxy_open")
    del payload["ts_event"]
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:29+00:00"
    del payload["ts"]
    # ts_epoch 1724322809710 is milliseconds
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:29.710000+00:00"
    payload["ts_epoch"] = 1724322809  # some samples give seconds
    assert tracking_events(payload)[0].timestamp.isoformat() == "2024-08-22T10:33:29+00:00"
    del payload["ts_epoch"]
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
