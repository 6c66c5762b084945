"""Sending in the background (issue 27), with Anymail's test backend and the
in-process task backends: validated in the caller, stored without secrets, sent by
the task with the real signals, retried only when it can't have been sent."""

import pickle

import pytest
import requests
from django.core import mail
from django.utils import timezone

from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage
from anymail.models import OutboxMessage
from anymail.outbox import MAYBE_SENT, PERMANENT, RETRY, classify, process
from anymail.signals import post_send, pre_send


@pytest.fixture
def queued(settings):
    """Background sends on the dummy task backend (the test runs the task)."""
    from anymail.tasks import task_backends

    settings.ANYMAIL = {"SEND_IN_BACKGROUND": True, "TASKS_BACKEND": "dummy"}
    backend = task_backends["dummy"]
    backend.clear()
    return backend


def message(**kwargs):
    kwargs.setdefault("from_email", "from@example.com")
    kwargs.setdefault("to", ["to@example.com"])
    return AnymailMessage(subject="Subject", body="Body", **kwargs)


def test_send_returns_at_once_queued_and_the_task_sends(queued):
    msg = message(tags=["receipt"], metadata={"order": "1"})
    msg.attach("invoice.pdf", b"%PDF\x00\xff binary", "application/pdf")
    assert msg.send() == 1
    assert msg.anymail_status.status == {"queued"}
    assert msg.anymail_status.recipients["to@example.com"].status == "queued"
    assert mail.outbox == []  # nothing sent yet
    [outbox] = OutboxMessage.objects.all()
    assert str(outbox.anymail_id) == msg.anymail_status.outbox_id
    [result] = queued.results
    assert result.args == [outbox.pk]  # the task's payload: a row id
    assert process(outbox.pk) == "sent"
    [sent] = mail.outbox
    assert sent.attachments[0][1] == b"%PDF\x00\xff binary"  # bytes exact
    assert sent.anymail_send_params["tags"] == ["receipt"]
    outbox.refresh_from_db()
    assert (outbox.state, outbox.attempts) == ("sent", 1)
    assert outbox.esp_message_id == sent.anymail_status.message_id


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"to": ["not an address"]}, AnymailInvalidAddress),
        ({"headers": {"X-Count": 5}}, Exception),
    ],
)
def test_bad_messages_raise_in_the_caller_and_nothing_is_stored(queued, kwargs, error):
    with pytest.raises(error):
        message(**kwargs).send()
    assert OutboxMessage.objects.count() == 0
    assert queued.results == []


def test_an_unsupported_feature_raises_in_the_caller(queued, settings):
    from anymail.features import FeatureSupport, Support

    features = FeatureSupport.all_supported().replace(metadata=Support.NO)
    settings.ANYMAIL = {**settings.ANYMAIL, "TEST_FEATURES": features}
    with pytest.raises(AnymailUnsupportedFeature):
        message(metadata={"a": "b"}).send()
    assert OutboxMessage.objects.count() == 0


def test_no_secret_is_stored(queued):
    from anymail.backends.test import EmailBackend
    from anymail.outbox_queue import storable_options

    # Options whose names say they hold a credential are never stored: the worker
    # reads them from settings.
    assert storable_options(
        {"api_key": "s3cr3t", "server_token": "t0k3n", "client_params": {"x": 1},
         "webhook_secret": "u:p", "timeout": 5, "background": True, "api_url": "https://x/"}
    ) == {"timeout": 5, "api_url": "https://x/"}  # fmt: skip
    connection = EmailBackend(background=True)
    msg = message()
    msg.connection = connection  # (as EmailMessage.send() sets it: it holds the backend)
    connection.send_messages([msg])
    [outbox] = OutboxMessage.objects.all()
    assert "background" not in outbox.options
    assert pickle.loads(bytes(outbox.message)).connection is None  # noqa: S301


def test_signals_fire_around_the_real_send_in_the_worker(queued):
    seen = []

    def before(sender, message, esp_name, **kwargs):
        seen.append(("pre_send", message.anymail_status.status))

    def after(sender, message, status, esp_name, **kwargs):
        seen.append(("post_send", status.status))

    pre_send.connect(before)
    post_send.connect(after)
    try:
        message().send()
        assert seen == []  # not in the caller
        process(OutboxMessage.objects.get().pk)
    finally:
        pre_send.disconnect(before)
        post_send.disconnect(after)
    assert seen == [("pre_send", None), ("post_send", {"sent"})]


def test_the_option_and_the_settings(settings):
    from anymail.testing import get_connection

    settings.ANYMAIL = {}
    assert get_connection("anymail.backends.test.EmailBackend").background is False
    assert get_connection("anymail.backends.test.EmailBackend", background=True).background
    settings.ANYMAIL = {"SEND_IN_BACKGROUND": True}
    assert get_connection("anymail.backends.test.EmailBackend").background is True
    settings.ANYMAIL = {"SEND_IN_BACKGROUND": True, "TEST_SEND_IN_BACKGROUND": False}
    assert get_connection("anymail.backends.test.EmailBackend").background is False


def response(status, headers=None):
    answer = requests.Response()
    answer.status_code = status
    answer.headers.update(headers or {})
    answer._content = b"{}"
    return answer


@pytest.mark.parametrize(
    ("error", "verdict", "retry_after"),
    [
        (AnymailRequestsAPIError(response=response(503)), RETRY, None),
        (AnymailRequestsAPIError(response=response(429, {"Retry-After": "7"})), RETRY, 7.0),
        (AnymailRequestsAPIError(response=response(400)), PERMANENT, None),
        (AnymailRecipientsRefused(), PERMANENT, None),
        (AnymailAPIError("bad request"), PERMANENT, None),
    ],
)
def test_classify_http_answers(error, verdict, retry_after):
    assert classify(error) == (verdict, retry_after)


@pytest.mark.parametrize(
    ("cause", "verdict"),
    [
        (requests.ConnectTimeout("connect timed out"), RETRY),
        (requests.ConnectionError("Failed to establish a new connection: refused"), RETRY),
        (requests.ReadTimeout("read timed out"), MAYBE_SENT),
        (requests.ConnectionError("Connection aborted: RemoteDisconnected"), MAYBE_SENT),
    ],
)
def test_classify_connection_failures(cause, verdict):
    """Retried only if the request can't have reached the ESP."""
    error = AnymailRequestsAPIError("Error posting")
    error.orig_err = cause
    assert classify(error)[0] == verdict


def test_a_worker_killed_mid_call_is_marked_for_review_never_resent(queued):
    from datetime import timedelta

    message().send()
    outbox = OutboxMessage.objects.get()
    # What a worker killed during the API call leaves: sending, lease expired.
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        state="sending", attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert process(outbox.pk) == "review"
    assert mail.outbox == []
    outbox.refresh_from_db()
    assert "may have the message" in outbox.last_error


def test_a_cancelled_send_is_recorded(queued):
    from anymail.exceptions import AnymailCancelSend

    def cancel(sender, message, esp_name, **kwargs):
        raise AnymailCancelSend("not today")

    message().send()
    pre_send.connect(cancel)
    try:
        assert process(OutboxMessage.objects.get().pk) == "cancelled"
    finally:
        pre_send.disconnect(cancel)
    assert mail.outbox == []


def test_the_outbox_command_and_prune(queued, capsys):
    from datetime import timedelta

    from django.core.management import call_command

    message().send()
    outbox = OutboxMessage.objects.get()
    OutboxMessage.objects.update(state="failed", last_error="sending failed: boom")
    call_command("anymail_outbox", "--failed")
    assert str(outbox.anymail_id) in capsys.readouterr().out
    call_command("anymail_outbox", "--retry", "all")
    assert process(outbox.pk) == "sent"
    OutboxMessage.objects.update(finished_at=timezone.now() - timedelta(days=30))
    call_command("anymail_outbox", "--prune")
    assert OutboxMessage.objects.count() == 0


def test_with_the_immediate_backend_it_is_sent_before_send_returns(settings):
    settings.ANYMAIL = {"SEND_IN_BACKGROUND": True}
    msg = message()
    assert msg.send() == 1
    assert msg.anymail_status.status == {"queued"}  # the caller's copy
    [sent] = mail.outbox
    assert sent.anymail_status.status == {"sent"}
    assert OutboxMessage.objects.get().state == "sent"
