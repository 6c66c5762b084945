"""The requests-based backend (docs 1.2.4 REQUESTS_TIMEOUT, 1.3.6 AnymailAPIError,
1.6.6 batch send performance), against a real HTTP server on 127.0.0.1.

``ExampleBackend`` is the smallest ESP a package could write on top of
``AnymailRequestsBackend``: it posts JSON with a bearer token and reads a
per-recipient status back."""

import base64
import socket

import pytest
import requests
from django.core import mail

from anymail.backends.base_requests import AnymailRequestsBackend
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from anymail.message import AnymailMessage, AnymailRecipientStatus
from anymail.settings import get_anymail_setting
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import JsonPayload

API_KEY = "sk_test_0123456789abcdef"


class ExamplePayload(JsonPayload):
    def init_payload(self):
        self.headers["Authorization"] = f"Bearer {self.backend.api_key}"
        self.headers["Content-Type"] = "application/json"
        self.body = {"key": self.backend.api_key}

    def get_api_endpoint(self):
        return "/v1/send"

    def set_metadata(self, metadata):
        self.body["metadata"] = metadata


class ExampleBackend(AnymailRequestsBackend):
    esp_name = "Example"
    esp_id = "example"
    secret_attributes = ("api_key",)

    def __init__(self, **kwargs):
        self.api_key = get_anymail_setting(
            "api_key", esp_name=self.esp_id, kwargs=kwargs, allow_bare=True
        )
        api_url = get_anymail_setting("api_url", esp_name=self.esp_id, kwargs=kwargs)
        super().__init__(api_url, **kwargs)

    def build_message_payload(self, message, defaults):
        return ExamplePayload(message, defaults, self)

    def parse_recipient_status(self, response, payload, message):
        parsed = self.deserialize_json_response(response, payload, message)
        return {
            email: AnymailRecipientStatus(message_id=parsed["id"], status=status)
            for email, status in parsed["recipients"].items()
        }


def accept_all(request):
    body = request.json()
    recipients = [*body.get("to", []), *body.get("cc", [])]
    return FakeResponse.json(
        {
            "id": f"msg-{len(request.body)}",
            "recipients": {to.rpartition("<")[2].rstrip(">"): "queued" for to in recipients},
        }
    )


@pytest.fixture
def server():
    with FakeESPServer(accept_all) as fake:
        yield fake


@pytest.fixture
def backend(server):
    return ExampleBackend(api_key=API_KEY, api_url=server.url)


def new_message(connection, **kwargs):
    kwargs.setdefault("to", ["to@example.com"])
    return AnymailMessage(
        subject="Subject",
        body="Body",
        from_email="from@example.com",
        connection=connection,
        **kwargs,
    )


def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- sending -----------------------------------------------------------------------


def test_sends_the_payload_and_parses_the_status(server, backend):
    message = new_message(backend, to=["Name <to@example.com>"], metadata={"order": "12345"})
    assert message.send() == 1
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/send")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith("anymail-base/")
    assert request.json() == {
        "key": API_KEY,
        "from": "from@example.com",
        "to": ["Name <to@example.com>"],
        "subject": "Subject",
        "text": "Body",
        "metadata": {"order": "12345"},
    }
    status = message.anymail_status
    assert status.status == {"queued"}
    assert status.recipients["to@example.com"].status == "queued"
    assert status.message_id.startswith("msg-")
    # esp_response is the requests Response.
    assert status.esp_response.json()["id"] == status.message_id


def test_all_recipients_refused(server, backend):
    server.response = FakeResponse.json({"id": "x", "recipients": {"to@example.com": "rejected"}})
    message = new_message(backend)
    with pytest.raises(AnymailRecipientsRefused):
        message.send()
    assert message.anymail_status.recipients["to@example.com"].status == "rejected"


def test_api_key_from_bare_setting(settings, server):
    settings.EXAMPLE_API_KEY = API_KEY
    settings.ANYMAIL = {"EXAMPLE_API_URL": server.url}
    new_message(ExampleBackend()).send()
    assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


# --- one session per open connection ------------------------------------------------


def test_send_messages_reuses_one_connection_and_closes_it(server, backend):
    messages = [new_message(backend, to=[f"to{n}@example.com"]) for n in range(3)]
    assert backend.send_messages(messages) == 3
    assert len(server.requests) == 3
    assert server.connection_count == 1
    assert len({request.connection_id for request in server.requests}) == 1
    # send_messages opened the session, so it closed it afterwards.
    assert backend.session is None


def test_open_connection_is_reused_across_send_messages_until_close(server, backend):
    assert backend.open() is True
    session = backend.session
    assert backend.open() is False  # already open: the caller mustn't close it
    backend.send_messages([new_message(backend)])
    backend.send_messages([new_message(backend), new_message(backend)])
    assert backend.session is session
    assert len(server.requests) == 3
    assert server.connection_count == 1

    backend.close()
    assert backend.session is None
    # close() released the pooled connection...
    assert len(session.get_adapter(server.url).poolmanager.pools) == 0
    # ...so the next send opens a new one.
    backend.send_messages([new_message(backend)])
    assert server.connection_count == 2
    backend.close()  # closing twice is harmless


def test_connection_as_context_manager(server, backend):
    with backend as connection:
        mail.send_mass_mail(
            [("s", "b", "from@example.com", [f"to{n}@example.com"]) for n in range(2)],
            connection=connection,
        )
        assert connection.session is not None
    assert backend.session is None
    assert len(server.requests) == 2
    assert server.connection_count == 1


# --- the environment (proxies, CA bundle), read once per connection ---------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def clean_proxy_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used(server, clean_proxy_environment):
    """HTTP_PROXY is honoured: the API host below resolves nowhere, so the message
    only arrives if it went through the proxy (the fake server, which records the
    absolute URL a proxy is sent)."""
    clean_proxy_environment.setenv("HTTP_PROXY", server.url)
    backend = ExampleBackend(api_key=API_KEY, api_url="http://api.example.invalid")
    messages = [new_message(backend, to=[f"to{n}@example.com"]) for n in range(2)]
    assert backend.send_messages(messages) == 2
    assert [request.path for request in server.requests] == ["/v1/send", "/v1/send"]
    assert server.requests[0].headers["Host"] == "api.example.invalid"


def test_no_proxy_from_the_environment_is_honoured(server, clean_proxy_environment):
    clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")
    clean_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    assert new_message(backend).send() == 1


def test_the_environment_is_read_once_per_connection(server, clean_proxy_environment):
    """Per-message work done once: requests would scan the environment for every
    request; the backend reads it when it opens the connection, and sees a change
    from the next one."""
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    with backend as connection:
        assert connection.session.trust_env is False
        # a proxy that refuses everything, set while the connection is open: not used
        clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")
        assert new_message(connection).send() == 1
    with pytest.raises(AnymailRequestsAPIError, match="ProxyError"):
        new_message(backend).send()  # a new connection reads the new environment


def test_a_ca_bundle_from_the_environment_is_used(server, clean_proxy_environment, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    clean_proxy_environment.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    with backend as connection:
        assert connection.session.verify == str(bundle)


# --- REQUESTS_TIMEOUT ---------------------------------------------------------------


class RecordingSession(requests.Session):
    """A real Session that remembers the timeout of each request."""

    def __init__(self):
        super().__init__()
        self.timeouts = []

    def request(self, method, url, **kwargs):
        self.timeouts.append(kwargs.get("timeout", "not given"))
        return super().request(method, url, **kwargs)


class RecordingBackend(ExampleBackend):
    sessions = []

    def create_session(self):
        session = RecordingSession()
        session.headers.update(super().create_session().headers)
        self.sessions.append(session)
        return session


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param({}, 30.0, id="default-30"),
        pytest.param({"REQUESTS_TIMEOUT": 2.5}, 2.5, id="float"),
        pytest.param({"REQUESTS_TIMEOUT": (3.05, 27)}, (3.05, 27), id="tuple"),
        pytest.param({"REQUESTS_TIMEOUT": None}, None, id="none"),
    ],
)
def test_requests_timeout_is_passed_to_every_request(settings, server, setting, expected):
    settings.ANYMAIL = setting
    backend = RecordingBackend(api_key=API_KEY, api_url=server.url)
    RecordingBackend.sessions = []
    backend.send_messages([new_message(backend), new_message(backend)])
    [session] = RecordingBackend.sessions
    assert session.timeouts == [expected, expected]


def test_requests_timeout_keyword_overrides_the_setting(settings, server):
    settings.ANYMAIL = {"REQUESTS_TIMEOUT": 10}
    assert ExampleBackend(api_key=API_KEY, api_url=server.url, requests_timeout=5).timeout == 5


@pytest.mark.parametrize("timeout", ["30", (1, 2, 3), True])
def test_invalid_requests_timeout_is_a_configuration_error(settings, timeout):
    settings.ANYMAIL = {"REQUESTS_TIMEOUT": timeout}
    with pytest.raises(AnymailConfigurationError, match="REQUESTS_TIMEOUT"):
        ExampleBackend(api_key=API_KEY, api_url="http://127.0.0.1:1")


@pytest.mark.parametrize("timeout", [0.2, (5, 0.2)], ids=["float", "tuple"])
def test_a_slow_esp_times_out(settings, server, timeout):
    settings.ANYMAIL = {"REQUESTS_TIMEOUT": timeout}
    server.response = FakeResponse.json({"id": "late", "recipients": {}}, delay=2)
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert isinstance(excinfo.value.orig_err, requests.Timeout)
    assert "ReadTimeout" in str(excinfo.value)
    assert excinfo.value.status_code is None


# --- DEBUG_API_REQUESTS ---------------------------------------------------------------


def test_debug_api_requests_prints_request_and_response_redacted(settings, server, capsys):
    settings.ANYMAIL = {"DEBUG_API_REQUESTS": True}
    server.response = FakeResponse.json(
        {"id": "msg-1", "recipients": {"to@example.com": "queued"}, "echo": f"key {API_KEY}"},
        headers={"X-Request-Id": "req-42"},
    )
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    new_message(backend, metadata={"order": "12345"}).send()
    output = capsys.readouterr().out
    assert f"POST {server.url}/v1/send" in output
    assert "Authorization: Bearer ********" in output
    assert '"metadata":{"order":"12345"}' in output
    assert '"key":"********"' in output
    assert "===== Response: 200" in output
    assert "X-Request-Id: req-42" in output
    assert '"id": "msg-1"' in output
    assert API_KEY not in output


def test_debug_api_requests_redacts_basic_auth(settings, server, capsys):
    # The header holds the key base64-encoded, so only redacting by header name hides it.
    class BasicAuthPayload(ExamplePayload):
        def init_payload(self):
            super().init_payload()
            del self.headers["Authorization"]
            self.auth = ("api", self.backend.api_key)

    settings.ANYMAIL = {"DEBUG_API_REQUESTS": True}
    server.response = FakeResponse.json({"id": "msg-1", "recipients": {}})
    backend = ExampleBackend(api_key=API_KEY, api_url=server.url)
    backend.build_message_payload = lambda message, defaults: BasicAuthPayload(
        message, defaults, backend
    )
    new_message(backend).send()
    encoded = base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {encoded}"
    output = capsys.readouterr().out
    assert "Authorization: Basic ********" in output
    assert encoded not in output


def test_no_debug_output_by_default(server, backend, capsys):
    new_message(backend).send()
    assert capsys.readouterr().out == ""


# --- API errors ---------------------------------------------------------------------------


def assert_api_error(error, status_code):
    assert isinstance(error, AnymailAPIError)
    assert isinstance(error, requests.RequestException)
    assert error.status_code == status_code
    assert API_KEY not in str(error)


def test_4xx_error_describes_the_esps_error_body(server, backend):
    server.response = FakeResponse.json({"message": "'to' must be a valid email"}, status=400)
    message = new_message(backend)
    with pytest.raises(requests.RequestException) as excinfo:
        message.send()
    error = excinfo.value
    assert_api_error(error, 400)
    assert error.response.status_code == 400
    assert error.email_message is message
    text = str(error)
    assert "Example API response 400 Bad Request" in text
    assert "'to' must be a valid email" in text
    assert message.anymail_status.message_id is None
    assert message.anymail_status.recipients == {}


def test_5xx_error_with_a_text_body(server, backend):
    server.response = FakeResponse(
        status=503, body="Down for maintenance", headers={"Content-Type": "text/plain"}
    )
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert_api_error(excinfo.value, 503)
    assert "503 Service Unavailable: Down for maintenance" in str(excinfo.value)


def test_malformed_json_in_a_success_response(server, backend):
    server.response = FakeResponse(status=200, body=b"{not json")
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert_api_error(excinfo.value, 200)
    text = str(excinfo.value)
    assert "Invalid JSON in Example API response" in text
    assert "{not json" in text


def test_connection_refused(backend):
    backend.api_url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert_api_error(excinfo.value, None)
    assert isinstance(excinfo.value.orig_err, requests.ConnectionError)
    assert "ConnectionError" in str(excinfo.value)
    assert backend.api_url in str(excinfo.value)


def test_dropped_connection(server, backend):
    server.response = FakeResponse(action="drop")
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert_api_error(excinfo.value, None)


def test_secrets_never_appear_in_the_exception(backend):
    # requests' own error text includes the URL, here carrying the key as a query param.
    backend.api_url = f"http://127.0.0.1:{unused_port()}"

    class KeyInUrlPayload(ExamplePayload):
        def get_api_endpoint(self):
            return f"/v1/send?key={self.backend.api_key}"

    backend.build_message_payload = lambda message, defaults: KeyInUrlPayload(
        message, defaults, backend
    )
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    text = str(excinfo.value)
    assert "/v1/send?key=********" in text
    assert API_KEY not in text


def test_secret_echoed_in_error_response_is_redacted(server, backend):
    server.response = FakeResponse.json({"error": f"Invalid API key {API_KEY}"}, status=401)
    with pytest.raises(AnymailRequestsAPIError) as excinfo:
        new_message(backend).send()
    assert_api_error(excinfo.value, 401)
    assert "Invalid API key ********" in str(excinfo.value)


def test_api_error_with_fail_silently(server, backend):
    server.response = FakeResponse.json({"message": "nope"}, status=500)
    backend.fail_silently = True
    assert backend.send_messages([new_message(backend), new_message(backend)]) == 0
    assert len(server.requests) == 2


class BasicAuthPayload(ExamplePayload):
    def init_payload(self):
        super().init_payload()
        del self.headers["Authorization"]
        self.auth = ("api", self.backend.api_key)


class BasicAuthBackend(ExampleBackend):
    def build_message_payload(self, message, defaults):
        return BasicAuthPayload(message, defaults, self)


@pytest.mark.parametrize("backend_class", [ExampleBackend, BasicAuthBackend])
def test_no_secret_in_djangos_error_reports(settings, backend_class):
    """Django's HTML and text error reports (DEBUG pages, AdminEmailHandler) show each
    frame's locals; the request's auth and headers must not appear there, raw or in
    base64 (basic auth)."""
    import base64
    import sys

    from django.test import RequestFactory
    from django.views.debug import ExceptionReporter

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    backend = backend_class(api_key=API_KEY, api_url=closed)
    try:
        backend.send_messages([new_message(connection=None)])
    except AnymailRequestsAPIError:
        exc_info = sys.exc_info()
    else:
        pytest.fail("the send should fail")
    reporter = ExceptionReporter(RequestFactory().get("/"), *exc_info)
    # (the expected strings are computed inline: a local here would be in the report)
    for report in (reporter.get_traceback_html(), reporter.get_traceback_text()):
        assert API_KEY not in report
        assert base64.b64encode(f"api:{API_KEY}".encode()).decode() not in report
    assert API_KEY not in str(exc_info[1]) + repr(exc_info[1]) + repr(backend)


def test_redact_finds_secrets_inside_base64():
    import base64

    from anymail.exceptions import redact

    basic = base64.b64encode(b"api:key-1234567890").decode()
    text = f"Authorization: Basic {basic} and key-1234567890 and c2hvcnQ="
    assert redact(text, ["key-1234567890"]) == (
        "Authorization: Basic ******** and ******** and c2hvcnQ="
    )
