"""Postmark's webhooks through the real URLs: every conformance fixture, payloads
posted to the wrong URL, malformed payloads, and the pure converters."""

import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from anymail.conformance.postmark.profile import PROFILE
from anymail.esps.postmark import ESP, EVENT_TYPES
from anymail.events import event_digest
from anymail.features import EventType
from anymail.webhooks.postmark import BOUNCE_TYPES, inbound_events, tracking_events
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)


class TestPostmarkFixtures(WebhookFixtureTests):
    esp_id = "postmark"


def _nested(depth):
    value = "deep"
    for _ in range(depth):
        value = [value]
    return value


payload = FIXTURES.json


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
        ("inbound", {"Attachments": [{"Name": "x", "Content": {"not": "text"}}]}),
        ("inbound", {"Attachments": ["not an object"]}),
        ("inbound", {"Headers": "not a list"}),
        # Wrong shapes are the payload's fault (400), never a crash of ours (5xx).
        ("inbound", {"Headers": [["Name", "Value"]]}),
        ("inbound", {"Headers": [{"Name": {"not": "text"}, "Value": "x"}]}),
        ("inbound", {"Headers": [{"Value": "no name"}]}),
        ("inbound", {"MessageID": ["not", "text"]}),
        ("inbound", {"FromFull": {"Email": ["a@example.com"]}}),
        ("inbound", {"CcFull": [["sample.cc@emailDomain.com"]]}),
        ("inbound", {"Subject": 1.5}),
        ("inbound", {"Attachments": [{"Name": True, "Content": ""}]}),
        ("tracking", {"Tag": {"not": "text"}}),
        ("tracking", {"Recipient": ["john@example.com"]}),
        ("tracking", {"MessageID": False}),
        ("tracking", {"Metadata": {"nested": _nested(40)}}),
        ("inbound", {"MessageID": None}),
    ],
)
def test_malformed_payloads_get_400(webhook_client, webhook_secret, route, change):
    body = payload("tracking_delivery" if route == "tracking" else "inbound_current")
    body.update(change)
    response, signals = webhook_client.post(f"anymail:postmark_{route}_webhook", body)
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize("change", [{"Type": ["HardBounce"]}, {"ID": {"id": 42}}])
def test_malformed_bounces_get_400(webhook_client, webhook_secret, change):
    body = payload("tracking_bounce_hard")
    body.update(change)
    response, signals = webhook_client.post("anymail:postmark_tracking_webhook", body)
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize("route", ["tracking", "inbound"])
@pytest.mark.parametrize("depth", [900, 100_000])
def test_deeply_nested_json_is_malformed_not_a_crash(webhook_client, webhook_secret, route, depth):
    # Nothing Postmark posts nests like this; reading it must not overflow the stack.
    body = payload("tracking_delivery" if route == "tracking" else "inbound_current")
    text = json.dumps(body)[:-1] + ', "Extra": ' + "[" * depth + "]" * depth + "}"
    response, signals = webhook_client.post(f"anymail:postmark_{route}_webhook", text)
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


# --- an attachment Postmark couldn't encode doesn't lose the message


def test_an_attachment_that_isnt_base64_keeps_the_message(webhook_client, webhook_secret, caplog):
    # Postmark retries an inbound post that gets a 400 and then gives up: refusing the
    # whole message for one unreadable attachment would lose it.
    body = payload("inbound_attachments_spam_headers")
    body["Attachments"][1]["Content"] = "[BASE64-ENCODED CONTENT] Sëcret-looking text"
    with caplog.at_level(logging.WARNING, logger="anymail"):
        response, signals = webhook_client.post("anymail:postmark_inbound_webhook", body)
    assert response.status_code == 200
    [signal] = signals
    message = signal.event.message
    [image, paper] = message.attachments
    assert image.get_content_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the good one, decoded
    assert (paper.get_filename(), paper.get_content_type()) == ("mypaper.doc", "application/msword")
    assert paper.get_content_bytes() == "[BASE64-ENCODED CONTENT] Sëcret-looking text".encode()
    assert message.subject == "This is an inbound message"
    [record] = [r for r in caplog.records if r.name.startswith("anymail")]
    assert record.levelno == logging.WARNING
    logged = record.getMessage()
    assert "attachment 2" in logged
    assert "22c74902-a0c1-4511-804f2-341342852c90" in logged  # which message
    assert "Sëcret" not in logged  # no content
    assert "BASE64" not in logged


def test_attachment_content_with_line_breaks_is_still_base64():
    data = payload("inbound_attachments_spam_headers")
    data["Attachments"][1]["Content"] = "U3RhbmQtaW4gZm9y\r\nIHRoZSBwdWJsaXNo\nZWQ="
    [event] = inbound_events(data)
    assert event.message.attachments[1].get_content_bytes() == b"Stand-in for the published"


def test_empty_attachment_content_is_an_empty_attachment(caplog):
    data = payload("inbound_attachments_spam_headers")
    data["Attachments"][1]["Content"] = None
    with caplog.at_level(logging.WARNING, logger="anymail"):
        [event] = inbound_events(data)
    assert event.message.attachments[1].get_content_bytes() == b""
    assert caplog.records == []


# --- event ids: Postmark's own where it has one; a digest of the event otherwise


@pytest.mark.parametrize(
    ("fixture", "event_id"),
    [
        ("tracking_bounce_hard", "42"),  # the bounce ID
        ("tracking_spam_complaint", "42"),  # a spam complaint is a bounce record too
        ("tracking_delivery", None),  # no id of their own: the view derives one
        ("tracking_open", None),
        ("tracking_click", None),
        ("tracking_subscription_change_suppressed", None),
    ],
)
def test_tracking_event_ids(fixture, event_id):
    [event] = tracking_events(payload(fixture))
    assert event.event_id == event_id


def test_inbound_event_id_is_postmarks_message_id():
    [event] = inbound_events(payload("inbound_current"))
    assert event.event_id == "73e6d360-66eb-11e1-8e72-a8206ea7d3ea"


@pytest.mark.parametrize("fixture", ["tracking_delivery", "tracking_open", "tracking_click"])
def test_events_without_an_id_get_a_stable_digest(webhook_client, webhook_secret, fixture):
    body = payload(fixture)
    response, [signal] = webhook_client.post("anymail:postmark_tracking_webhook", body)
    assert response.status_code == 200
    assert signal.event.event_id == event_digest(body)
    # Postmark's retry of the same post: acknowledged, not signalled again.
    response, signals = webhook_client.post("anymail:postmark_tracking_webhook", body)
    assert (response.status_code, signals) == (200, [])
    # A second open (another time) is another event.
    if fixture == "tracking_open":
        body["ReceivedAt"] = "2025-04-05T17:00:00.0000000Z"
        response, [signal] = webhook_client.post("anymail:postmark_tracking_webhook", body)
        assert signal.event.event_id == event_digest(body)


@pytest.mark.parametrize(
    ("route", "fixture"), [("tracking", "tracking_bounce_hard"), ("inbound", "inbound_current")]
)
def test_a_redelivery_is_signalled_once(webhook_client, webhook_secret, route, fixture):
    url = f"anymail:postmark_{route}_webhook"
    response, signals = webhook_client.post(url, payload(fixture))
    assert (response.status_code, len(signals)) == (200, 1)
    response, signals = webhook_client.post(url, payload(fixture))
    assert (response.status_code, signals) == (200, [])


# --- retries: what Postmark retries decides the answers


def test_retry_declaration_covers_postmarks_schedules():
    assert ESP.webhook_retry_status == 503  # both webhooks retry a 5xx
    # Inbound retries: 1, 5, 10, 10, 10, 15, 30 minutes, 1, 2, 6 hours after each other.
    inbound_minutes = 1 + 5 + 10 + 10 + 10 + 15 + 30 + 60 + 120 + 360
    # Tracking retries: 1, 5, 10, 10, 10, 15 minutes.
    tracking_minutes = 1 + 5 + 10 + 10 + 10 + 15
    assert ESP.webhook_retry_window >= max(inbound_minutes, tracking_minutes) * 60
    assert ESP.webhook_retry_docs.startswith("https://postmarkapp.com/")


@pytest.mark.parametrize(
    ("route", "fixture"), [("tracking", "tracking_delivery"), ("inbound", "inbound_current")]
)
def test_a_receiver_that_raises_gets_postmark_to_retry(
    webhook_client, webhook_secret, route, fixture
):
    with BrokenReceiver(times=1, error=ConnectionError("database down")) as receiver:
        url = f"anymail:postmark_{route}_webhook"
        response, _ = webhook_client.post(url, payload(fixture))
        assert response.status_code == 503
        assert response["Retry-After"]
        response, _ = webhook_client.post(url, payload(fixture))  # Postmark's retry
        assert response.status_code == 200
        response, _ = webhook_client.post(url, payload(fixture))  # a duplicate
        assert response.status_code == 200
    calls = receiver.event_ids
    assert len(calls) == 2
    assert calls[0] == calls[1]
