"""Anymail's console backend: processes messages like the test backend and writes
them out instead of collecting them."""

import io

from django.core import mail

from anymail.message import AnymailMessage
from anymail.testing import get_connection


def test_writes_the_message_and_its_params_to_stdout(settings, capsys):
    settings.EMAIL_BACKEND = "anymail.backends.console.EmailBackend"
    message = AnymailMessage(
        "Console subject", "Console body", "from@example.com", ["to@example.com"]
    )
    message.tags = ["console-tag"]
    assert message.send() == 1
    output = capsys.readouterr().out
    assert "Subject: Console subject" in output
    assert "Console body" in output
    assert "Anymail send params:" in output
    assert "'tags': ['console-tag']" in output
    assert message.anymail_status.status == {"sent"}
    # Written out, not collected.
    assert mail.outbox == []


def test_writes_to_a_given_stream_with_non_ascii_content(capsys):
    stream = io.StringIO()
    connection = get_connection("anymail.backends.console.EmailBackend", stream=stream)
    messages = [
        AnymailMessage("Grüße", "Hallo Zoë", "from@example.com", ["Zoë <zoe@example.com>"]),
        AnymailMessage("Second", "Body", "from@example.com", ["two@example.com"]),
    ]
    assert connection.send_messages(messages) == 2
    output = stream.getvalue()
    assert "Hallo Zoë" in output
    assert "'to': ['Zoë <zoe@example.com>']" in output
    assert "two@example.com" in output
    assert output.count("-" * 79) == 2
    assert capsys.readouterr().out == ""
