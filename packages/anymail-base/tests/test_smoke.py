from django.core import mail

from anymail.message import AnymailMessage


def test_send_through_test_backend_merges_send_defaults(settings):
    settings.ANYMAIL = {
        "SEND_DEFAULTS": {
            "metadata": {"district": "North", "source": "unknown"},
            "tags": ["myapp", "version3"],
            "track_clicks": True,
            "track_opens": True,
        }
    }
    message = AnymailMessage(subject="s", body="b", to=["to@example.com"])
    message.tags = ["welcome"]
    message.metadata = {"source": "Ads", "user_id": 12345}
    message.track_clicks = False
    message.send()

    params = mail.outbox[0].anymail_send_params
    assert params["tags"] == ["myapp", "version3", "welcome"]
    assert params["metadata"] == {"district": "North", "source": "Ads", "user_id": 12345}
    assert params["track_clicks"] is False
    assert params["track_opens"] is True
    assert message.anymail_status.status == {"sent"}
