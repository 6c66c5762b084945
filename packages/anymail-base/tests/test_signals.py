"""pre_send and post_send (docs 1.3.5)."""

from email.utils import parseaddr

import pytest
from django.core import mail

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailCancelSend
from anymail.message import AnymailStatus
from anymail.signals import post_send, pre_send
from anymail.testing import get_connection


@pytest.fixture
def connect():
    """connect(signal, receiver): connected for this test only."""
    connected = []

    def _connect(signal, receiver):
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))

    yield _connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


def test_pre_send_receiver_can_modify_the_message(connect):
    blocked = {"blocked@example.com"}
    calls = []

    def filter_blocked_recipients(sender, message, esp_name, **kwargs):
        calls.append((sender, esp_name))
        message.to = [addr for addr in message.to if parseaddr(addr)[1] not in blocked]
        message.cc = [addr for addr in message.cc if parseaddr(addr)[1] not in blocked]

    connect(pre_send, filter_blocked_recipients)
    message = mail.EmailMessage(
        "s",
        "b",
        "from@example.com",
        to=["ok@example.com", "Blocked <blocked@example.com>"],
        cc=["blocked@example.com"],
    )
    assert message.send() == 1
    assert calls == [(AnymailTestBackend, "Test")]
    assert message.anymail_send_params["to"] == ["ok@example.com"]
    assert "cc" not in message.anymail_send_params
    assert set(message.anymail_status.recipients) == {"ok@example.com"}


def test_cancel_send_cancels_silently_and_the_batch_goes_on(connect):
    def cancel_blocked_sender(sender, message, **kwargs):
        if message.from_email == "blocked@example.com":
            raise AnymailCancelSend("Blocked from_email")

    connect(pre_send, cancel_blocked_sender)
    blocked = mail.EmailMessage("s", "b", "blocked@example.com", ["to@example.com"])
    allowed = mail.EmailMessage("s", "b", "ok@example.com", ["to@example.com"])
    sent = get_connection().send_messages([blocked, allowed])
    assert sent == 1
    assert mail.outbox == [allowed]
    assert not hasattr(blocked, "anymail_send_params")
    assert blocked.anymail_status.status is None


def test_post_send_receives_the_status(connect):
    received = []

    def log_sent_message(sender, message, status, esp_name, **kwargs):
        received.append((sender, message, status, esp_name, dict(status.recipients)))

    connect(post_send, log_sent_message)
    message = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.send()
    [(sender, sent_message, status, esp_name, recipients)] = received
    assert sender is AnymailTestBackend
    assert sent_message is message
    assert isinstance(status, AnymailStatus)
    assert status is message.anymail_status
    assert esp_name == "Test"
    assert recipients["to@example.com"].status == "sent"


def test_every_post_send_receiver_runs_even_if_one_raises(connect):
    calls = []

    def first(sender, **kwargs):
        calls.append("first")
        raise RuntimeError("receiver failed")

    def second(sender, **kwargs):
        calls.append("second")

    connect(post_send, first)
    connect(post_send, second)
    message = mail.EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    # The receiver's error is reported after every receiver has run.
    with pytest.raises(RuntimeError, match="receiver failed"):
        message.send()
    assert calls == ["first", "second"]
    assert mail.outbox == [message]


def test_post_send_is_not_sent_for_a_cancelled_message(connect):
    received = []

    def cancel(sender, **kwargs):
        raise AnymailCancelSend()

    connect(pre_send, cancel)
    connect(post_send, lambda sender, **kwargs: received.append(kwargs))
    assert mail.send_mail("s", "b", "from@example.com", ["to@example.com"]) == 0
    assert received == []
