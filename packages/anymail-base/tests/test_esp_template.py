"""The ESP template that every ESP package builds on: identity derived from the
EspDescription, payload hooks that follow the declaration, the finish() step, and
webhook views split into reading the request and converting the payload."""

import pytest
from django.http import QueryDict

from anymail.backends.base_requests import AnymailRequestsBackend
from anymail.exceptions import AnymailUnsupportedFeature
from anymail.features import FeatureSupport, Support
from anymail.message import AnymailMessage, AnymailRecipientStatus
from anymail.registry import EspDescription, WebhookRoute
from anymail.webhooks.base import AnymailTrackingWebhookView
from anymail_conformance import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import JsonPayload

ESP = EspDescription(
    id="tiny_esp",
    name="Tiny ESP",
    # declares tags supported but (below) forgets to implement set_tags;
    # declares metadata "no" and implements nothing for it
    features=FeatureSupport.all_supported().replace(metadata="no"),
    inbound=True,
)


class TinyPayload(JsonPayload):
    def init_payload(self):
        super().init_payload()
        self.finished_with = None

    def get_api_endpoint(self):
        return "send"

    def set_html_body(self, body):
        self.body["html"] = body

    def finish(self):
        # runs after every hook: sees the whole body
        self.finished_with = sorted(self.body)


class EmailBackend(AnymailRequestsBackend):
    esp = ESP
    payload_class = TinyPayload

    def __init__(self, **kwargs):
        super().__init__(kwargs.pop("api_url"), **kwargs)

    def parse_recipient_status(self, response, payload, message):
        return {
            email.addr_spec: AnymailRecipientStatus(message_id="1", status="queued")
            for email in payload.data.all_recipients
        }


def test_identity_is_derived_from_the_description():
    assert (ESP.distribution, ESP.backend) == (
        "anymail-tiny-esp",
        "anymail.backends.tiny_esp.EmailBackend",
    )
    assert [(r.path, r.view, r.name) for r in ESP.webhooks] == [
        ("tracking/", "anymail.webhooks.tiny_esp.TinyESPTrackingWebhookView", "tracking_webhook"),
        ("inbound/", "anymail.webhooks.tiny_esp.TinyESPInboundWebhookView", "inbound_webhook"),
    ]
    assert (EmailBackend.esp_name, EmailBackend.esp_id) == ("Tiny ESP", "tiny_esp")
    assert EmailBackend.features is ESP.features
    assert EmailBackend.distribution == "anymail-tiny-esp"


def test_routes_can_be_all_custom():
    combined = EspDescription(
        id="combo",
        name="Combo",
        features=FeatureSupport.all_supported(),
        inbound=True,
        standard_routes=False,
        extra_webhooks=(
            WebhookRoute("", "ComboView", "webhook"),
            WebhookRoute("tracking/", "ComboView", "tracking_webhook"),
        ),
    )
    assert [(r.path, r.view) for r in combined.webhooks] == [
        ("", "anymail.webhooks.combo.ComboView"),
        ("tracking/", "anymail.webhooks.combo.ComboView"),
    ]


@pytest.fixture
def tiny_api(settings):
    with FakeESPServer(lambda request: FakeResponse.json({"ok": True})) as server:
        yield server


def send(server, **kwargs):
    message = AnymailMessage(
        subject="Hi", body="Text", from_email="from@example.com", to=["to@example.com"], **kwargs
    )
    backend = EmailBackend(api_url=f"{server.url}/")
    sent = backend.send_messages([message])
    return message, sent


def test_finish_runs_after_every_hook(tiny_api):
    backend = EmailBackend(api_url=f"{tiny_api.url}/")
    message = AnymailMessage(
        subject="Hi", body="x", from_email="f@example.com", to=["t@example.com"]
    )
    payload = backend.build_message_payload(message, {})
    assert payload.finished_with == ["from", "subject", "text", "to"]


def test_a_hook_declared_supported_but_not_implemented_is_a_programming_error(tiny_api):
    with pytest.raises(TypeError, match=r"TinyPayload must implement set_tags\(\).*tags=yes"):
        send(tiny_api, tags=["welcome"])
    assert tiny_api.requests == []


def test_a_feature_declared_unsupported_never_reaches_a_hook(tiny_api, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="Tiny ESP does not support metadata"):
        send(tiny_api, metadata={"order": "1"})
    assert tiny_api.requests == []
    settings.ANYMAIL = {"IGNORE_UNSUPPORTED_FEATURES": True}
    _message, sent = send(tiny_api, metadata={"order": "1"})
    assert sent == 1
    assert "metadata" not in tiny_api.requests[-1].json()


def test_an_unimplemented_hook_of_a_feature_declared_no_is_unsupported(settings):
    """A hook called by the ESP's own code for a feature it declares "no" (a
    context-dependent path) still follows the declaration."""
    backend_class = type("B", (EmailBackend,), {"features": ESP.features})
    payload = TinyPayload.__new__(TinyPayload)
    payload.backend = backend_class(api_url="http://127.0.0.1:9/")
    payload.esp_name = "Tiny ESP"
    payload.message = None
    assert payload.backend.features["metadata"] is Support.NO
    with pytest.raises(AnymailUnsupportedFeature):
        payload.set_metadata({"a": "b"})
    settings.ANYMAIL = {"IGNORE_UNSUPPORTED_FEATURES": True}
    payload.backend = backend_class(api_url="http://127.0.0.1:9/")
    payload.set_metadata({"a": "b"})  # dropped, no error


# --- webhooks: reading the request vs converting the payload


def tiny_events(payload):
    """A pure converter: payload in, events out. It reads the payload through the
    typed readers, so a payload of the wrong shape is a ValueError (a 400)."""
    from anymail.events import AnymailTrackingEvent
    from anymail.webhooks import readers

    return [
        AnymailTrackingEvent(
            event_type=readers.text(readers.required(item, "type"), "type"),
            timestamp=readers.epoch_timestamp(readers.required(item, "ts"), "ts"),
            recipient=readers.optional_text(item.get("to"), "to"),
            esp_event=item,
        )
        for item in readers.list_of(payload, "payload")
    ]


class TinyTrackingWebhookView(AnymailTrackingWebhookView):
    esp = ESP

    def reject_early(self, request, payload):
        if isinstance(payload, QueryDict):
            return "Tiny ESP posts JSON; this looks like a form post for another URL."
        return None

    def parse_events(self, request, payload):
        return tiny_events(payload)


@pytest.fixture
def tiny_view_url(settings):
    from django.urls import clear_url_caches, path

    settings.ROOT_URLCONF = type(
        "urls", (), {"urlpatterns": [path("tiny/", TinyTrackingWebhookView.as_view())]}
    )
    clear_url_caches()
    yield "/tiny/"
    clear_url_caches()


def test_view_takes_its_name_from_the_description():
    assert (TinyTrackingWebhookView.esp_name, TinyTrackingWebhookView.esp_id) == (
        "Tiny ESP",
        "tiny_esp",
    )


def test_view_reads_then_converts(client, tiny_view_url, settings):
    from anymail.testing import SignalCapture

    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    auth = {"Authorization": "Basic dTpw"}
    with SignalCapture() as capture:
        response = client.post(
            tiny_view_url,
            [{"type": "delivered", "ts": 1700000000, "to": "a@example.com"}],
            content_type="application/json",
            headers=auth,
        )
    assert response.status_code == 200
    assert [e.recipient for e in capture.events] == ["a@example.com"]

    # reject_early: a 400 that says what is wrong, and no signal
    with SignalCapture() as capture:
        response = client.post(tiny_view_url, {"event": "x"}, headers=auth)
    assert response.status_code == 400
    assert b"looks like a form post" in response.content
    assert capture.events == []

    # a body read_payload can't read, and a payload the converter can't convert: 400
    for body, content_type in ((b"{nope", "application/json"), (b'[{"x": 1}]', "application/json")):
        response = client.post(tiny_view_url, body, content_type=content_type, headers=auth)
        assert response.status_code == 400


def test_head_is_answered_after_basic_auth(client, tiny_view_url, settings):
    """Some ESPs (Mandrill) check a webhook URL with HEAD before posting to it."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    assert client.head(tiny_view_url, headers={"Authorization": "Basic dTpw"}).status_code == 200
    assert client.head(tiny_view_url).status_code == 400
    assert client.get(tiny_view_url).status_code == 405


class SettingsUrlBackend(EmailBackend):
    """Reads <ESP>_API_URL itself (default_api_url), like the ESP packages."""

    default_api_url = "https://api.tiny.example/v1"

    def __init__(self, **kwargs):
        AnymailRequestsBackend.__init__(self, **kwargs)


@pytest.mark.parametrize("source", ["default", "setting", "keyword"])
def test_api_url_always_ends_in_a_slash(settings, source):
    """Wherever the URL comes from: the default, TINY_ESP_API_URL, or a backend keyword
    (a MAILERS option), which Python hands over as the api_url argument itself."""
    if source == "setting":
        settings.ANYMAIL = {"TINY_ESP_API_URL": "https://eu.tiny.example/v1"}
        backend = SettingsUrlBackend()
    elif source == "keyword":
        backend = SettingsUrlBackend(api_url="https://eu.tiny.example/v1")
    else:
        backend = SettingsUrlBackend()
    assert backend.api_url.endswith("/v1/")
    assert backend.api_url.startswith("https://eu." if source != "default" else "https://api.")
