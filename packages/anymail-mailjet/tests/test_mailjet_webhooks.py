"""Mailjet's webhooks through the real URLs: every conformance fixture, grouped and
ungrouped posts, the reject reason mapping, payloads posted to the wrong URL,
malformed posts, and the pure converters."""

import base64
import json

import pytest

from anymail.conformance.mailjet.profile import PROFILE, FakeMailjetAPI
from anymail.events import event_digest
from anymail.message import AnymailMessage
from anymail.webhooks.mailjet import inbound_events, tracking_events
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.fake_server import FakeESPServer
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
TRACKING = "anymail:mailjet_tracking_webhook"
INBOUND = "anymail:mailjet_inbound_webhook"


class TestMailjetFixtures(WebhookFixtureTests):
    esp_id = "mailjet"


@pytest.fixture(autouse=True)
def _secret(webhook_secret):
    """Every post here carries the WEBHOOK_SECRET basic auth."""


sample = FIXTURES.json  # a fixture's request body (a fresh copy)


# --- tracking ---


def test_grouped_post_sends_one_signal_per_event_in_order(webhook_client):
    events = [sample("sent"), sample("open"), sample("click"), sample("blocked")]
    response, signals = webhook_client.post(TRACKING, events)
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["delivered", "opened", "clicked", "rejected"]
    # esp_event is the single event's dict, not the whole batch.
    assert [s.event.esp_event for s in signals] == events
    assert all(s.esp_name == "Mailjet" for s in signals)


def test_ungrouped_post_sends_one_signal(webhook_client):
    response, [signal] = webhook_client.post(TRACKING, sample("spam"))
    assert response.status_code == 200
    assert signal.event.event_type == "complained"
    assert signal.event.esp_event == sample("spam")
    # Mailjet's events have no id: the view gives each the digest of its raw event.
    assert signal.event.event_id == event_digest(sample("spam"))


def test_converter_leaves_event_id_to_the_view():
    """No id of our own invented in the converter: Mailjet has none to give."""
    assert [event.event_id for event in tracking_events(sample("spam"))] == [None]
    assert [event.event_id for event in inbound_events(sample("inbound"))] == [None]


def test_redelivered_events_are_acknowledged_and_not_signalled_again(webhook_client):
    """Mailjet redelivers until it gets a 200: an event handled once (alone or in a
    grouped post) is acknowledged again, and only new events are signalled."""
    response, [first] = webhook_client.post(TRACKING, sample("spam"))
    assert response.status_code == 200
    response, signals = webhook_client.post(TRACKING, sample("spam"))
    assert (response.status_code, signals) == (200, [])
    response, signals = webhook_client.post(TRACKING, [sample("spam"), sample("open")])
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["opened"]
    assert signals[0].event.event_id != first.event.event_id


def test_a_raising_receiver_gets_mailjets_retry_and_the_retry_is_signalled(
    webhook_client, settings
):
    """A fault on our side: an answer that isn't 200 (Mailjet retries any such), so the
    events aren't lost; the redelivery is signalled."""
    with BrokenReceiver(times=1) as receiver:
        response, _signals = webhook_client.post(TRACKING, sample("open"))
        assert response.status_code == 503
        assert response["Retry-After"]
        response, _signals = webhook_client.post(TRACKING, sample("open"))
        assert response.status_code == 200
    assert receiver.event_ids == [event_digest(sample("open"))] * 2


def test_json_with_another_content_type_is_accepted(webhook_client):
    body = json.dumps(sample("sent"))
    response, [signal] = webhook_client.post(TRACKING, body, content_type="text/plain")
    assert response.status_code == 200
    assert signal.event.event_type == "delivered"


@pytest.mark.parametrize(
    "body",
    [
        [],  # no events
        [{"event": "sent", "time": 1433333949}, "not an event"],
        {"event": "sent"},  # no time
        {"event": "sent", "time": None},
        {"event": "sent", "time": [1433333949]},
        {"event": "sent", "time": True},
        {"event": "sent", "time": "yesterday"},
        {"event": "sent", "time": "inf"},
        {"time": 1433333949, "email": "a@example.com"},  # no event name
        {"event": "sent", "time": 10**20},  # out of range
        {"event": "sent", "time": 10**400},  # too large for a float
        {"event": "sent", "time": 1433333949, "MessageID": {"id": 1}},
        {"event": "sent", "time": 1433333949, "email": ["a@example.com"]},
        {"event": "sent", "time": 1433333949, "smtp_reply": 250},
        {"event": "open", "time": 1433333949, "agent": {"ua": "x"}},
        {"event": "bounce", "time": 1433333949, "error": ["user unknown"]},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    ],
)
def test_malformed_events_are_refused_with_400(webhook_client, body):
    response, signals = webhook_client.post(TRACKING, body)
    assert response.status_code == 400
    assert signals == []


@pytest.mark.parametrize(
    ("hard_bounce", "event_type", "reject_reason"),
    [(True, "bounced", "bounced"), (False, "deferred", None), (None, "bounced", "bounced")],
)
def test_bounce_is_bounced_or_deferred_by_hard_bounce(hard_bounce, event_type, reject_reason):
    data = sample("bounce_hard")
    if hard_bounce is None:
        del data["hard_bounce"]
    else:
        data["hard_bounce"] = hard_bounce
    [event] = tracking_events(data)
    assert (event.event_type, event.reject_reason) == (event_type, reject_reason)
    assert event.description == "user unknown"


@pytest.mark.parametrize(
    ("related_to", "error", "reject_reason"),
    [
        ("recipient", "user unknown", "bounced"),
        ("recipient", "mailbox inactive", "bounced"),
        ("recipient", "quota exceeded", "bounced"),
        ("recipient", "blacklisted", "blocked"),
        ("recipient", "spam reporter", "spam"),
        ("domain", "invalid domain", "invalid"),
        ("domain", "typofix", "invalid"),
        ("domain", "no mail host", "bounced"),
        ("domain", "relay/access denied", "blocked"),
        ("spam", "sender blocked", "blocked"),
        ("spam", "content blocked", "spam"),
        ("spam", "policy issue", "blocked"),
        ("system", "system issue", "other"),
        ("content", "error in template language", "other"),
        ("mailjet", "preblocked", "bounced"),
        ("mailjet", "duplicate in campaign", "other"),
        # errors Mailjet may add later: by what they relate to
        ("spam", "something new", "spam"),
        ("recipient", "something new", "bounced"),
        ("elsewhere", "something new", "other"),
    ],
)
def test_blocked_reject_reasons(related_to, error, reject_reason):
    data = sample("blocked")
    data.update(error_related_to=related_to, error=error)
    [event] = tracking_events(data)
    assert event.event_type == "rejected"
    assert (event.reject_reason, event.description) == (reject_reason, error)


def test_reject_reason_only_for_bounced_and_rejected():
    for name in ("sent", "open", "click", "spam", "unsub", "derived_bounce_soft_deferred"):
        [event] = tracking_events(sample(name))
        assert event.reject_reason is None, name


def test_unknown_event_name_is_unknown():
    data = sample("sent")
    data["event"] = "something_new"
    [event] = tracking_events(data)
    assert event.event_type == "unknown"
    assert event.esp_event["event"] == "something_new"


@pytest.mark.parametrize(
    ("payload", "metadata"),
    [
        ('{"order": "1", "n": 2}', {"order": "1", "n": 2}),
        ("Eticket,1234,row,15,seat,B", {}),  # Mailjet's own example: any text
        ('["a list"]', {}),
        ("", {}),
        (None, {}),
    ],
)
def test_metadata_is_the_payload_json_object(payload, metadata):
    data = sample("open")
    data["Payload"] = payload
    [event] = tracking_events(data)
    assert event.metadata == metadata
    assert event.esp_event["Payload"] == payload


def test_deeply_nested_json_is_malformed_not_a_crash(webhook_client):
    """JSON nested beyond Python's recursion limit: a 400, like any unreadable body
    (never the retry answer, which would have Mailjet resend it for a day)."""
    body = "[" * 100_000 + "]" * 100_000
    response, signals = webhook_client.post(TRACKING, body, content_type="application/json")
    assert (response.status_code, signals) == (400, [])
    event = sample("open")
    event["Payload"] = "[" * 100_000 + "]" * 100_000  # unreadable metadata: left out
    [converted] = tracking_events(event)
    assert converted.metadata == {}


def test_inbound_spam_score_that_isnt_a_float_is_left_out():
    data = sample("inbound")
    data["SpamAssassinScore"] = 10**400
    [event] = inbound_events(data)
    assert event.message.spam_score is None


def test_message_id_keeps_every_digit():
    body = '{"event": "sent", "time": 1433333949, "MessageID": 288230376151711749}'
    [event] = tracking_events(json.loads(body))
    assert event.message_id == "288230376151711749"


def test_events_match_what_the_backend_sent(webhook_client, settings):
    """message_id, metadata and tags round-trip: the send's anymail_status and the
    EventPayload / CustomCampaign it posted (Send API v3.1) come back on the events."""
    with FakeESPServer(FakeMailjetAPI(first_id=288230376151711749)) as server:
        settings.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "MAILJET_API_KEY": "key",
            "MAILJET_SECRET_KEY": "secret",
            "MAILJET_API_URL": f"{server.url}/v3.1",
        }
        message = AnymailMessage(
            "Subject", "Body", "from@example.com", ["to@example.com"],
            metadata={"order": "1001", "tier": "Gold Ü"}, tags=["receipt"],
        )  # fmt: skip
        message.send()
        [sent] = server.requests[0].json()["Messages"]
    assert message.anymail_status.message_id == "288230376151711749"
    event = sample("open")
    event.update(
        MessageID=int(message.anymail_status.message_id),
        customcampaign=sent["CustomCampaign"],
        Payload=sent["EventPayload"],
    )
    _response, [signal] = webhook_client.post(TRACKING, event)
    assert signal.event.message_id == message.anymail_status.message_id
    assert signal.event.metadata == message.metadata
    assert signal.event.tags == message.tags


def test_tracking_events_is_a_pure_function_of_the_payload():
    events = tracking_events(sample("grouped_sent_batch"))
    assert [e.message_id for e in events] == [
        "18858825588804172",
        "18858825588803684",
        "18014400413866302",
        "18858825588804459",
    ]
    assert all(e.tags == ["test"] for e in events)
    assert events[0].timestamp.isoformat() == "2015-02-25T14:18:58+00:00"


def test_inbound_posted_to_tracking_url_explains(webhook_client):
    response, signals = webhook_client.post(TRACKING, sample("inbound"))
    assert response.status_code == 400
    assert b"/anymail/mailjet/inbound/" in response.content
    assert signals == []


# --- inbound ---


def test_tracking_posted_to_inbound_url_explains(webhook_client):
    for body in (sample("sent"), sample("grouped_sent_batch")):
        response, signals = webhook_client.post(INBOUND, body)
        assert response.status_code == 400
        assert b"/anymail/mailjet/tracking/" in response.content
        assert signals == []


def test_inbound_message_has_headers_envelope_and_spam_score(webhook_client):
    response, [signal] = webhook_client.post(INBOUND, sample("inbound_with_attachment"))
    assert response.status_code == 200
    assert signal.signal == "inbound"
    event = signal.event
    assert (event.event_type, event.timestamp) == ("inbound", None)
    assert event.event_id == event_digest(sample("inbound_with_attachment"))
    assert event.esp_event == sample("inbound_with_attachment")
    message = event.message
    assert message["Message-ID"] == (
        "<CAE5Zh0ZpHZ6G5DC+He5426a4RkVab7uWaTDwiMcHzOR=YB3urA@mail.gmail.com>"
    )
    assert message.get_all("Received") == [
        "by 10.107.134.160 with HTTP; Fri, 10 Apr 2015 09:06:38 -0700 (PDT)"
    ]
    assert (message.envelope_sender, message.envelope_recipient) == (
        "pilot@mailjet.com",
        "passenger@mailjet.com",
    )
    assert message.spam_score == 0.602
    [attachment] = message.attachments
    assert attachment.get_content_text() == "Hello World!"
    assert attachment.get_content_charset() == "utf-8"


def test_inbound_inline_image_is_keyed_by_its_cid():
    [event] = inbound_events(sample("derived_inbound_inline_image"))
    message = event.message
    assert message.attachments == []
    image = message.inline_attachments["ii_logo@mail.gmail.com"]
    assert image.get_content_type() == "image/png"
    assert image.get_filename() == "logo.png"
    assert image.get_content_bytes() == base64.b64decode(
        sample("derived_inbound_inline_image")["Attachment1"]
    )
    assert "cid:ii_logo@mail.gmail.com" in message.html


def test_inbound_attachment_with_encoded_filename_and_no_content_type():
    data = sample("inbound")
    data["Parts"].append(
        {
            "Headers": {"Content-Disposition": "attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf"},
            "ContentRef": "Attachment1",
        }
    )
    data["Attachment1"] = base64.b64encode(b"%PDF-1.4").decode()
    [event] = inbound_events(data)
    [attachment] = event.message.attachments
    assert attachment.get_filename() == "Résumé.pdf"
    assert attachment.get_content_type() == "application/octet-stream"
    assert attachment.get_content_bytes() == b"%PDF-1.4"


def test_inbound_without_spam_score_or_envelope():
    data = sample("inbound")
    for key in ("SpamAssassinScore", "Sender", "Recipient"):
        del data[key]
    [event] = inbound_events(data)
    assert event.message.spam_score is None
    assert event.message.envelope_sender is None
    assert event.message.subject == "Hey! It's Friday!"


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data.pop("Parts"),
        lambda data: data.pop("Headers"),
        lambda data: data.pop("Text-part"),  # a part refers to it
        lambda data: data["Parts"].append({"Headers": {}}),  # no ContentRef
        lambda data: data.update(
            Parts=[*data["Parts"], {"ContentRef": "Attachment1"}], Attachment1="not base64!"
        ),
        lambda data: data.update(From=["someone@example.com"]),  # not a string
        lambda data: data.update(Subject={"text": "Hi"}),
    ],
)
def test_malformed_inbound_is_refused_with_400(webhook_client, change):
    data = sample("inbound")
    change(data)
    response, signals = webhook_client.post(INBOUND, data)
    assert response.status_code == 400
    assert signals == []
