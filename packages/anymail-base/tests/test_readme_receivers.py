"""The README's tracking and inbound receivers work as written, through real webhook
posts (the test-only fake ESP)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def readme_receivers():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Receiving: tracking and inbound signals", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    calls = []
    namespace = {
        "mark_undeliverable": lambda *args, **kwargs: calls.append(("bounce", args, kwargs)),
        "save_reply": lambda **kwargs: calls.append(("reply", kwargs)),
    }
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 (our README's code)
    yield calls
    from anymail.signals import inbound, tracking

    tracking.disconnect(namespace["handle_tracking"])
    inbound.disconnect(namespace["handle_inbound"])


def test_readme_receivers(readme_receivers, fake_esp_installed, webhook_client, webhook_secret):
    events = {"events": [{"event": "bounced", "ts": 1700000000, "id": "m1", "to": "a@example.com"}]}
    assert webhook_client.post("anymail:fake_tracking_webhook", events)[0].status_code == 200
    raw = (
        b"From: Someone <someone@example.com>\r\nTo: app@example.com\r\nSubject: Re: hi\r\n"
        b"Content-Type: text/plain\r\n\r\nThanks!\r\n"
    )
    response, _ = webhook_client.post(
        "anymail:fake_inbound_webhook", raw, content_type="message/rfc822"
    )
    assert response.status_code == 200
    [bounce, reply] = readme_receivers
    assert bounce == ("bounce", ("a@example.com",), {"reason": None})
    assert reply[1]["sender"] == "someone@example.com"
    assert reply[1]["to"] == ["app@example.com"]
    assert reply[1]["subject"] == "Re: hi"
    assert reply[1]["text"].strip() == "Thanks!"
    assert reply[1]["attachments"] == []
