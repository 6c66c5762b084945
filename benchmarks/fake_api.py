"""A fake ESP API for the benchmarks, run as its own process on 127.0.0.1.

It is the ESP's conformance fake API, whatever that is: the profile's own ``server()`` (a
``FakeESPServer`` answering through the profile, or, for an ESP whose SDK talks to moto,
moto's server behind the profile's counting proxy), so both clients are timed against the
same server, and the server's CPU (moto's included) is not the client's. Started by
``bench.py``; prints its URL on the first line of stdout and serves until its standard input
closes.

Control endpoints (not ESP API paths), used by the orchestrator and the workers between runs:

- ``POST /_bench/reset`` with ``{"delay": seconds}``: forget recorded requests and
  connections and answer every API call after ``delay`` (a realistic round trip).
- ``GET /_bench/stats``: connections opened and API calls received since the reset, and the
  last API call (path, query, headers, base64 body), so the floor can post the very same body.

The counts are the profile's server's: every fake API counts the TCP connections its clients
open (moto's is behind a FakeESPServer proxy that counts them), and every request that
reaches the profile's answer is an API call.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import urllib.parse
from typing import Any

from anymail_conformance import FakeResponse, RecordedRequest
from anymail_conformance.profiles import load_profile

CONTROL = "/_bench/"


class BenchServer:
    """The profile's fake API with the control endpoints in front of its answers."""

    def __init__(self, esp_id: str) -> None:
        self.profile = load_profile(esp_id)
        self.delay = 0.0
        self.calls = 0
        self.connections_at_reset = 0
        self.last: RecordedRequest | None = None
        self.lock = threading.Lock()
        self.server: Any = None
        # Every profile's server answers through ``self.respond(request, scenario)``,
        # looked up when a request arrives: answering through ours puts the control
        # endpoints and the counts in front of it, whatever the server is.
        self.respond = self.profile.respond
        self.profile.respond = self.answer

    def answer(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        if request.path == CONTROL + "reset":
            settings = json.loads(request.body or b"{}")
            with self.lock:
                self.delay = float(settings.get("delay", 0.0))
                self.calls = 0
                self.last = None
                # this reset request's own connection is not the client's
                self.connections_at_reset = self.server.connection_count
            self.server.requests.clear()
            return FakeResponse.json({"ok": True})
        if request.path == CONTROL + "stats":
            with self.lock:
                last = self.last
                stats: dict[str, Any] = {
                    # nor is this stats request's own
                    "connections": self.server.connection_count - self.connections_at_reset - 1,
                    "calls": self.calls,
                    "last": None
                    if last is None
                    else {
                        "path": last.path
                        + (
                            "?" + urllib.parse.urlencode(last.query, doseq=True)
                            if last.query
                            else ""
                        ),
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
        response = self.respond(request, "success")
        if response.status == 400 and tolerated_by_the_live_api(self.profile, request):
            response = FakeResponse(
                202, b"", {"Content-Type": "text/plain", "X-Message-Id": "fake-id"}
            )
        response.delay = delay
        return response


def quiet_servers() -> None:
    """No line per request from werkzeug (moto's server) on the orchestrator's stderr."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def tolerated_by_the_live_api(profile: Any, request: RecordedRequest) -> bool:
    """A quirk of django-anymail's requests, keyed by what it is about (not by ESP): it sends
    metadata as a top-level ``custom_args`` object, which the ESP's published schema (and so
    its profile) types as a string but which the live API accepts. A request the profile
    refuses only for that is answered as accepted; any other problem is still refused."""
    if not hasattr(profile, "request_problems"):
        return False
    try:
        body = request.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("custom_args"), dict):
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
    return not profile.request_problems(retry)


def main() -> None:
    quiet_servers()
    bench = BenchServer(sys.argv[1])
    with bench.profile.server() as server:
        bench.server = server
        bench.connections_at_reset = server.connection_count
        print(server.url, flush=True)
        sys.stdin.read()  # serve until the orchestrator closes our stdin (or exits)


if __name__ == "__main__":
    main()
