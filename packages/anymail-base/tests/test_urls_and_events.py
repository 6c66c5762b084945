"""anymail.urls from the registry, the insecure-webhook system check, and the
normalized event classes."""

from datetime import UTC, datetime

import pytest
from django.core.checks import run_checks
from django.urls import NoReverseMatch, resolve, reverse

import anymail.urls
from anymail.features import EventType, RejectReason
from anymail.registry import installed_esps
from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent


def test_urls_work_with_no_esp_installed(no_esp_installed):
    assert installed_esps() == {}
    assert anymail.urls.app_name == "anymail"
    assert anymail.urls.urlpatterns == []
    with pytest.raises(NoReverseMatch):
        reverse("anymail:fake_tracking_webhook")


def test_urls_gain_routes_of_a_registered_esp(fake_esp_installed):
    assert fake_esp_installed.name == "Fake"
    assert reverse("anymail:fake_tracking_webhook") == "/anymail/fake/tracking/"
    assert reverse("anymail:fake_inbound_webhook") == "/anymail/fake/inbound/"
    match = resolve("/anymail/fake/tracking/")
    assert match.func.load_view_class().__name__ == "FakeTrackingWebhookView"
    assert match.func.csrf_exempt is True


def test_inbound_route_delivers_inbound_event(fake_esp_installed, webhook_client, webhook_secret):
    raw = b"From: Someone <someone@example.com>\r\nSubject: hi\r\n\r\nbody text"
    response, signals = webhook_client.post(
        "anymail:fake_inbound_webhook", raw, content_type="message/rfc822"
    )
    assert response.status_code == 200
    assert [s.signal for s in signals] == ["inbound"]
    event = signals[0].event
    assert event.event_type == "inbound"
    assert event.message.from_email.addr_spec == "someone@example.com"
    assert event.message.text == "body text"


class TestInsecureWebhookCheck:
    def test_warns_when_webhooks_routed_without_secret(self, fake_esp_installed):
        ids = [message.id for message in run_checks()]
        assert "anymail.W002" in ids

    def test_quiet_with_secret(self, fake_esp_installed, webhook_secret):
        assert "anymail.W002" not in [message.id for message in run_checks()]

    def test_quiet_when_no_esp_webhooks(self, no_esp_installed):
        assert "anymail.W002" not in [message.id for message in run_checks()]


class TestEvents:
    def test_tracking_event_defaults(self):
        event = AnymailTrackingEvent(event_type="delivered")
        assert event.metadata == {}
        assert event.tags == []
        assert event.timestamp is None
        assert event.reject_reason is None
        assert event.click_url is None

    def test_unknown_event_type_and_reason_rejected(self):
        with pytest.raises(ValueError, match="event_type"):
            AnymailTrackingEvent(event_type="exploded")
        with pytest.raises(ValueError, match="reject_reason"):
            AnymailTrackingEvent(event_type="bounced", reject_reason="because")

    def test_naive_timestamp_rejected(self):
        with pytest.raises(ValueError, match="aware"):
            AnymailTrackingEvent(event_type="opened", timestamp=datetime(2024, 1, 1))

    def test_as_dict_and_repr(self):
        when = datetime(2024, 1, 1, tzinfo=UTC)
        event = AnymailTrackingEvent(
            event_type=EventType.BOUNCED,
            timestamp=when,
            recipient="r@example.com",
            reject_reason=RejectReason.BOUNCED,
            metadata={"k": "v"},
        )
        assert event.as_dict()["reject_reason"] == "bounced"
        assert type(event.event_type) is str
        assert "r@example.com" in repr(event)

    def test_inbound_event_type(self):
        assert AnymailInboundEvent().event_type == "inbound"


def test_anymail_features_command_lists_installed_esps(fake_esp_installed):
    from io import StringIO

    from django.core.management import call_command

    from anymail import registry

    out = StringIO()
    with registry.override_installed_esps([fake_esp_installed]):
        call_command("anymail_features", stdout=out)
    table = out.getvalue()
    assert table.splitlines()[0] == "| Feature | Fake |"
    assert "| `tags` | Yes |" in table


def test_anymail_features_command_with_no_esp(no_esp_installed):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("anymail_features", stdout=out)
    assert "No Anymail ESP package is installed" in out.getvalue()


def test_reverse_imports_no_webhook_module(no_esp_installed):
    """Building the URL resolver's lookups (every reverse(), every system check) must
    not import an ESP's webhook views and their dependencies."""
    import importlib
    import sys

    from django.urls import clear_url_caches

    import testproject.urls
    from anymail import registry
    from anymail.features import FeatureSupport

    lazy = registry.EspDescription(id="lazy_esp", name="Lazy", features=FeatureSupport())
    with registry.override_installed_esps([lazy]):
        importlib.reload(anymail.urls)
        importlib.reload(testproject.urls)
        clear_url_caches()
        assert reverse("anymail:lazy_esp_tracking_webhook") == "/anymail/lazy_esp/tracking/"
        assert "anymail.webhooks.lazy_esp" not in sys.modules  # (it doesn't even exist)


@pytest.mark.parametrize("recipient", [{"a": 1}, ["a@example.com"], 42])
def test_an_event_field_of_the_wrong_type_is_a_400_and_no_signal(
    fake_esp_installed, webhook_client, webhook_secret, recipient
):
    """The normalized events' fields have their documented types: a payload field of
    the wrong JSON type is refused, never passed on to receivers."""
    response, signals = webhook_client.post(
        "anymail:fake_tracking_webhook",
        {"events": [{"event": "delivered", "ts": 1700000000, "id": "m1", "to": recipient}]},
    )
    assert response.status_code == 400
    assert signals == []


def test_event_constructors_check_the_documented_types():
    from datetime import UTC, datetime

    from anymail.events import AnymailTrackingEvent

    now = datetime.now(tz=UTC)
    for bad in (
        {"recipient": 1},
        {"message_id": ["x"]},
        {"tags": "one"},
        {"tags": [1]},
        {"metadata": ["x"]},
        {"metadata": {1: "x"}},
        {"event_id": {"id": 1}},
        {"click_url": 3.5},
    ):
        with pytest.raises(TypeError):
            AnymailTrackingEvent("delivered", now, **bad)
    with pytest.raises(TypeError):
        AnymailTrackingEvent("delivered", "2024-01-01")  # a str is not a timestamp
