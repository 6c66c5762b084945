"""Mailgun's webhooks through the real URLs: every conformance fixture, signatures,
replay protection, payloads posted to the wrong URL, and the pure converters."""

import hashlib
import hmac
import json
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from anymail.conformance.mailgun.profile import PROFILE, WEBHOOK_SIGNING_KEY
from anymail.esps.mailgun import ESP, EVENT_TYPES
from anymail.exceptions import AnymailConfigurationError
from anymail.webhooks.mailgun import (
    DEFAULT_TIMESTAMP_TOLERANCE,
    inbound_events,
    tracking_events,
)
from anymail_conformance import WebhookFixtureTests
from anymail_conformance.package_checks import BrokenReceiver, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
KEY = WEBHOOK_SIGNING_KEY


class TestMailgunFixtures(WebhookFixtureTests):
    esp_id = "mailgun"


@pytest.fixture(autouse=True)
def signing_key(settings, webhook_secret):
    settings.ANYMAIL = {**settings.ANYMAIL, **PROFILE.webhook_settings()}


def post(webhook_client, fixture, prepared=None):
    prepared = prepared or PROFILE.prepare_webhook(fixture["request"])
    return webhook_client.post(
        f"anymail:mailgun_{fixture['webhook']}",
        prepared.body,
        prepared.content_type,
        prepared.headers,
    )


def load(name):
    return FIXTURES[name].data


def signed(fixture, timestamp, token, key=KEY):
    data = json.loads(json.dumps(fixture["request"]["json"]))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data["signature"] = {"timestamp": str(timestamp), "token": token, "signature": signature}
    return data


def test_event_id_is_the_token(webhook_client):
    data = signed(load("current_delivered"), int(time.time()), "t" * 50)
    _response, [signal] = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert signal.event.event_id == "t" * 50
    assert signal.event.esp_event["event-data"]["id"] == "MXcc2gEpS-eN8HfkOnmK2w"


@pytest.mark.parametrize("key", ["wrong-key", None])
def test_bad_or_missing_signature_rejected(webhook_client, key):
    data = signed(load("current_delivered"), int(time.time()), "a" * 50, key=key or KEY)
    if key is None:
        del data["signature"]
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 400
    assert signals == []


def test_reused_token_sends_no_second_signal(webhook_client):
    """A replay (or Mailgun's duplicate delivery) never reaches receivers twice. (Whether
    it is acknowledged or refused is anymail-base's replay protection's to decide.)"""
    data = signed(load("current_delivered"), int(time.time()), "r" * 50)
    assert webhook_client.post("anymail:mailgun_tracking_webhook", data)[0].status_code == 200
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code in (200, 400)
    assert signals == []


def test_stale_timestamp_rejected(webhook_client):
    data = signed(load("current_delivered"), int(time.time()) - 10 * 3600, "s" * 50)
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 400
    assert signals == []


def test_signing_key_falls_back_to_api_key(webhook_client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", "MAILGUN_API_KEY": KEY}
    data = signed(load("current_delivered"), int(time.time()), "f" * 50)
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == 200
    assert len(signals) == 1


def test_signing_key_may_be_a_list_to_rotate_it(webhook_client, settings):
    """With the new key listed beside the old, a post signed with either is accepted
    (no webhook is lost while Mailgun switches keys); one signed with neither isn't."""
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": ["new-key", KEY]}
    for key, token, accepted in (("new-key", "n", True), (KEY, "o", True), ("other", "x", False)):
        data = signed(load("current_delivered"), int(time.time()), token * 50, key=key)
        response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
        assert response.status_code == (200 if accepted else 400), key
        assert len(signals) == (1 if accepted else 0), key


def test_signing_key_that_is_not_text_is_a_configuration_error(webhook_client, settings, caplog):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": b"bytes-key"}
    data = signed(load("current_delivered"), int(time.time()), "b" * 50, key="bytes-key")
    response, signals = webhook_client.post("anymail:mailgun_tracking_webhook", data)
    assert response.status_code == ESP.webhook_retry_status
    assert signals == []
    [error] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(error, AnymailConfigurationError)
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in str(error)


def test_wrong_url_explains(webhook_client):
    fixture = load("wrong_url_tracking_at_inbound")
    response, signals = post(webhook_client, fixture)
    assert response.status_code == 400
    assert signals == []
    assert b"/anymail/mailgun/tracking/" in response.content
    fixture = load("wrong_url_inbound_at_tracking")
    response, signals = post(webhook_client, fixture)
    assert response.status_code == 400
    assert b"/anymail/mailgun/inbound/" in response.content


def test_tracking_events_is_a_pure_function_of_the_payload():
    """The converter needs no request: tests (and tools) can call it directly."""
    payload = load("current_delivered")["request"]["json"]
    [event] = tracking_events(payload)
    assert event.event_type == "delivered"
    assert event.recipient == "recipient@sample.mailgun.com"
    assert event.event_id == payload["signature"]["token"]

    legacy = QueryDict(mutable=True)
    legacy.update({"event": "opened", "recipient": "bob@example.com", "timestamp": "1700000000"})
    legacy.update({"token": "t" * 50, "signature": "unchecked-here", "order": "1001"})
    [event] = tracking_events(legacy)
    assert (event.event_type, event.recipient, event.metadata) == (
        "opened",
        "bob@example.com",
        {"order": "1001"},
    )
    assert event.timestamp.isoformat() == "2023-11-14T22:13:20+00:00"


TRACKING = "anymail:mailgun_tracking_webhook"
README = Path(__file__).resolve().parents[1] / "README.md"


def sign(timestamp, token, key=KEY):
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def assert_refused(response, signals):
    assert response.status_code == 400, response.content
    assert signals == []


# --- issue 11: bad input is a 400, never a 500


@pytest.mark.parametrize("field", ["token", "signature"])
@pytest.mark.parametrize("with_basic_auth", [True, False])
def test_lone_surrogate_in_signature_fields_is_400(
    webhook_client, settings, field, with_basic_auth
):
    """A JSON "\\ud800" escape decodes to a str that can't be encoded: a 400, not a
    UnicodeEncodeError, whether or not basic auth is configured."""
    if not with_basic_auth:
        settings.ANYMAIL = PROFILE.webhook_settings()
    fields = {"timestamp": "1", "token": "t" * 50, "signature": "x"}
    fields[field] = "\ud800"
    body = json.dumps({"signature": fields, "event-data": {"event": "delivered"}})
    assert "\\ud800" in body
    response, signals = webhook_client.post(TRACKING, body, basic_auth=with_basic_auth)
    assert_refused(response, signals)


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "inf", "-inf", "1e400", 10**400, True])
def test_validly_signed_timestamp_that_is_not_a_finite_number_is_400(webhook_client, timestamp):
    data = FIXTURES.json("current_delivered")
    token = "n" * 50
    signed_timestamp = "True" if timestamp is True else timestamp
    data["signature"] = {
        "timestamp": timestamp,
        "token": token,
        "signature": sign(signed_timestamp, token),
    }
    response, signals = webhook_client.post(TRACKING, data)
    assert_refused(response, signals)


def _set(data, path, value):
    *parents, last = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[last] = value


WRONG_TYPES = [
    ("recipient", {"address": "alice@example.com"}),
    ("recipient", ["alice@example.com"]),
    ("recipient", 42),
    ("tags", "welcome"),
    ("tags", [1, 2]),
    ("tags", [{"name": "welcome"}]),
    ("user-variables", ["a", "b"]),
    ("user-variables", "customer_id=1"),
    ("user-variables", 7),
    ("event", 1),
    ("event", None),
    ("timestamp", True),
    ("timestamp", "nan"),
    ("timestamp", [1770146431]),
    ("message", "headers"),
    ("message.headers", ["message-id"]),
    ("message.headers.message-id", 12345),
    ("delivery-status", "OK"),
    ("delivery-status.message", 250),
    ("delivery-status.description", {"text": "x"}),
    ("url", ["https://example.com"]),
    ("client-info", "Chrome"),
    ("client-info.user-agent", 5),
    ("reason", 1),
    ("severity", ["temporary"]),
]


@pytest.mark.parametrize(("path", "value"), WRONG_TYPES, ids=[f"{p}={v!r}" for p, v in WRONG_TYPES])
def test_fields_of_the_wrong_json_type_are_400(webhook_client, path, value):
    """Never a 200 with an event whose fields have the wrong types (and never a 500)."""
    data = signed(load("current_opened"), int(time.time()), f"w{abs(hash(path + repr(value)))}")
    _set(data["event-data"], path, value)
    response, signals = webhook_client.post(TRACKING, data)
    assert_refused(response, signals)


@pytest.mark.parametrize(
    ("fixture", "path", "value"),
    [
        ("current_rejected", "reject", "Sandbox"),
        ("current_rejected", "reject.reason", 1),
        ("current_rejected", "message.headers.to", ["a@example.com"]),
        ("current_failed_permanent", "severity", 2),
    ],
)
def test_wrong_types_in_event_specific_fields_are_400(webhook_client, fixture, path, value):
    data = signed(load(fixture), int(time.time()), f"e{abs(hash(path))}")
    _set(data["event-data"], path, value)
    assert_refused(*webhook_client.post(TRACKING, data))


def test_empty_user_variables_and_storage_written_as_lists_are_empty():
    """Mailgun's samples write an empty object as [] ("user-variables": [], "storage": [])."""
    [event] = tracking_events(load("current_unsubscribed")["request"]["json"])
    assert event.metadata == {}
    assert event.tags == ["*"]


def legacy_post(fields, token="l" * 50, timestamp=None):
    """A signed legacy (form-encoded) post body: Mailgun's fields, then any others."""
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    pairs = [
        *fields,
        ("timestamp", timestamp),
        ("token", token),
        ("signature", sign(timestamp, token)),
    ]
    return urlencode(pairs)


LEGACY_OPENED = [
    ("domain", "mg.example.com"),
    ("recipient", "alice@example.com"),
    ("event", "opened"),
    ("message-id", "20240115100000.1.ABCDEF123456@mg.example.com"),
]


@pytest.mark.parametrize(
    "extra",
    [
        [("message-headers", '{"X-Mailgun-Variables": "{}"}')],
        [("message-headers", '[["X-Mailgun-Variables", ["not", "a", "string"]]]')],
        [("message-headers", '[["X-Mailgun-Variables", "[1, 2]"]]')],
        [("message-headers", "not json")],
    ],
)
def test_legacy_posts_with_malformed_fields_are_400(webhook_client, extra):
    body = legacy_post([*LEGACY_OPENED, *extra], token=f"m{abs(hash(str(extra)))}")
    response, signals = webhook_client.post(
        TRACKING, body, content_type="application/x-www-form-urlencoded"
    )
    assert_refused(response, signals)


def test_legacy_variable_named_token_does_not_replace_mailguns():
    """The signature is checked over Mailgun's token (the first), not a variable's."""
    fields = [*LEGACY_OPENED, ("customer_id", "1")]
    token = "k" * 50
    body = legacy_post(fields, token=token) + "&" + urlencode([("token", "my-variable")])
    payload = QueryDict(body)
    [event] = tracking_events(payload)
    assert event.event_id == token
    assert event.metadata == {"customer_id": "1", "token": "my-variable"}


def test_legacy_repeated_token_is_verified_against_the_first(webhook_client):
    token = "q" * 50
    body = legacy_post(LEGACY_OPENED, token=token) + "&" + urlencode([("token", "mine")])
    response, [signal] = webhook_client.post(
        TRACKING, body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert signal.event.event_id == token
    assert signal.event.metadata == {"token": "mine"}


def test_legacy_mailgun_fields_are_not_metadata():
    fields = QueryDict(
        legacy_post(
            [*LEGACY_OPENED, ("X-Mailgun-Sid", "WyIxIl0="), ("X-Mailgun-Other", "x"), ("v", "1")]
        )
    )
    [event] = tracking_events(fields)
    assert event.metadata == {"v": "1"}


# --- issue 12: the rejected event's recipient


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("Sample Recipient <recipient@sample.mailgun.com>", "recipient@sample.mailgun.com"),
        ("a@example.com, B <b@example.com>", "a@example.com"),
        ("", None),
    ],
)
def test_rejected_event_recipient_comes_from_the_to_header(to, expected):
    payload = FIXTURES.json("current_rejected")
    assert "recipient" not in payload["event-data"]
    payload["event-data"]["message"]["headers"]["to"] = to
    [event] = tracking_events(payload)
    assert event.recipient == expected


def test_fixtures_carry_what_mailguns_samples_carry():
    """The published samples' fields, for the events the webhook payloads page shows."""
    for name in ("current_accepted", "current_delivered", "current_failed_permanent"):
        data = load(name)["request"]["json"]["event-data"]
        assert "storage" in data, name
        assert data["account"]["id"], name
        assert data["domain"]["name"], name
    for name in ("current_delivered", "current_failed_permanent"):
        data = load(name)["request"]["json"]["event-data"]
        assert data["delivery-status"]["utf8"] is True
        assert data["envelope"]["sending-ip"]
    for name in ("current_opened", "current_clicked", "current_unsubscribed"):
        data = load(name)["request"]["json"]["event-data"]
        assert "bot" in data["client-info"], name
        assert set(data["message"]["headers"]) == {"message-id"}, name
        assert "envelope" not in data, name
        assert "flags" not in data, name
    rejected = load("current_rejected")["request"]["json"]["event-data"]
    assert not {"recipient", "recipient-domain", "envelope"} & set(rejected)


def test_fixtures_record_their_source_as_the_guide_says():
    """conformance/README.md: "source" is an object naming the page and when it was read."""
    for name, fixture in FIXTURES.items():
        source = fixture.data["source"]
        assert isinstance(source, dict), name
        assert source["page"].startswith("https://"), name
        assert datetime.strptime(source["read"], "%Y-%m-%d"), name
        assert all(isinstance(value, str) for value in source.values()), name


def test_inbound_fixtures_carry_each_mime_header_as_a_field():
    for name in ("inbound_parsed", "inbound_parsed_urlencoded"):
        request = load(name)["request"]
        fields = request.get("multipart") or request.get("form")
        for header, value in json.loads(fields["message-headers"]):
            assert fields[header] == value, (name, header)


# --- issue 12: the timestamp tolerance setting


def test_default_tolerance_is_nine_hours(webhook_client):
    assert DEFAULT_TIMESTAMP_TOLERANCE == 9 * 3600
    data = signed(load("current_delivered"), int(time.time()) - 8 * 3600, "d" * 50)
    response, signals = webhook_client.post(TRACKING, data)
    assert response.status_code == 200
    assert len(signals) == 1


@pytest.mark.parametrize(
    ("tolerance", "age", "accepted"),
    [(60, 120, False), (60, 30, True), (12 * 3600, 10 * 3600, True)],
)
def test_timestamp_tolerance_setting(webhook_client, settings, tolerance, age, accepted):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE": tolerance}
    data = signed(load("current_delivered"), int(time.time()) - age, f"t{tolerance}-{age}")
    response, signals = webhook_client.post(TRACKING, data)
    assert response.status_code == (200 if accepted else 400)
    assert len(signals) == (1 if accepted else 0)


@pytest.mark.parametrize("tolerance", [0, -5, "3600", float("nan"), True])
def test_invalid_timestamp_tolerance_is_a_configuration_error(
    webhook_client, settings, caplog, tolerance
):
    """A wrong setting is a fault on our side: Mailgun gets the answer it retries (and
    keeps the event until the setting is fixed); the log names the setting."""
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE": tolerance}
    data = signed(load("current_delivered"), int(time.time()), "c" * 50)
    response, signals = webhook_client.post(TRACKING, data)
    assert response.status_code == ESP.webhook_retry_status == 503
    assert response["Retry-After"]
    assert signals == []
    [error] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(error, AnymailConfigurationError)
    assert "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE" in str(error)


# --- issue 12: what manage.py check says, and what the README says


def test_declares_its_required_settings_and_signed_webhooks():
    assert ESP.required_settings == ("MAILGUN_API_KEY",)
    assert ESP.webhook_required_settings == (("MAILGUN_WEBHOOK_SIGNING_KEY", "MAILGUN_API_KEY"),)
    assert ESP.signed_webhooks is True
    assert "MAILGUN_WEBHOOK_TIMESTAMP_TOLERANCE" in ESP.settings


def test_manage_py_check_reports_missing_mailgun_settings(settings):
    from anymail.checks import (
        check_required_settings,
        check_required_settings_deploy,
        check_webhook_secret,
    )
    from anymail.testing import MAILERS_SUPPORTED

    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"  # (MAILERS on 6.1+)
    settings.ANYMAIL = {}
    where = "MAILERS['default']" if MAILERS_SUPPORTED else "EMAIL_BACKEND"
    # manage.py check warns (W005/W006); check --deploy reports errors (E003/E004).
    for check, backend_id, webhook_id in (
        (check_required_settings, "anymail.W005", "anymail.W006"),
        (check_required_settings_deploy, "anymail.E003", "anymail.E004"),
    ):
        messages = [(e.id, e.msg) for e in check()]
        assert (
            backend_id,
            f"{where} uses Anymail's Mailgun backend, but MAILGUN_API_KEY is not set.",
        ) in messages
        assert any(
            id_ == webhook_id
            and "MAILGUN_WEBHOOK_SIGNING_KEY or MAILGUN_API_KEY" in msg
            and "answer 503 so Mailgun retries" in msg
            for id_, msg in messages
        ), messages
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key"}
    assert not [e for e in check_required_settings() if "Mailgun" in e.msg]
    assert not [e for e in check_required_settings_deploy() if "Mailgun" in e.msg]
    # Mailgun's webhooks are signed: no "anyone can post" warning for them.
    assert not [w for w in check_webhook_secret() if "mailgun" in w.msg]


def test_readme_documents_every_setting_and_event_type():
    readme = README.read_text()
    for setting in (*ESP.settings, "WEBHOOK_REPLAY_CACHE"):
        assert f"| `{setting}` |" in readme, setting
    tracking = " ".join(readme[readme.index("**Tracking**") :].split())
    assert "also reports `queued` and `deferred`" in tracking
    listed = tracking[tracking.index("so the full set is") :].split(".")[0]
    for event_type in EVENT_TYPES:
        assert event_type.value in listed, event_type


def test_signed_timestamp_is_an_aware_datetime():
    [event] = tracking_events(load("current_delivered")["request"]["json"])
    assert isinstance(event.timestamp, datetime)
    assert event.timestamp.utcoffset() is not None


# --- issue 24: webhooks that lose no event


def test_declares_mailguns_retry_answer():
    """Mailgun retries every answer but 200 and 406, for 8 hours (its webhook-retries
    page): a fault on our side answers 503, and handled events are remembered for
    the retry window (9 hours: the schedule's last retry can land just past 8 hours)."""
    assert ESP.webhook_retry_status == 503
    assert 8 * 3600 <= ESP.webhook_retry_window <= DEFAULT_TIMESTAMP_TOLERANCE
    assert ESP.webhook_retry_docs == (
        "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-retries"
    )


def test_readme_documents_webhook_retries():
    readme = " ".join(README.read_text().split())
    section = readme[readme.index("### Webhook retries") :]
    section = section[: section.index("## ", 4)]
    assert ESP.webhook_retry_docs in section
    for fact in ("200", "406", "8 hours", "400", "503", "Retry-After", "event_id"):
        assert fact in section, fact


def test_receiver_that_raises_gets_the_retry_answer_and_its_retry_is_signalled(
    webhook_client, settings
):
    """A receiver that raises is our fault: 503 (Mailgun retries it), and Mailgun's retry
    (the same post, the same token) is accepted and signalled."""
    data = signed(load("current_delivered"), int(time.time()), "x" * 50)
    with BrokenReceiver(times=1) as receiver:
        first, _signals = webhook_client.post(TRACKING, data)
        retry, _signals = webhook_client.post(TRACKING, data)
        again, _signals = webhook_client.post(TRACKING, data)
    assert first.status_code == 503
    assert first["Retry-After"]
    assert retry.status_code == 200
    assert again.status_code == 200  # a redelivery of a handled event: acknowledged...
    assert receiver.event_ids == ["x" * 50, "x" * 50]  # ...and not signalled again


#: JSON nested deeper than Python's parser recurses
DEEP = "[" * 100_000 + "]" * 100_000

MALFORMED_JSON = [
    ({}, "event-data"),
    ({"event-data": None}, "event-data"),
    ({"event-data": ["delivered"]}, "event-data"),
    ({"event-data": {"timestamp": 1770146431}}, "event"),
    ({"event-data": {"event": "delivered"}}, "timestamp"),
    ({"event-data": {"event": "delivered", "timestamp": 1e20}}, "out of range"),
    ({"event-data": {"event": "delivered", "timestamp": -1e20}}, "out of range"),
    ({"event-data": {"event": "delivered", "timestamp": 1, "tags": "a"}}, "tags"),
    ({"event-data": {"event": "delivered", "timestamp": 1, "message": 7}}, "message"),
]


@pytest.mark.parametrize(("payload", "names"), MALFORMED_JSON)
def test_converter_raises_value_error_for_every_malformed_json_payload(payload, names):
    """Only a ValueError is "a payload that isn't Mailgun's" (answered 400); any other
    exception means a bug on our side (answered so Mailgun retries, for 8 hours)."""
    payload = {"signature": {"timestamp": "1", "token": "t" * 50, "signature": "s"}, **payload}
    with pytest.raises(ValueError, match=names):
        tracking_events(payload)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ([("event", "opened")], "no token"),  # no timestamp or token
        ([("event", "opened"), ("timestamp", "1"), ("token", "")], "no token"),
        ([("event", "opened"), ("timestamp", "1e20"), ("token", "t")], "out of range"),
        (
            [("event", "delivered"), ("timestamp", "1"), ("token", "t"), ("message-headers", "{}")],
            "message-headers",
        ),
        (
            [
                ("event", "delivered"),
                ("timestamp", "1"),
                ("token", "t"),
                ("message-headers", "[[1, 2]]"),
            ],
            "message-headers",
        ),
        (
            [
                ("event", "delivered"),
                ("timestamp", "1"),
                ("token", "t"),
                ("message-headers", '[["X-Mailgun-Variables", "[]"]]'),
            ],
            "X-Mailgun-Variables",
        ),
        (
            [("event", "delivered"), ("timestamp", "1"), ("token", "t"), ("message-headers", DEEP)],
            "nested too deeply",
        ),
    ],
)
def test_legacy_converter_raises_value_error_for_malformed_posts(fields, match):
    with pytest.raises(ValueError, match=match):
        tracking_events(QueryDict(urlencode(fields)))


SIGNED_FORM_FIELDS = [("timestamp", "1"), ("token", "t" * 50), ("signature", "s")]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ([("message-headers", '{"From": "a@example.com"}')], "message-headers"),
        (
            [("message-headers", "[]"), ("content-id-map", '{"<cid>": ["attachment-1"]}')],
            "content-id-map",
        ),
        ([("message-headers", "[]"), ("content-id-map", '["attachment-1"]')], "content-id-map"),
        ([("message-headers", "[]"), ("attachment-count", "1")], "missing attachment-1"),
        ([("message-headers", "[]"), ("attachment-count", "one")], "int"),
        ([("message-headers", "[]"), ("timestamp", "nan")], "finite"),
        ([("message-headers", "[]"), ("content-id-map", DEEP)], "nested too deeply"),
    ],
)
def test_inbound_converter_raises_value_error_for_malformed_posts(fields, match):
    given = dict(fields)
    signed_fields = [(name, given.pop(name, value)) for name, value in SIGNED_FORM_FIELDS]
    fields = QueryDict(urlencode([*signed_fields, *given.items()]))
    with pytest.raises(ValueError, match=match):
        inbound_events(fields, MultiValueDict())


def test_malformed_payload_through_the_webhook_is_400_and_a_missing_field_too(webhook_client):
    for path, value in (("event", None), ("timestamp", 1e20)):
        data = signed(load("current_opened"), int(time.time()), f"m-{path}")
        _set(data["event-data"], path, value)
        assert_refused(*webhook_client.post(TRACKING, data))
    data = signed(load("current_opened"), int(time.time()), "m-no-event-data")
    del data["event-data"]
    assert_refused(*webhook_client.post(TRACKING, data))
    assert_refused(*webhook_client.post(TRACKING, DEEP, content_type="application/json"))
