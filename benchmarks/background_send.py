"""Sending in the background, measured through real processes.

    python benchmarks/background_send.py [--messages 1000] [--workers 1 2 4]

1. **Return time.** ``send_messages`` of 100 realistic messages, one at a time, to
   Postmark's fake API answering after a 20 ms round trip: a direct send against a
   background send (validate, store, enqueue on the database task backend). Target:
   background ≤ 0.05x direct.
2. **Throughput.** ``--messages`` messages stored by a background send, then drained by
   1, 2 and 4 ``db_worker`` processes (SQLite) sending to the fake API (20 ms round
   trip): messages per second, and API connections opened per worker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ROUND_TRIP = 0.020

RETURN_SCRIPT = """
import json, sys, time, django
django.setup()
from django.utils.module_loading import import_string
from anymail_conformance.cases import base_message
from anymail_conformance.profiles import load_profile

count, background = int(sys.argv[-2]), sys.argv[-1] == "background"
profile = load_profile("postmark")
backend = import_string("anymail.backends.postmark.EmailBackend")(background=background)
messages = [base_message(profile) for _ in range(count)]
backend.open()
started = time.perf_counter()
for message in messages:
    backend.send_messages([message])
elapsed = time.perf_counter() - started
backend.close()
print(json.dumps({"ms_per_message": elapsed / count * 1000}))
"""

QUEUE_SCRIPT = """
import sys, django
django.setup()
from django.utils.module_loading import import_string
from anymail_conformance.cases import base_message
from anymail_conformance.profiles import load_profile

profile = load_profile("postmark")
backend = import_string("anymail.backends.postmark.EmailBackend")(background=True)
backend.send_messages([base_message(profile) for _ in range(int(sys.argv[-1]))])
"""


def delayed(server):
    usual = server.response

    def answer(request):
        response = usual(request)
        response.delay = ROUND_TRIP
        return response

    server.response = answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)

    import subprocess

    from anymail_conformance.profiles import load_profile
    from testproject.background_site import BackgroundSite

    profile = load_profile("postmark")
    print(f"Background sending, Postmark's fake API with a {ROUND_TRIP * 1000:.0f} ms round trip\n")
    with profile.server() as server:
        delayed(server)
        settings = profile.backend_settings(server)
        times = {}
        with BackgroundSite(tasks="db", workers=0, anymail=settings, web_workers=1) as site:
            for mode in ("direct", "background"):
                result = subprocess.run(  # noqa: S603 (our own command line)
                    [sys.executable, "-c", RETURN_SCRIPT, "100", mode],
                    env=site.env, capture_output=True, text=True, check=True, cwd=site.work,
                )  # fmt: skip
                times[mode] = json.loads(result.stdout.strip().splitlines()[-1])["ms_per_message"]
        ratio = times["background"] / times["direct"]
        print("| send_messages returns in | ms per message |")
        print("|---|---|")
        print(f"| direct | {times['direct']:.1f} |")
        print(f"| background | {times['background']:.2f} |")
        print(f"\nbackground / direct: {ratio:.3f}x (target ≤ 0.05x: "
              f"{'met' if ratio <= 0.05 else 'missed'})\n")  # fmt: skip

        print(f"| db_worker processes | {args.messages} messages sent in | messages/s | "
              "connections per worker |")  # fmt: skip
        print("|---|---|---|---|")
        for workers in args.workers:
            server.reset()
            with BackgroundSite(tasks="db", workers=0, anymail=settings, web_workers=1) as site:
                subprocess.run(  # noqa: S603 (our own command line)
                    [sys.executable, "-c", QUEUE_SCRIPT, str(args.messages)],
                    env=site.env, capture_output=True, text=True, check=True, cwd=site.work,
                )  # fmt: skip
                started = time.monotonic()
                for _ in range(workers):
                    site.start_worker()
                counts = site.wait_for_outbox(timeout=1800)
                elapsed = time.monotonic() - started
            sent = counts.get("sent", 0)
            print(f"| {workers} | {elapsed:.1f} s ({sent} sent) | {sent / elapsed:.0f} | "
                  f"{server.connection_count / workers:.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
