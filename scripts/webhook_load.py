"""Load test for every installed ESP's webhooks, through a real server.

    python scripts/webhook_load.py [--posts 3000] [--concurrency 200] [--workers 4] [--esp ID]

Serves the test project under gunicorn on 127.0.0.1 (a file database shared by the
workers, for the replay store), then, for each installed ESP with a conformance
profile, posts ``--posts`` signed webhooks built from its fixtures (each re-signed,
so every one is new) from ``--concurrency`` threads. A receiver records each event it
is signalled. Prints, per ESP: posts, 5xx answers, other non-2xx answers, events
posted and events received; exits 1 unless every ESP had no 5xx and lost no event.
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
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    import django

    django.setup()
    import requests

    from anymail_conformance.fixtures import SECRET, load_fixtures
    from anymail_conformance.profiles import esps_under_test

    esps = [e for e in esps_under_test() if not args.esp or e.id in args.esp]
    anymail_settings: dict = {"WEBHOOK_SECRET": SECRET}
    for esp in esps:
        anymail_settings.update(esp.profile.webhook_settings())

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
    print(
        f"{'ESP':<12} {'posts':>6} {'5xx':>5} {'other':>6} {'events':>7} {'received':>9} {'no-answer':>10}"
    )
    for esp_id, r in results.items():
        print(f"{esp_id:<12} {r['posts']:>6} {r['5xx']:>5} {r['other']:>6} "
              f"{r['events']:>7} {r['received']:>9} {r['no answer']:>10}")  # fmt: skip
        failed |= r["5xx"] > 0 or r["received"] != r["events"] or r["other"] > 0
        failed |= r["no answer"] > 0
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
    local = threading.local()
    lock = threading.Lock()  # profiles sign with shared state (timestamps, moto)

    def post(n: int) -> tuple[int, int]:
        fixture = fixtures[n % len(fixtures)]
        with lock:
            prepared = profile.prepare_webhook(fixture.data["request"])
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
            return 0, len(fixture.expected_events)  # no answer at all: counted, not raised
        return response.status_code, len(fixture.expected_events)

    before = count_events(events_dir, esp.esp.name)
    with ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(post, range(args.posts)))
    statuses = Counter(status for status, _ in answers)
    return {
        "posts": len(answers),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "other": sum(
            n for status, n in statuses.items() if 0 < status < 200 or 300 <= status < 500
        ),
        "no answer": statuses.get(0, 0),
        "events": sum(count for status, count in answers if 200 <= status < 300),
        "received": count_events(events_dir, esp.esp.name) - before,
    }


def count_events(events_dir: Path, esp_name: str) -> int:
    return sum(
        1
        for path in events_dir.glob("events-*.txt")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.split("\t", 1)[0] == esp_name
    )


if __name__ == "__main__":
    sys.exit(main())
