"""Load test for every installed ESP's webhooks, through a real server.

    python scripts/webhook_load.py [--posts 3000] [--concurrency 200] [--workers 4] [--esp ID]

Serves the test project under gunicorn on 127.0.0.1 (a file database shared by the
workers, for the replay store), then, for each installed ESP with a conformance
profile, posts ``--posts`` webhooks built from its fixtures (each re-signed where the
ESP signs) from ``--concurrency`` threads; then replays a tenth of those posts byte
for byte, and posts one body ``--burst`` times at once. A receiver records each event
it is signalled, by ``event_id``.

Prints, per ESP: posts, 5xx answers, other non-2xx answers, posts with no answer,
the distinct events the answered posts carried (each post's events read in this
process with the ESP's own view, ids as the view derives them), the events
received, the events lost (carried, never received) and the duplicates received
(received more than once). Exits 1 unless every ESP had no 5xx, no other error, no
unanswered post, no lost event and no duplicate.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000, help="signed posts per ESP")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--esp", action="append", help="only these ESP ids")
    parser.add_argument("--burst", type=int, default=50, help="copies of one body at once")
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    import django

    django.setup()
    import requests

    from anymail_conformance.fixtures import SECRET, load_fixtures
    from anymail_conformance.profiles import esps_under_test

    esps = [
        e
        for e in esps_under_test()
        if (not args.esp or e.id in args.esp) and not e.esp.superseded_by
    ]
    anymail_settings: dict = {"WEBHOOK_SECRET": SECRET}
    for esp in esps:
        anymail_settings.update(esp.profile.webhook_settings())
    from django.conf import settings

    settings.ANYMAIL = anymail_settings  # (this process reads each post's events too)

    work = Path(tempfile.mkdtemp(prefix="anymail-load-"))
    events_dir = work / "events"
    events_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproject.load_settings",
        "ANYMAIL_LOAD_DB": str(work / "db.sqlite3"),
        "ANYMAIL_LOAD_EVENTS": str(events_dir),
        "ANYMAIL_LOAD_SETTINGS": json.dumps(anymail_settings),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "--skip-checks", "-v0"],
        env=env,
        check=True,
    )
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--threads", "8", "--log-level", "warning",
         "--timeout", "300", "--backlog", "4096", "--keep-alive", "75",
         "django.core.wsgi:get_wsgi_application()"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # wait for gunicorn to answer (any answer)
            try:
                requests.get(base, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        results = {}
        for esp in esps:
            results[esp.id] = load_one(esp, args, base, events_dir, load_fixtures, SECRET)
    finally:
        server.terminate()
        server.wait(timeout=30)

    failed = False
    columns = ("posts", "5xx", "other", "no answer", "carried", "received", "lost", "duplicates")
    print(f"{'ESP':<12}" + "".join(f"{c:>11}" for c in columns))
    for esp_id, r in results.items():
        print(f"{esp_id:<12}" + "".join(f"{r[c]:>11}" for c in columns))
        failed |= any(r[c] for c in ("5xx", "other", "no answer", "lost", "duplicates"))
    return 1 if failed else 0


def load_one(esp, args, base, events_dir, load_fixtures, secret) -> dict:
    import requests
    from django.urls import reverse

    from anymail.testing import basic_auth_header

    profile = esp.profile
    fixtures = [
        f for f in load_fixtures(profile)
        if f.expected_status == 200 and f.expected_events
        and "method" not in f.data["request"]
    ]  # fmt: skip
    routes = {route.name: route for route in esp.esp.webhooks}
    # Events are told apart by event_id. Some published samples give every event one
    # placeholder id (SparkPost's, SendGrid's "sg_event_id"): leave out the fixtures
    # whose ids aren't unique across the fixtures, or the count would be meaningless.
    sample_ids = {
        f.name: event_ids(
            esp.esp.load_view(routes[f.webhook]), profile.prepare_webhook(f.data["request"])
        )
        for f in fixtures
    }
    shared = Counter(i for ids in sample_ids.values() for i in ids)
    fixtures = [f for f in fixtures if all(shared[i] == 1 for i in sample_ids[f.name])]
    local = threading.local()
    lock = threading.Lock()  # profiles sign with shared state (timestamps, moto)
    carried: set[str] = set()

    def send(fixture, prepared) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        url = base + reverse(f"anymail:{esp.id}_{fixture.webhook}")
        headers = {**prepared.headers, "Content-Type": prepared.content_type,
                   "Authorization": basic_auth_header(secret)}  # fmt: skip
        try:
            response = session.post(url, data=prepared.body, headers=headers, timeout=300)
        except requests.RequestException:
            # No answer (e.g. a kept-alive connection the server had just closed): an
            # ESP would retry the post; here it is counted, and fails the run.
            local.session = None  # (a new connection for the next post)
            return 0
        if 200 <= response.status_code < 300:
            ids = event_ids(esp.esp.load_view(routes[fixture.webhook]), prepared)
            with lock:
                carried.update(ids)
        return response.status_code

    def post(n: int) -> tuple[int, object, object]:
        fixture = fixtures[n % len(fixtures)]
        with lock:
            prepared = profile.prepare_webhook(fixture.data["request"])
        return send(fixture, prepared), fixture, prepared

    before = received_ids(events_dir, esp.esp.name)
    with ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(post, range(args.posts)))
        # Replays of earlier posts, byte for byte, and a burst of one body at once.
        again = answers[::10] + [answers[0]] * args.burst
        answers += list(pool.map(lambda a: (send(a[1], a[2]), a[1], a[2]), again))
    statuses = Counter(status for status, _, _ in answers)
    received = received_ids(events_dir, esp.esp.name)[len(before) :]
    counts = Counter(received)
    return {
        "posts": len(answers),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "other": sum(
            n for status, n in statuses.items() if 0 < status < 200 or 300 <= status < 500
        ),
        "no answer": statuses.get(0, 0),
        "carried": len(carried),
        "received": len(received),
        "lost": len(carried - set(counts)),
        "duplicates": sum(n - 1 for n in counts.values()),
    }


def event_ids(view_class, prepared) -> list[str]:
    """The ids of the events a post carries, as the ESP's view reads them (the same
    converter and id derivation the server runs; no signature check, no signal)."""
    from django.test import RequestFactory

    request = RequestFactory().generic(
        "POST", "/", data=prepared.body, content_type=prepared.content_type,
        headers=dict(prepared.headers),
    )  # fmt: skip
    view = view_class()
    view.setup(request)
    payload = view.read_payload(request)
    events = view.parse_events(request, payload)
    return [
        event.event_id or view.derive_event_id(request, event, index)
        for index, event in enumerate(events)
    ]


def received_ids(events_dir: Path, esp_name: str) -> list[str]:
    return [
        line.split("\t")[2]
        for path in sorted(events_dir.glob("events-*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.split("\t", 1)[0] == esp_name
    ]


if __name__ == "__main__":
    sys.exit(main())
