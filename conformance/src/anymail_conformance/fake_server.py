"""A real HTTP server on 127.0.0.1, in a thread of the test process, standing in
for an ESP's API.

It records every request (with the TCP connection it arrived on, so tests can
prove connection reuse) and answers as told: a fixed response, a callable, a
malformed body, a dropped connection, or a slow answer for timeout tests.
Nothing in requests or boto3 is patched: the backend under test does real HTTP.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeESPServer", "FakeResponse", "FormField", "RecordedRequest"]


@dataclass
class FakeResponse:
    """What the fake server answers. ``action`` may be "respond" (default),
    "drop" (close the connection without answering) or "delay" (sleep ``delay``
    seconds first)."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"
    delay: float = 0.0

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> FakeResponse:
        headers = {"Content-Type": "application/json", **(headers or {})}
        return cls(status=status, body=json.dumps(data), headers=headers, **kwargs)

    def encoded_body(self) -> bytes:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body


@dataclass
class FormField:
    """One field of a form post (a file upload has a filename and content type)."""

    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    connection_id: int

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type() if self.headers.get("Content-Type") else ""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form_fields(self) -> list[FormField]:
        """Every field of a urlencoded or multipart/form-data body, in order."""
        if self.content_type == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)
            return [FormField(name, value.encode("utf-8")) for name, value in pairs]
        if self.content_type == "multipart/form-data":
            raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.body
            parsed = BytesParser(policy=HTTP).parsebytes(raw)
            fields = []
            for part in parsed.iter_parts():
                params = dict(part.get_params(header="content-disposition") or [])
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                content = part.get_payload(decode=True) or b""
                content_type = part.get_content_type() if part.get("Content-Type") else None
                fields.append(
                    FormField(
                        name=str(name if name is not None else params.get("name", "")),
                        value=content,
                        filename=filename,
                        content_type=content_type,
                        headers={key: str(value) for key, value in part.items()},
                    )
                )
            return fields
        raise ValueError(f"Not a form post: {self.content_type!r}")

    def form(self) -> dict[str, list[str]]:
        """Non-file form fields as {name: [values]}."""
        result: dict[str, list[str]] = {}
        for form_field in self.form_fields():
            if form_field.filename is None:
                result.setdefault(form_field.name, []).append(form_field.text)
        return result

    def files(self) -> list[FormField]:
        return [form_field for form_field in self.form_fields() if form_field.filename is not None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    # Send each response at once: with Nagle's algorithm, a small response on a reused
    # connection waits for the client's delayed ACK (about 40 ms a call).
    disable_nagle_algorithm = True
    server: FakeESPServer

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.next_connection_id()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            connection_id=self.connection_id,
        )
        response = self.server.record_and_respond(request)
        if response.action == "drop":
            self.close_connection = True
            return
        if response.delay:
            time.sleep(response.delay)
        payload = response.encoded_body()
        try:
            self.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a timeout test): nothing to answer.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class FakeESPServer(ThreadingHTTPServer):
    """Use as a context manager::

    with FakeESPServer(FakeResponse.json({"id": "abc"})) as server:
        ... point the backend at server.url ...
        assert server.requests[0].form()["to"] == [...]
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        response: FakeResponse | Callable[[RecordedRequest], FakeResponse] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.response = response or FakeResponse.json({})
        self.requests: list[RecordedRequest] = []
        self._connection_ids = itertools.count(1)
        self._connections = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def connection_count(self) -> int:
        """How many TCP connections clients have opened."""
        with self._lock:
            return self._connections

    def next_connection_id(self) -> int:
        with self._lock:
            self._connections += 1
            return next(self._connection_ids)

    def record_and_respond(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
        response = self.response
        return response(request) if callable(response) else response

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._connections = 0

    def start(self) -> FakeESPServer:
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeESPServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeESPServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
