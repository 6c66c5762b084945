"""A small ESP that exists only in tests: it proves the registry, URL routing and
the base webhook views without any real ESP package installed.

Tracking payload: {"events": [{"event": "delivered", "ts": 1700000000, "id": "...",
"to": "...", "token": "..."}]}, signed (when FAKE_WEBHOOK_SIGNING_KEY is set) by
an X-Fake-Signature header: hex HMAC-SHA256 of "<X-Fake-Timestamp><X-Fake-Token>".
Inbound payload: a raw MIME message.
"""

import hashlib
import hmac

from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.features import EventType, FeatureSupport
from anymail.inbound import AnymailInboundMessage
from anymail.registry import EspDescription, WebhookRoute
from anymail.settings import UNSET, get_anymail_setting
from anymail.webhooks import readers
from anymail.webhooks.base import AnymailInboundWebhookView, AnymailTrackingWebhookView

esp = EspDescription(
    id="fake",
    name="Fake",
    distribution="anymail-fake-esp",
    backend="anymail.backends.test.EmailBackend",
    features=FeatureSupport.all_supported(),
    event_types=frozenset({EventType.DELIVERED, EventType.BOUNCED}),
    tracking=False,
    extra_webhooks=(
        WebhookRoute(
            "tracking/",
            "testproject.fake_esp.FakeTrackingWebhookView",
            "tracking_webhook",
            "tracking",
        ),
        WebhookRoute(
            "inbound/", "testproject.fake_esp.FakeInboundWebhookView", "inbound_webhook", "inbound"
        ),
    ),
    settings=("FAKE_WEBHOOK_SIGNING_KEY",),
)


class FakeTrackingWebhookView(AnymailTrackingWebhookView):
    esp = esp
    webhook_signing_key = UNSET

    def read_esp_settings(self, kwargs):
        self.signing_key = get_anymail_setting(
            "webhook_signing_key", esp_name=self.esp_id, kwargs=kwargs, default=None
        )
        return {}

    def validate_esp(self, request, payload):
        if not self.signing_key:
            return
        timestamp = request.headers.get("X-Fake-Timestamp", "")
        token = request.headers.get("X-Fake-Token", "")
        signature = request.headers.get("X-Fake-Signature", "")
        expected = hmac.new(
            self.signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise AnymailWebhookValidationFailure("Fake webhook called with an invalid signature")
        try:
            when = float(timestamp)
        except ValueError:
            raise AnymailWebhookValidationFailure("Fake webhook timestamp is invalid") from None
        self.check_replay(when, token, tolerance=300)

    def parse_events(self, request, payload):
        return tracking_events(payload)


def tracking_events(data):
    """The pure half: a parsed payload in, normalized events out (read through the
    typed readers: a payload of the wrong shape is a 400)."""
    return [
        AnymailTrackingEvent(
            event_type=readers.text(readers.required(item, "event"), "event"),
            timestamp=readers.epoch_timestamp(readers.required(item, "ts"), "ts"),
            event_id=readers.optional_text(item.get("token"), "token"),
            message_id=readers.text(readers.required(item, "id"), "id"),
            recipient=readers.text(readers.required(item, "to"), "to"),
            esp_event=item,
        )
        for item in readers.list_of(readers.required(data, "events"), "events")
    ]


class FakeInboundWebhookView(AnymailInboundWebhookView):
    esp = esp

    def read_payload(self, request):
        return request.body

    def parse_events(self, request, payload):
        message = AnymailInboundMessage.parse_raw_mime_bytes(request.body)
        return [AnymailInboundEvent(message=message, esp_event=request)]
