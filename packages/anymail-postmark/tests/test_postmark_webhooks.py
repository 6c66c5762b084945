"""Postmark's webhooks through the real URLs: every conformance fixture, payloads
posted to the wrong URL, malformed payloads, and the pure converters."""

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest

from anymail.conformance.postmark.profile import PROFILE
from anymail.esps.postmark import EVENT_TYPES
from anymail.features import EventType
from anymail.webhooks.postmark import BOUNCE_TYPES, inbound_events, tracking_events
from anymail_conformance import WebhookFixtureTests, load_fixtures

FIXTURES = {fixture.name: fixture for fixture in load_fixtures(PROFILE)}


class TestPostmarkFixtures(WebhookFixtureTests):
    esp_id = "postmark"


def payload(name):
    return copy.deepcopy(FIXTURES[name].data["request"]["json"])


def test_wrong_url_explains(webhook_client, webhook_secret):
    response, signals = webhook_client.post(
        "anymail:postmark_tracking_webhook", payload("inbound_current")
    )
    assert response.status_code == 400
    assert signals == []
    assert b"/anymail/postmark/inbound/" in response.content

    response, signals = webhook_client.post(
        "anymail:postmark_inbound_webhook", payload("tracking_delivery")
    )
    assert response.status_code == 400
    assert signals == []
    assert b"/anymail/postmark/tracking/" in response.content


@pytest.mark.parametrize(
    ("route", "change"),
    [
        ("tracking", {"Metadata": "not an object"}),
        ("tracking", {"DeliveredAt": "yesterday"}),
        ("inbound", {"Attachments": [{"Name": "x", "Content": "[BASE64-ENCODED CONTENT]"}]}),
        ("inbound", {"Headers": "not a list"}),
        ("inbound", {"MessageID": None}),
    ],
)
def test_malformed_payloads_get_400(webhook_client, webhook_secret, route, change):
    body = payload("tracking_delivery" if route == "tracking" else "inbound_current")
    body.update(change)
    response, signals = webhook_client.post(f"anymail:postmark_{route}_webhook", body)
    assert response.status_code == 400
    assert signals == []


def test_basic_auth_is_required(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    response = client.post(
        "/anymail/postmark/tracking/", payload("tracking_delivery"), content_type="application/json"
    )
    assert response.status_code == 400


# --- the pure converters


def test_every_bounce_type_maps_to_a_declared_event_type():
    assert {event_type for event_type, _ in BOUNCE_TYPES.values()} <= EVENT_TYPES | {
        EventType.UNKNOWN
    }
    # Postmark's table of bounce types (https://postmarkapp.com/developer/api/bounce-api#bounce-types)
    assert len(BOUNCE_TYPES) == 22


def test_bounce_type_decides_not_type_code():
    bounce = payload("tracking_bounce_hard")
    bounce.update({"Type": "Transient", "TypeCode": 1})
    [event] = tracking_events(bounce)
    assert (event.event_type, event.reject_reason) == ("deferred", None)


def test_an_unknown_bounce_type_or_record_type_is_unknown():
    bounce = payload("tracking_bounce_hard")
    bounce["Type"] = "SomethingNew"
    [event] = tracking_events(bounce)
    assert (event.event_type, event.reject_reason, event.event_id) == ("unknown", None, "42")
    assert event.recipient == "john@example.com"

    [event] = tracking_events({"RecordType": "SomethingElse", "Recipient": "a@example.com"})
    assert (event.event_type, event.recipient, event.timestamp) == (
        "unknown",
        "a@example.com",
        None,
    )


def test_timestamps_with_a_local_offset():
    # As in Postmark's curl example: "2018-02-20T12:54:23.3396434-05:00"
    delivery = payload("tracking_delivery")
    delivery["DeliveredAt"] = "2018-02-20T12:54:23.3396434-05:00"
    [event] = tracking_events(delivery)
    assert event.timestamp == datetime(
        2018, 2, 20, 12, 54, 23, 339643, tzinfo=timezone(timedelta(hours=-5))
    )
    assert event.timestamp.astimezone(UTC).hour == 17


def test_subscription_change_reactivation_is_subscribed():
    [event] = tracking_events(payload("tracking_subscription_change_reactivated"))
    assert (event.event_type, event.message_id, event.tags) == ("subscribed", None, [])


def test_esp_event_is_the_posted_dict():
    data = payload("tracking_click")
    [event] = tracking_events(data)
    assert event.esp_event is data
    assert event.esp_event["ClickLocation"] == "HTML"


def test_inbound_message_is_rebuilt_from_the_json():
    data = payload("inbound_attachments_spam_headers")
    data["FromFull"]["Name"] = "Jöhn Dœ, Esq."
    [event] = inbound_events(data)
    message = event.message
    assert event.event_id == "22c74902-a0c1-4511-804f2-341342852c90"
    assert event.esp_event is data
    assert event.timestamp is None
    assert str(message.from_email) == '"Jöhn Dœ, Esq." <myUser@theirDomain.com>'
    assert message["Message-ID"] == (
        "<CAGXpo2WKfxHWZ5UFYCR3H_J9SNMG+5AXUovfEFL6DjWBJSyZaA@mail.gmail.com>"
    )
    assert message["Reply-To"] == "myUsersReplyAddress@theirDomain.com"
    assert message.date == datetime(2012, 4, 5, 16, 59, 1, tzinfo=timezone(timedelta(hours=2)))
    assert [str(address) for address in message.cc] == [
        "Full name <sample.cc@emailDomain.com>",
        "Another Cc <another.cc@emailDomain.com>",
    ]
    assert message.envelope_sender == "myUser@theirDomain.com"
    assert message.envelope_recipient is None  # the 2012 format has no OriginalRecipient
    assert (message.spam_detected, message.spam_score) == (False, -0.1)
    [image, paper] = message.attachments
    assert (image.get_filename(), image.get_content_type()) == ("myimage.png", "image/png")
    assert paper.get_content_bytes() == (
        b"Stand-in for the published [BASE64-ENCODED CONTENT] placeholder"
    )


def test_inbound_spam_detected():
    data = payload("inbound_attachments_spam_headers")
    for header in data["Headers"]:
        if header["Name"] == "X-Spam-Status":
            header["Value"] = "Yes, score=6.2 required=5.0"
    [event] = inbound_events(data)
    assert event.message.spam_detected is True
