"""Sending, proved for every installed ESP against its own fake API server."""

from __future__ import annotations

import pytest
from django.core import mail

from anymail.exceptions import (
    AnymailAPIError,
    AnymailCancelSend,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from anymail.features import Feature, Support
from anymail.signals import post_send, pre_send
from anymail.testing import get_connection, use_backend
from anymail_conformance.cases import CASES, TO1, TO2, base_message
from anymail_conformance.plugin import proved

# Signed webhooks' tokens go to the default replay store: the test database.
pytestmark = pytest.mark.django_db

FEATURES = [Feature(name) for name in CASES]


@pytest.mark.parametrize("send_mode", ["direct", "background"])
@pytest.mark.parametrize("feature", FEATURES, ids=[f.value for f in FEATURES])
def test_declared_feature_support(esp, api, settings, feature, send_mode):
    """Supported: arrives intact. Not supported: raises naming the feature and sends
    nothing; with IGNORE_UNSUPPORTED_FEATURES, sent without it (MAX_ONE: its first item).
    In background mode (stored, then sent by a task: here Django's immediate task
    backend) the same: refused in the caller, and what the task sends arrives intact."""
    if send_mode == "background":
        settings.ANYMAIL = {**settings.ANYMAIL, "SEND_IN_BACKGROUND": True}
    profile, features = esp.profile, esp.esp.features
    support = features[feature]
    case = CASES[feature]
    message = base_message(profile)
    case.use(message, profile, features)
    profile.adapt_message(message, feature.value)
    needs_degrading = support is Support.NO or (
        support is Support.MAX_ONE and case.first_only is not None
    )

    if not needs_degrading:
        message.send()
        sent = profile.sent_messages(api)[-1]
        case.arrived(sent, support)
    else:
        with pytest.raises(AnymailUnsupportedFeature) as raised:
            message.send()
        assert raised.value.feature == feature.value
        assert profile.request_count(api) == 0, "nothing may be sent when a feature is refused"

        settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
        message = base_message(profile)
        case.use(message, profile, features)
        profile.adapt_message(message, feature.value)
        message.send()
        sent = profile.sent_messages(api)[-1]
        if support is Support.MAX_ONE:
            case.first_only(sent)
        else:
            case.absent(sent)
    proved(esp.id, f"feature:{feature.value}")


def test_status_is_normalized(esp, api):
    profile = esp.profile
    message = base_message(profile)
    message.to = [f"To One <{TO1}>", TO2]
    message.cc = ["cc@example.com"]
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {profile.accepted_status}
    assert set(status.recipients) == {TO1, TO2, "cc@example.com"}
    assert all(r.status == profile.accepted_status for r in status.recipients.values())
    assert all(r.message_id for r in status.recipients.values())
    if profile.per_recipient_message_ids:
        assert status.message_id == {r.message_id for r in status.recipients.values()}
    else:
        assert isinstance(status.message_id, str)
        assert status.message_id
    assert status.esp_response is not None


@pytest.mark.parametrize(
    ("scenario", "status_range"),
    [("client_error", (400, 499)), ("server_error", (500, 599)), ("malformed", None)],
)
def test_api_errors_raise_anymail_api_error(esp, api, scenario, status_range):
    esp.profile.set_scenario(api, scenario)
    message = base_message(esp.profile)
    with pytest.raises(AnymailAPIError) as raised:
        message.send()
    if status_range:
        assert status_range[0] <= raised.value.status_code <= status_range[1]
    assert str(raised.value)  # a readable description
    # fail_silently swallows it
    assert get_connection(fail_silently=True).send_messages([base_message(esp.profile)]) == 0


def test_connection_refused_raises_api_error(esp, settings):
    settings.ANYMAIL = esp.profile.unreachable_settings()
    use_backend(settings, esp.esp.backend)
    with pytest.raises(AnymailAPIError) as raised:
        base_message(esp.profile).send()
    assert raised.value.status_code is None


def test_timeout_raises_api_error(esp, api, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, **esp.profile.timeout_settings()}
    esp.profile.set_scenario(api, "slow")
    with pytest.raises(AnymailAPIError):
        base_message(esp.profile).send()


def test_recipients_refused(esp, api, settings):
    profile = esp.profile
    if not profile.reports_rejections:
        # This ESP accepts every recipient at send time (and reports problems later,
        # through tracking webhooks): AnymailRecipientsRefused can't happen.
        message = base_message(profile)
        message.send()
        assert message.anymail_status.status == {profile.accepted_status}
        return
    profile.set_scenario(api, "all_rejected")
    with pytest.raises(AnymailRecipientsRefused):
        base_message(profile).send()
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    message = base_message(profile)
    assert message.send() == 1
    assert message.anymail_status.status <= {"rejected", "invalid", "failed"}

    profile.set_scenario(api, "partial_rejection")
    message = base_message(profile)
    message.to = [TO1, TO2]
    message.send()
    assert profile.accepted_status in message.anymail_status.status
    assert len(message.anymail_status.status) > 1


def test_pre_send_can_modify_and_cancel(esp, api):
    profile = esp.profile

    def modify(sender, message, esp_name, **kwargs):
        assert esp_name == esp.esp.name
        message.subject = "Changed by pre_send"

    pre_send.connect(modify)
    try:
        base_message(profile).send()
    finally:
        pre_send.disconnect(modify)
    assert profile.sent_messages(api)[-1].subject == "Changed by pre_send"

    def cancel(sender, message, **kwargs):
        raise AnymailCancelSend("not this one")

    before = profile.request_count(api)
    pre_send.connect(cancel)
    try:
        assert base_message(profile).send() == 0
    finally:
        pre_send.disconnect(cancel)
    assert profile.request_count(api) == before


def test_post_send_gets_status_and_every_receiver_runs(esp, api):
    seen = []

    def failing(sender, message, status, esp_name, **kwargs):
        seen.append("failing")
        raise RuntimeError("receiver bug")

    def recording(sender, message, status, esp_name, **kwargs):
        seen.append((esp_name, status.status))

    post_send.connect(failing)
    post_send.connect(recording)
    try:
        with pytest.raises(RuntimeError, match="receiver bug"):
            base_message(esp.profile).send()
    finally:
        post_send.disconnect(failing)
        post_send.disconnect(recording)
    assert seen == ["failing", (esp.esp.name, {esp.profile.accepted_status})]


def test_send_defaults_and_esp_send_defaults(esp, api, settings):
    profile = esp.profile
    prefix = esp.id.upper()
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SEND_DEFAULTS": {"metadata": {"source": "defaults", "district": "North"}},
        f"{prefix}_SEND_DEFAULTS": {"metadata": {"source": "esp-defaults"}},
    }
    message = base_message(profile)
    message.metadata = {"user": "7"}
    message.send()
    # ESP-specific defaults replace (not merge with) the general ones; the message merges in.
    assert profile.sent_messages(api)[-1].metadata == {"source": "esp-defaults", "user": "7"}

    message = base_message(profile)
    message.metadata = None  # None drops the default
    message.send()
    assert not profile.sent_messages(api)[-1].metadata


def test_send_messages_reuses_one_connection(esp, api):
    profile = esp.profile
    messages = [base_message(profile) for _ in range(3)]
    connection = get_connection()
    assert connection.send_messages(messages) == 3
    assert profile.request_count(api) == 3
    assert api.connection_count == 1
    assert all(m.anymail_status.status == {profile.accepted_status} for m in messages)
    assert mail.outbox == []  # sent through the ESP backend, not the test backend


def test_esp_extra_reaches_the_api(esp, api):
    profile = esp.profile
    assert profile.esp_extra_example, f"{esp.id}'s profile must give an esp_extra_example"
    message = base_message(profile)
    message.esp_extra = profile.esp_extra_example
    message.send()
    profile.check_esp_extra(profile.sent_messages(api)[-1])


# --- background sending: transient failures retried, permanent ones not (issue 27)


def _scripted(api, answers):
    """Make the fake API answer ``answers`` (status, headers) first, then as usual."""
    from anymail_conformance.fake_server import FakeResponse

    usual = api.response
    queue = list(answers)

    def answer(request):
        if queue:
            status, headers = queue.pop(0)
            return FakeResponse(
                status, "temporarily unavailable", {"Content-Type": "text/plain", **headers}
            )
        return usual(request)

    api.response = answer


def _background(settings):
    from anymail.tasks import task_backends

    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SEND_IN_BACKGROUND": True,
        "TASKS_BACKEND": "dummy",  # the test runs each attempt itself
        "SEND_RETRY_DELAY": 0.001,
    }
    task_backends["dummy"].clear()


def _attempts(outbox_id):
    """Run the task until it stops retrying; the states it went through."""
    from django.utils import timezone

    from anymail.models import OutboxMessage
    from anymail.outbox import process

    states = []
    for _ in range(10):
        OutboxMessage.objects.filter(pk=outbox_id).update(next_attempt_at=timezone.now())
        states.append(process(outbox_id))
        if states[-1] != "queued":
            break
    return states


@pytest.mark.parametrize(
    ("answers", "states", "final"),
    [
        ([(503, {}), (503, {})], ["queued", "queued", "sent"], "sent"),
        ([(500, {})], ["queued", "sent"], "sent"),
        ([(400, {})], ["failed"], "failed"),
    ],
    ids=["503-twice-then-200", "500-then-200", "400-not-retried"],
)
def test_background_send_retries_only_transient_failures(
    esp, api, settings, answers, states, final
):
    from anymail.models import OutboxMessage

    if not hasattr(api, "response"):
        pytest.skip(f"{esp.id}'s fake API (moto's server) can't be told to fail")
    _background(settings)
    _scripted(api, answers)
    message = base_message(esp.profile)
    assert message.send() == 1
    assert message.anymail_status.status == {"queued"}
    outbox = OutboxMessage.objects.get()
    assert _attempts(outbox.pk) == states
    outbox.refresh_from_db()
    assert (outbox.state, outbox.attempts) == (final, len(states))
    sends = len(api.requests)
    assert sends == len(states)  # one API call per attempt: never sent twice
    if final == "sent":
        assert esp.profile.request_count(api) >= 1
        assert outbox.esp_message_id
    proved(esp.id, "send:background-retries")


def test_background_send_honours_retry_after(esp, api, settings):
    from django.utils import timezone

    from anymail.models import OutboxMessage
    from anymail.outbox import process

    if not hasattr(api, "response"):
        pytest.skip(f"{esp.id}'s fake API (moto's server) can't be told to fail")
    _background(settings)
    _scripted(api, [(429, {"Retry-After": "30"})])
    base_message(esp.profile).send()
    outbox = OutboxMessage.objects.get()
    before = timezone.now()
    assert process(outbox.pk) == "queued"
    outbox.refresh_from_db()
    waited = (outbox.next_attempt_at - before).total_seconds()
    assert 29 <= waited <= 31, waited  # Retry-After, not the 1 ms backoff


@pytest.mark.parametrize("field", ["to", "cc", "bcc", "reply_to"])
def test_an_address_with_a_line_break_is_refused_and_nothing_sent(esp, api, field):
    """Header injection: Django's own message() refuses it (BadHeaderError)."""
    from anymail.exceptions import AnymailInvalidAddress

    message = base_message(esp.profile)
    setattr(message, field, ["to@example.com\r\nBcc: evil@example.net"])
    with pytest.raises(AnymailInvalidAddress):
        message.send()
    assert esp.profile.request_count(api) == 0
