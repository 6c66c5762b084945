"""What importing anymail-base pulls in, and pickling messages (django-mailer
queues pickled messages and sends them from another process)."""

import pickle
from datetime import UTC, datetime

from django.core import mail

from anymail.message import AnymailMessage
from anymail.testing import get_connection
from anymail_conformance import package_checks

THIRD_PARTY_CLIENTS = ("boto3", "botocore", "sparkpost")


def run_python(code, tmp_path, stdin=b""):
    """Run ``code`` in a fresh interpreter with testproject settings, where boto3,
    botocore and sparkpost are importable (stand-ins in ``tmp_path``), so importing
    them by accident would show in sys.modules."""
    fakes = tmp_path / "fake_clients"
    for name in THIRD_PARTY_CLIENTS:
        (fakes / name).mkdir(parents=True, exist_ok=True)
        (fakes / name / "__init__.py").write_text("")
    return package_checks.run_python(code, pythonpath=(str(fakes),), stdin=stdin)


def test_importing_anymail_imports_no_esp_client(tmp_path):
    output = run_python(
        """
        import importlib.util, sys
        # The stand-ins are importable, so an accidental import would succeed and show.
        for name in ("boto3", "sparkpost"):
            origin = importlib.util.find_spec(name).origin
            assert origin.endswith("fake_clients/%s/__init__.py" % name)

        import anymail.message
        from anymail.message import AnymailMessage
        import anymail.backends.base, anymail.backends.base_requests
        import anymail.backends.test, anymail.backends.console
        import anymail.exceptions, anymail.features, anymail.signals, anymail.utils

        import django
        django.setup()
        from anymail import registry
        registry.installed_esps()
        AnymailMessage("s", "b", "from@example.com", ["to@example.com"], tags=["t"]).send()

        clients = ("boto3", "botocore", "sparkpost")
        print(sorted(name for name in sys.modules if name.split(".")[0] in clients))
        """,
        tmp_path,
    )
    assert output.decode().strip() == "[]"


def test_stand_in_clients_would_be_detected(tmp_path):
    # Proves the check above can fail.
    output = run_python("import sys, boto3\nprint('boto3' in sys.modules)", tmp_path)
    assert output.decode().strip() == "True"


def full_message():
    message = AnymailMessage(
        subject="Pickled",
        body="Body",
        from_email="From <from@example.com>",
        to=["to@example.com"],
        tags=["queued"],
        metadata={"order": "12345"},
        send_at=datetime(2030, 1, 1, tzinfo=UTC),
        merge_data={"to@example.com": {"NAME": "Zoë"}},
    )
    message.attach_alternative("<p>html</p>", "text/html")
    message.attach("file.txt", "content", "text/plain")
    message.attach_inline_image(b"\x89PNG\r\n\x1a\n", filename="logo.png")
    return message


def test_message_pickles_before_sending():
    restored = pickle.loads(pickle.dumps(full_message()))  # noqa: S301 (our own data)
    assert restored.tags == ["queued"]
    assert restored.metadata == {"order": "12345"}
    assert restored.send_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert restored.send() == 1
    params = restored.anymail_send_params
    assert params["tags"] == ["queued"]
    assert params["merge_data"] == {"to@example.com": {"NAME": "Zoë"}}
    assert [att.name for att in params["attachments"]] == ["file.txt"]
    assert [att.name for att in params["inline_attachments"]] == ["logo.png"]


def test_message_pickles_after_sending():
    message = full_message()
    get_connection().send_messages([message])  # message.connection stays unset
    restored = pickle.loads(pickle.dumps(message))  # noqa: S301 (our own data)
    assert restored.anymail_status.status == {"sent"}
    assert restored.anymail_status.message_id == message.anymail_status.message_id
    assert restored.anymail_status.recipients["to@example.com"].status == "sent"
    assert restored.anymail_send_params["metadata"] == {"order": "12345"}
    assert restored.anymail_send_params["attachments"][0].content == b"content"
    # And it can be sent again.
    restored.send()
    assert len(mail.outbox) == 2


def test_message_unpickles_and_sends_in_another_process(tmp_path):
    output = run_python(
        """
        import pickle, sys
        import django
        django.setup()
        from django.core import mail
        message = pickle.loads(sys.stdin.buffer.read())
        mail.outbox = []
        assert message.send() == 1
        params = message.anymail_send_params
        print(params["tags"], params["metadata"], message.anymail_status.status)
        """,
        tmp_path,
        stdin=pickle.dumps(full_message()),
    )
    assert output.decode().strip() == "['queued'] {'order': '12345'} {'sent'}"
