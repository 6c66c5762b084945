"""Mandrill's combined webhook through the real URLs: every conformance fixture, the
signature (URL forms, proxies, key lists), replays, the URL check, tracking and
inbound events in one batch, and the pure converters."""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from anymail.conformance.mandrill.profile import PROFILE, WEBHOOK_KEY
from anymail.esps.mandrill import ESP
from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.webhooks.mandrill import (
    inbound_events,
    sign,
    tracking_events,
    webhook_events,
)
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
#: A batch with the X-Mandrill-Signature Mandrill really sent, and the key and URL it signed.
SIGNED_SAMPLE = FIXTURES["click_signed_sample"].data
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


def assert_retry_answer(response):
    """A fault on our side: the answer Mandrill retries (its declared retry status)."""
    assert response.status_code == ESP.webhook_retry_status == 503, response.content
    assert response["Retry-After"]


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
    params = list(SIGNED_SAMPLE["request"]["form"].items())
    key, url = SIGNED_SAMPLE["signed_with"]["webhook_key"], SIGNED_SAMPLE["signed_with"]["url"]
    signature = SIGNED_SAMPLE["request"]["headers"]["X-Mandrill-Signature"]
    assert sign(key, url, params) == signature
    assert sign("other-key", url, params) != signature


def test_the_view_accepts_a_real_mandrill_signature(webhook_client, settings):
    # The request as Mandrill sent it, unchanged: its key, and its URL as the one signed.
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MANDRILL_WEBHOOK_KEY": SIGNED_SAMPLE["signed_with"]["webhook_key"],
        "MANDRILL_WEBHOOK_URL": SIGNED_SAMPLE["signed_with"]["url"],
    }
    request = SIGNED_SAMPLE["request"]
    response, signals = webhook_client.post(
        "anymail:mandrill_webhook",
        urlencode(request["form"]),
        "application/x-www-form-urlencoded",
        request["headers"],
    )
    assert response.status_code == 200, response.content
    assert [s.event.event_type for s in signals] == ["clicked", "clicked"]


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


def test_bad_key_setting_type(settings, webhook_client, caplog):
    # A setting error is a fault on our side: Mandrill gets the retry answer and keeps
    # the batch until the setting is fixed; the log names the setting.
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_WEBHOOK_KEY": 1234}
    response, signals = post(webhook_client, events_of("send_sent"))
    assert_retry_answer(response)
    assert signals == []
    assert "MANDRILL_WEBHOOK_KEY must be a key string or a list of them" in caplog.text


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
    events = events_of("soft_bounce_bounced")
    with BrokenReceiver():
        assert_retry_answer(post(webhook_client, events)[0])
    response, signals = post(webhook_client, events)  # Mandrill's retry
    assert response.status_code == 200
    assert len(signals) == 1


def test_a_retried_batch_signals_only_the_events_not_yet_handled(webhook_client):
    # Mandrill gives events no id: each gets the digest of its raw event, the same in
    # every redelivery, so Mandrill's retry of a half-handled batch signals the rest.
    batch = [*events_of("send_sent"), *events_of("open_opened")]
    with BrokenReceiver(lambda event: event.event_type == "opened") as receiver:
        assert_retry_answer(post(webhook_client, batch)[0])
    assert [event.event_type for event in receiver.events] == ["sent", "opened"]
    response, signals = post(webhook_client, batch)  # Mandrill's retry
    assert response.status_code == 200
    assert [s.event.event_type for s in signals] == ["opened"]
    assert signals[0].event.event_id.startswith("sha256:")


def test_retry_declaration_covers_mandrills_retries():
    # Up to 20 retries, 15-25 minutes apart (Mailchimp's release note, 17 June 2024):
    # handled events must be remembered at least that long.
    assert ESP.webhook_retry_window >= 20 * 25 * 60
    assert 500 <= ESP.webhook_retry_status <= 599
    assert ESP.webhook_retry_docs.startswith("https://mailchimp.com/developer/")


# --- URL checks and a missing key ---


def test_head_checks_basic_auth(client):
    assert client.head("/anymail/mandrill/").status_code == 400
    assert client.head("/anymail/mandrill/tracking/").status_code == 400


def test_before_the_key_is_set(webhook_client, settings, caplog):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    # Mandrill's URL check: HEAD, or (if that fails) an empty batch signed "test-webhook".
    response = webhook_client.client.head(
        "/anymail/mandrill/", headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 200
    response, signals = post(webhook_client, [], key="test-webhook")
    assert response.status_code == 200
    assert signals == []
    # Anything else is a configuration error (a fault on our side: Mandrill retries later).
    response, signals = post(webhook_client, events_of("send_sent"), key="test-webhook")
    assert_retry_answer(response)
    assert signals == []
    assert "MANDRILL_WEBHOOK_KEY" in caplog.text


def test_missing_key_gets_the_retry_answer_not_a_400(settings):
    settings.ANYMAIL = {}
    value = json.dumps(events_of("send_sent"))
    response = Client(raise_request_exception=False).post(
        "/anymail/mandrill/",
        urlencode({"mandrill_events": value}),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Mandrill-Signature": sign("k", COMBINED_URL, [("mandrill_events", value)])},
    )
    assert_retry_answer(response)


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
def test_djrill_webhook_settings_refused_with_migration_advice(
    settings, webhook_client, caplog, setting, advice
):
    setattr(settings, setting, "anything")
    response, signals = post(webhook_client, events_of("send_sent"))
    assert_retry_answer(response)  # Mandrill keeps the batch until the setting is gone
    assert signals == []
    assert setting in caplog.text
    assert advice in caplog.text


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
    [
        "{not json",
        '{"event": "send"}',
        '["a string"]',
        '[{"event": "send", "ts": "not-a-time"}]',
        # wrong types where the converter used to fail with TypeError/OverflowError
        '[{"event": "send", "ts": [1]}]',
        '[{"event": "send", "ts": {"a": 1}}]',
        '[{"event": "send", "ts": 1e400}]',
        '[{"event": "send", "ts": 100000000000000000000}]',
        '[{"event": "inbound", "ts": 1, "msg": {"attachments": {"a": {"content": 5}}}}]',
    ],
)
def test_malformed_batches_are_400(webhook_client, value):
    response, signals = post(webhook_client, value)
    assert response.status_code == 400, response.content
    assert signals == []


@pytest.mark.parametrize(
    ("value", "attribute", "expected"),
    [
        ('[{"event": "deferral", "ts": 1, "msg": {"smtp_events": 5}}]', "mta_response", None),
        ('[{"event": "send", "ts": 1, "msg": {"metadata": [1], "tags": "x"}}]', "tags", []),
        ('[{"event": "inbound", "ts": 1, "msg": {"to": 5, "subject": "Hi"}}]', "message.to", []),
    ],
)
def test_optional_fields_of_the_wrong_type_are_left_out(webhook_client, value, attribute, expected):
    # Like a missing metadata or tags: the event still comes through (these used to
    # fail with a TypeError, which is now answered as a fault of ours).
    response, signals = post(webhook_client, value)
    assert response.status_code == 200, response.content
    [signal] = signals
    owner, _, name = attribute.rpartition(".")
    target = getattr(signal.event, owner) if owner else signal.event
    assert getattr(target, name) == expected


DEEP_UNBALANCED = "[" * 3000
DEEP_BALANCED = "[" * 1000 + "]" * 1000
DEEP_IN_AN_EVENT = (
    '[{"event": "send", "ts": 1, "msg": {"email": "a@example.com", "metadata": {"a": '
    + "[" * 1000
    + "]" * 1000
    + "}}}]"
)


@pytest.mark.parametrize(
    "key", [WEBHOOK_KEY, "not-the-webhook-key"], ids=["signed", "bad-signature"]
)
@pytest.mark.parametrize(
    "value", [DEEP_UNBALANCED, DEEP_BALANCED, DEEP_IN_AN_EVENT], ids=["3000", "1000", "in-event"]
)
def test_deeply_nested_batches_are_400(settings, key, value):
    # Issue #23: the JSON parser's RecursionError was a 500 (the URL-check probe caught
    # only ValueError). Signed or not, it is a malformed payload: 400, nothing signalled.
    from anymail.testing import WebhookClient

    client = WebhookClient(Client(raise_request_exception=False), basic_auth="user:pass")
    response, signals = post(client, value, key=key)
    assert response.status_code == 400, response.content
    assert signals == []


def test_nesting_deeper_than_the_limit_is_400_even_where_it_parses(webhook_client):
    # A batch nested 200 levels deep parses, but no Mandrill payload nests like that,
    # and code after the parser (the event digest, receivers) recurses over it.
    nested = json.loads("[" * 200 + "]" * 200)
    events = events_of("send_sent")
    events[0]["msg"]["metadata"] = {"deep": nested}
    response, signals = post(webhook_client, events)
    assert response.status_code == 400
    assert signals == []
    # ... while Mandrill's own nesting (an inbound message's spam report, say) is fine
    response, signals = post(webhook_client, events_of("inbound_text_attachment"))
    assert response.status_code == 200
    assert len(signals) == 1


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
    assert blacklist_add.message_id is None


def test_sync_event_description_is_the_sync_reason():
    # Issue #23: a denylist entry's reason ("hard-bounce", a manual edit, ...) is the
    # event's description; an allowlist entry has no reason, only the user's note.
    blacklist = tracking_events(events_of("sync_blacklist_unknown"))
    assert [event.description for event in blacklist] == ["hard-bounce"] * 3
    whitelist = tracking_events(events_of("sync_whitelist_unknown"))
    assert [event.description for event in whitelist] == ["example details"] * 2
    [manual] = tracking_events(
        [
            {
                "type": "blacklist",
                "action": "add",
                "ts": 1420303407,
                "reject": {"email": "someone@example.com", "reason": "manual edit"},
            }
        ]
    )
    assert manual.description == "manual edit"
    assert manual.recipient == "someone@example.com"


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
    [event] = inbound_events([{"event": "inbound", "ts": 1360822567, "msg": msg}])
    message = event.message
    assert str(message.from_email) == "From Person <from@example.com>"
    assert [str(a) for a in message.to] == ["inbox@example.com", "Other <other@example.com>"]
    assert message.subject == "Fields only"
    assert message.text == "Hello\n"
    assert message.get_all("X-Thing") == ["one", "two"]
    [attachment] = message.attachments
    assert attachment.get_content_bytes() == b"ABC"
    assert list(message.inline_attachments) == ["logo.png"]
    assert event.message.envelope_recipient == "inbox@example.com"
    assert event.message.spam_score is None
