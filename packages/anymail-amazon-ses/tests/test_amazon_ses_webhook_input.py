"""What the SES webhooks do with input SES never sends (issue 11) and with what it
does send (issue 12): every answer is 2xx or 4xx, a 4xx sends no signal, the events
carry the documented types, and replayed or stale SNS messages are not signalled."""

import datetime as dt
import json

import pytest
from django.test import Client

from anymail.conformance.amazon_ses import profile as profile_module_
from anymail.esps.amazon_ses import ESP
from anymail.exceptions import AnymailConfigurationError
from anymail.testing import SignalCapture
from anymail.webhooks.amazon_ses import (
    DEFAULT_SNS_MAX_AGE,
    subscription_event_type,
    tracking_events,
)

from .test_amazon_ses_webhooks import AUTH, TRACKING, fixture_message

pytestmark = pytest.mark.usefixtures("webhook_secret")


def fresh(name):
    return profile_module_.fresh(fixture_message(name))


def raw_post(body, url=TRACKING, headers=None):
    """Post ``body`` as SNS would; a 500 comes back as a response, not an exception."""
    client = Client(raise_request_exception=False)
    with SignalCapture() as capture:
        response = client.post(
            url,
            body,
            content_type="text/plain; charset=UTF-8",
            headers={**AUTH, **(headers or {})},
        )
    return response, capture.events


def post_message(message, url=TRACKING):
    request = profile_module_.sns_request(message)
    return raw_post(request.body, url, request.headers)


def with_ses_event(message, change):
    """A copy of an SNS notification whose SES event ``change(event)`` modified."""
    ses_event = json.loads(message["Message"])
    change(ses_event)
    return {**message, "Message": json.dumps(ses_event)}


def assert_refused(response, events):
    assert response.status_code == 400, (response.status_code, response.content)
    assert events == []


# --------------------------------------------------------------------- malformed SNS


def test_deeply_nested_body_is_400():
    assert_refused(*raw_post("[" * 100000))


def test_deeply_nested_message_is_400(sns_signer):
    message = {**fresh("event_send"), "Message": "[" * 100000}
    assert_refused(*post_message(sns_signer.sign(message)))


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.us-east-1.amazonaws.com:abc/x.pem",
        "https://[::1/x.pem",
        "https://[::1]:99999/x",
    ],
)
def test_malformed_cert_url_is_400(sns_signer, cert_url):
    before = sns_signer.fetches
    assert_refused(*post_message(sns_signer.sign(fresh("event_send"), cert_url=cert_url)))
    assert sns_signer.fetches == before


@pytest.mark.parametrize(
    "change",
    [
        {"Type": []},
        {"Type": 1},
        {"TopicArn": []},
        {"MessageId": {"a": 1}},
        {"Timestamp": 12},
        {"Timestamp": "not a time"},
        {"Message": ["a"]},
        {"SignatureVersion": 1},
        {"Signature": []},
        {"SigningCertURL": ["https://sns.us-east-1.amazonaws.com/x.pem"]},
    ],
    ids=lambda change: f"{next(iter(change))}={next(iter(change.values()))!r}",
)
def test_wrong_json_types_in_the_sns_message_are_400(sns_signer, settings, change):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_TOPIC_ARNS": ["arn:x"]}
    message = {**sns_signer.sign(fresh("event_send")), **change}
    request = profile_module_.sns_request(message)
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-sns-message-type"}
    assert_refused(*raw_post(request.body, headers=headers))


def test_wrong_topic_arn_type_with_allow_list_is_400(sns_signer, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_TOPIC_ARNS": ["arn:x"]}
    message = {"Type": "Notification", "TopicArn": [], "MessageId": "x", "Message": "{}"}
    assert_refused(*raw_post(json.dumps(message)))


@pytest.mark.parametrize("field", ["Message", "TopicArn", "MessageId", "Subject", "Type"])
def test_lone_surrogate_in_a_signed_field_is_400(sns_signer, field):
    message = sns_signer.sign(fresh("event_send"))
    message[field] = "\ud800" if field != "Message" else message["Message"] + "\ud800"
    body = json.dumps(message)  # json escapes the surrogate: "\ud800"
    assert_refused(*raw_post(body))


def test_lone_surrogate_without_verification_is_not_a_500(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_VERIFY_SIGNATURES": False}
    message = with_ses_event(
        fresh("event_send"), lambda e: e["mail"].update(destination=["\ud800@example.com"])
    )
    response, _events = raw_post(json.dumps(message))
    assert response.status_code in (200, 400)


# --------------------------------------------------------------------- wrong SES types


def test_string_destination_is_refused_not_iterated(sns_signer):
    message = with_ses_event(
        fresh("event_send"), lambda e: e["mail"].update(destination="alice@example.com")
    )
    assert_refused(*post_message(sns_signer.sign(message)))


def test_huge_string_destination_is_one_400_not_a_million_signals(sns_signer):
    message = with_ses_event(
        fresh("event_send"), lambda e: e["mail"].update(destination="a" * 10**6)
    )
    assert_refused(*post_message(sns_signer.sign(message)))


def test_more_recipients_than_ses_sends_is_refused(sns_signer):
    addresses = [f"r{n}@example.com" for n in range(2000)]
    message = with_ses_event(fresh("event_send"), lambda e: e["mail"].update(destination=addresses))
    assert_refused(*post_message(sns_signer.sign(message)))


def _set(path, value):
    def change(ses_event):
        node = ses_event
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("fixture", "path", "value"),
    [
        ("event_send", ["mail", "destination"], [{"a": 1}]),
        ("event_send", ["mail", "destination"], [["x@example.com"]]),
        ("event_send", ["mail", "destination"], [7]),
        ("event_send", ["mail", "destination"], ["x@example.com", None]),
        # more recipients than SES ever names (it sends to at most 50)
        ("event_send", ["mail", "destination"], ["x@example.com"] * 1001),
        (
            "event_bounce",
            ["bounce", "bouncedRecipients"],
            [{"emailAddress": "x@example.com"}] * 1001,
        ),
        ("event_send", ["mail", "destination"], {"to": "x@example.com"}),
        ("event_send", ["mail", "messageId"], 12),
        ("event_send", ["mail", "timestamp"], 1234567890),
        ("event_send", ["mail"], "mail"),
        ("event_send", ["mail", "headers"], "X-Tag: a"),
        ("event_send", ["mail", "headers"], [["X-Tag", "a"]]),
        ("event_send", ["mail", "headers", 6, "value"], 5),
        ("event_send", ["eventType"], ["Send"]),
        ("event_bounce", ["bounce", "bouncedRecipients"], "recipient@example.com"),
        ("event_bounce", ["bounce", "bouncedRecipients", 0], "recipient@example.com"),
        ("event_bounce", ["bounce", "bouncedRecipients", 0, "emailAddress"], {"a": 1}),
        ("event_bounce", ["bounce", "bounceType"], 5),
        ("event_bounce", ["bounce", "timestamp"], "yesterday"),
        ("event_delivery", ["delivery", "recipients"], "recipient@example.com"),
        ("event_delivery", ["delivery", "smtpResponse"], 250),
        ("event_complaint", ["complaint", "complainedRecipients", 0, "emailAddress"], 1),
        ("event_click", ["click", "link"], ["http://example.com"]),
        ("event_open", ["open", "userAgent"], {"ua": 1}),
        ("event_subscription", ["subscription", "newTopicPreferences"], "OptOut"),
        ("inbound_sns_action", ["content"], ["From: a@example.com"]),
        ("inbound_sns_action", ["content"], ""),
        ("inbound_sns_action", ["receipt", "recipients"], "recipient@example.com"),
    ],
)
def test_wrong_json_types_in_the_ses_event_are_400(sns_signer, fixture, path, value):
    url = "/anymail/amazon_ses/inbound/" if fixture.startswith("inbound") else TRACKING
    message = with_ses_event(fresh(fixture), _set(path, value))
    assert_refused(*post_message(sns_signer.sign(message), url=url))


def test_non_string_tags_from_the_message_tag_are_400(sns_signer, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_MESSAGE_TAG_NAME": "myCustomTag1"}
    ok = fresh("event_delivery")  # no X-Tag headers: tags come from mail.tags
    response, events = post_message(sns_signer.sign(ok))
    assert response.status_code == 200
    assert events[0].tags == ["myCustomTagValue1"]
    bad = with_ses_event(fresh("event_delivery"), _set(["mail", "tags", "myCustomTag1"], [1]))
    assert_refused(*post_message(sns_signer.sign(bad)))


# --------------------------------------------------------------------- age and replays


def test_message_older_than_max_age_is_refused(sns_signer, settings):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=DEFAULT_SNS_MAX_AGE + 60)
    message = {**fresh("event_send"), "Timestamp": profile_module_.sns_timestamp(old)}
    assert_refused(*post_message(sns_signer.sign(message)))
    # a message signed years ago (the fixture's own Timestamp, 2012)
    stale = {**fresh("event_send"), "Timestamp": fixture_message("event_send")["Timestamp"]}
    assert_refused(*post_message(sns_signer.sign(stale)))
    # the setting moves the limit
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_MAX_AGE": DEFAULT_SNS_MAX_AGE + 600}
    response, events = post_message(sns_signer.sign(message))
    assert response.status_code == 200
    assert len(events) == 1


def test_message_within_max_age_is_accepted(sns_signer):
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=DEFAULT_SNS_MAX_AGE - 120)
    message = {**fresh("event_send"), "Timestamp": profile_module_.sns_timestamp(recent)}
    response, events = post_message(sns_signer.sign(message))
    assert response.status_code == 200
    assert len(events) == 1


def test_default_max_age_covers_sns_retries():
    # SNS stops retrying an HTTP/S delivery within 3,600 seconds (its hard limit)
    assert 3600 < DEFAULT_SNS_MAX_AGE <= 2 * 3600


def test_retry_declaration_fits_sns():
    """SNS retries only a 5xx (any 4xx is final), for at most 3,600 seconds: handled
    events are remembered at least that long, and no message the age check lets
    through is older than that plus the clock-skew margin."""
    assert 500 <= ESP.webhook_retry_status <= 599
    assert ESP.webhook_retry_window >= 3600
    assert ESP.webhook_retry_window <= DEFAULT_SNS_MAX_AGE
    assert ESP.webhook_retry_docs.startswith("https://docs.aws.amazon.com/sns/")


@pytest.mark.parametrize("value", [0, -5, "3600", True])
def test_invalid_max_age_setting(settings, sns_signer, caplog, value):
    """A wrong setting is a fault on our side: each post gets the retry answer (SNS
    redelivers once it's fixed), and the log names the setting."""
    from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView

    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_MAX_AGE": value}
    view = AmazonSESTrackingWebhookView()
    assert isinstance(view.configuration_error, AnymailConfigurationError)
    assert "AMAZON_SES_SNS_MAX_AGE" in str(view.configuration_error)
    response, events = post_message(sns_signer.sign(fresh("event_send")))
    assert response.status_code == ESP.webhook_retry_status
    assert events == []
    assert "AMAZON_SES_SNS_MAX_AGE" in caplog.text


def test_max_age_none_turns_off_the_age_check(sns_signer, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_MAX_AGE": None}
    stale = {**fresh("event_send"), "Timestamp": "2012-05-02T00:54:06.655Z"}
    response, events = post_message(sns_signer.sign(stale))
    assert response.status_code == 200
    assert len(events) == 1


def test_replayed_message_id_is_not_signalled_twice(sns_signer):
    message = sns_signer.sign(fresh("event_send"))
    first, first_events = post_message(message)
    assert first.status_code == 200
    assert len(first_events) == 1
    for _ in range(3):
        again, again_events = post_message(message)
        assert 200 <= again.status_code < 500
        assert again_events == []


def test_same_message_id_with_a_new_signature_is_still_a_replay(sns_signer):
    message = fresh("event_send")
    post_message(sns_signer.sign(message))
    resent = {**message, "Timestamp": profile_module_.sns_timestamp()}
    _response, events = post_message(sns_signer.sign(resent))
    assert events == []


def test_event_id_is_the_sns_message_id(sns_signer):
    message = fresh("event_send")
    _response, events = post_message(sns_signer.sign(message))
    assert [event.event_id for event in events] == [message["MessageId"]]


def test_each_recipient_event_has_its_own_stable_event_id(sns_signer):
    """A notification naming several recipients becomes one event per recipient:
    each event_id is the SNS MessageId and the recipient's position, the same on
    every redelivery (SNS keeps the MessageId and the Message)."""
    message = fresh("notification_bounce_no_dsn")
    response, events = post_message(sns_signer.sign(message))
    assert response.status_code == 200
    message_id = message["MessageId"]
    assert [(event.recipient, event.event_id) for event in events] == [
        ("jane@example.com", f"{message_id}:1"),
        ("richard@example.com", f"{message_id}:2"),
    ]
    again = tracking_events(json.loads(message["Message"]), message)
    assert [event.event_id for event in again] == [event.event_id for event in events]


def test_receiver_failure_is_retried_and_only_unhandled_events_are_resignalled(sns_signer):
    """A receiver that raises is a fault on our side: SNS gets the retry answer
    (it retries only a 5xx), and its redelivery signals only the recipients whose
    events weren't handled; a further redelivery is acknowledged, not signalled."""
    from anymail.signals import tracking

    seen = []

    def receiver(sender, event, esp_name, **kwargs):
        seen.append(event.recipient)
        if event.recipient == "richard@example.com" and seen.count(event.recipient) == 1:
            raise RuntimeError("database down")

    message = sns_signer.sign(fresh("notification_bounce_no_dsn"))
    tracking.connect(receiver)
    try:
        first, _ = post_message(message)
        assert first.status_code == ESP.webhook_retry_status == 503
        assert first["Retry-After"]
        retry, _ = post_message(message)
        assert retry.status_code == 200
        again, _ = post_message(message)
        assert 200 <= again.status_code < 300
    finally:
        tracking.disconnect(receiver)
    assert seen == ["jane@example.com", "richard@example.com", "richard@example.com"]


# --------------------------------------------------------------------- certificate fetch


def test_certificate_fetch_failure_is_a_5xx_and_sns_retry_succeeds(sns_signer):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    message = fresh("event_send")
    unreachable = sns_signer.sign(message, cert_url=f"https://127.0.0.1:{closed}/cert.pem")
    response, events = post_message(unreachable)
    assert response.status_code == 503
    assert events == []
    # SNS retries the same message (same MessageId): it isn't taken for a replay
    response, events = post_message(sns_signer.sign(message))
    assert response.status_code == 200
    assert len(events) == 1


def test_certificate_url_that_names_no_certificate_is_400(sns_signer):
    missing = f"https://127.0.0.1:{sns_signer.port}/SimpleNotificationService-missing.pem"
    assert_refused(*post_message(sns_signer.sign(fresh("event_send"), cert_url=missing)))


# --------------------------------------------------------------------- conversion details


def test_complaint_is_spam():
    message = fresh("notification_complaint")
    (event,) = tracking_events(json.loads(message["Message"]), message)
    assert event.reject_reason == "spam"


def test_event_without_a_timestamp_of_its_own_uses_the_sns_timestamp():
    message = fresh("event_send")
    ses_event = json.loads(message["Message"])
    del ses_event["mail"]["timestamp"]
    (event,) = tracking_events(ses_event, message)
    assert event.timestamp == dt.datetime.fromisoformat(message["Timestamp"])
    assert event.timestamp is not None


def test_inbound_without_mail_timestamp_uses_the_sns_timestamp(sns_signer):
    message = with_ses_event(fresh("inbound_sns_action"), lambda e: e["mail"].pop("timestamp"))
    response, events = post_message(sns_signer.sign(message), url="/anymail/amazon_ses/inbound/")
    assert response.status_code == 200
    assert events[0].timestamp == dt.datetime.fromisoformat(message["Timestamp"])


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ({"unsubscribeAll": True}, {"unsubscribeAll": False}, "unsubscribed"),
        ({"unsubscribeAll": False}, {"unsubscribeAll": True}, "subscribed"),
        (
            {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": "news", "subscriptionStatus": "OptOut"}]},
            {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": "news", "subscriptionStatus": "OptIn"}]},
            "unsubscribed",
        ),
        (
            {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": "news", "subscriptionStatus": "OptIn"}]},
            {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": "news", "subscriptionStatus": "OptOut"}]},
            "subscribed",
        ),
    ],
)  # fmt: skip
def test_subscription_event_type(new, old, expected):
    subscription = {"newTopicPreferences": new, "oldTopicPreferences": old}
    assert subscription_event_type(subscription) == expected


def test_description_declares_signed_webhooks_and_no_required_setting():
    assert ESP.signed_webhooks is True
    assert ESP.required_settings == ()
    assert ESP.webhook_required_settings == ()
    assert "AMAZON_SES_SNS_MAX_AGE" in ESP.settings
    assert {"subscribed", "unsubscribed"} <= {str(t) for t in ESP.event_types}


def test_readme_local_trial_notification(settings):
    """The README's "Trying it locally" notification (unsigned, verification off)."""
    import uuid

    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_VERIFY_SIGNATURES": False}
    ses_event = {
        "eventType": "Delivery",
        "mail": {
            "messageId": "test-1",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "destination": ["to@example.org"],
        },
        "delivery": {"recipients": ["to@example.org"]},
    }
    message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Timestamp": profile_module_.sns_timestamp(),
        "Message": json.dumps(ses_event),
    }
    response, events = raw_post(
        json.dumps(message), headers={"x-amz-sns-message-type": "Notification"}
    )
    assert response.status_code == 200
    assert [(e.event_type, e.recipient) for e in events] == [("delivered", "to@example.org")]
