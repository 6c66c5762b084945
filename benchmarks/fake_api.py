"""A fake ESP API for the benchmarks, run as its own process on 127.0.0.1.

It is the conformance suite's fake server for the ESP (``anymail_conformance.FakeESPServer``
answering through the ESP's conformance profile), so both clients are timed against the same
server, and the server's own CPU is not the client's. Started by ``bench.py``; prints its URL on
the first line of stdout and serves until its standard input closes.

Control endpoints (not ESP API paths), used by the orchestrator between runs:

- ``POST /_bench/reset`` with ``{"delay": seconds}``: forget recorded requests and connections
  and answer every API call after ``delay`` (a realistic round trip).
- ``GET /_bench/stats``: connections opened and API calls received since the reset, and the
  last API call (path, headers, base64 body), so the floor can post the very same body.

Mailjet: django-anymail sends through Mailjet's v3.1 Send API, which the conformance profile
(written for the v3 API that Anymail 6.0 uses) doesn't answer; ``mailjet_v31`` answers it with
the response shape Mailjet documents for v3.1 (a ``Messages`` list with one result per message).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import uuid
from typing import Any

from anymail_conformance import FakeESPServer, FakeResponse, RecordedRequest
from anymail_conformance.profiles import load_profile


class BenchServer:
    def __init__(self, esp_id: str) -> None:
        self.profile = load_profile(esp_id)
        self.esp_id = esp_id
        self.delay = 0.0
        self.calls = 0
        self.last: RecordedRequest | None = None
        self.lock = threading.Lock()
        self.server = FakeESPServer(self.answer)

    def answer(self, request: RecordedRequest) -> FakeResponse:
        if request.path == "/_bench/reset":
            settings = json.loads(request.body or b"{}")
            with self.lock:
                self.delay = float(settings.get("delay", 0.0))
                self.calls = 0
                self.last = None
            self.server.reset()
            return FakeResponse.json({"ok": True})
        if request.path == "/_bench/stats":
            with self.lock:
                last = self.last
                stats: dict[str, Any] = {
                    # this stats request's own connection is not the client's
                    "connections": self.server.connection_count - 1,
                    "calls": self.calls,
                    "last": None
                    if last is None
                    else {
                        "path": last.path,
                        "headers": dict(last.headers),
                        "body": base64.b64encode(last.body).decode(),
                    },
                }
            return FakeResponse.json(stats)
        with self.lock:
            self.calls += 1
            self.last = request
            delay = self.delay
        # The server keeps no request log between resets beyond the last one.
        self.server.requests.clear()
        if self.esp_id == "mailjet" and request.path.startswith("/v3.1/"):
            response = mailjet_v31(request)
        else:
            response = self.profile.respond(request, "success")
            if self.esp_id == "sendgrid" and response.status == 400 and sendgrid_tolerated(request):
                response = FakeResponse(
                    202, b"", {"Content-Type": "text/plain", "X-Message-Id": "fake-id"}
                )
        response.delay = delay
        return response


def sendgrid_tolerated(request: RecordedRequest) -> bool:
    """django-anymail sends metadata as a top-level ``custom_args`` object, which SendGrid's
    published schema (and so the profile) types as a string, but which the live API accepts.
    The benchmark answers it as SendGrid does; any other problem is still refused."""
    body = request.json()
    if not isinstance(body.get("custom_args"), dict):
        return False
    body = {key: value for key, value in body.items() if key != "custom_args"}
    retry = RecordedRequest(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=json.dumps(body).encode(),
        connection_id=request.connection_id,
    )
    return not load_profile("sendgrid").request_problems(retry)


def mailjet_v31(request: RecordedRequest) -> FakeResponse:
    """Mailjet's v3.1 Send API success answer: one result per message, one id per recipient."""
    messages = request.json().get("Messages", [])
    results = []
    for message in messages:
        recipients = [
            {
                "Email": to["Email"],
                "MessageUUID": str(uuid.uuid4()),
                "MessageID": 576460752000000000 + index,
                "MessageHref": f"https://api.mailjet.com/v3/REST/message/{index}",
            }
            for index, to in enumerate(
                message.get("To", []) + message.get("Cc", []) + message.get("Bcc", [])
            )
        ]
        results.append({"Status": "success", "CustomID": "", "To": recipients, "Cc": [], "Bcc": []})
    return FakeResponse.json({"Messages": results})


def main() -> None:
    bench = BenchServer(sys.argv[1])
    with bench.server as server:
        print(server.url, flush=True)
        sys.stdin.read()  # serve until the orchestrator closes our stdin (or exits)


if __name__ == "__main__":
    main()
