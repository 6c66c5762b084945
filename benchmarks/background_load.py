"""Background webhook processing under load, through real processes.

    python benchmarks/background_load.py [--posts 1000] [--concurrency 200] [--workers 2]
                                         [--tasks db|redis] [--events-per-post 3]

Serves the test project with gunicorn (background processing on), drains it with
``--workers`` task worker processes (django-tasks-db's ``db_worker`` on a SQLite file,
or django-tasks-redis's ``run_redis_tasks`` on a redis-server it starts), posts
``--posts`` webhooks of the test-only fake ESP from ``--concurrency`` threads (plus a
tenth again, as an ESP's redeliveries), and waits until every event has reached the
receiver. Prints the 5xx answers, events lost, duplicate events, and the time from
each post to its events' signal (p50, p99). Exits 1 unless there were no 5xx, no
lost and no duplicate events.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="task worker processes")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--tasks", choices=["db", "redis"], default="db")
    parser.add_argument("--events-per-post", type=int, default=3)
    args = parser.parse_args(argv)

    import requests

    from testproject.background_site import BackgroundSite, RedisServer

    redis = RedisServer() if args.tasks == "redis" else None
    with redis or nullcontext() as server:
        url = server.url if server else None
        with BackgroundSite(
            tasks=args.tasks, workers=args.workers, redis_url=url, web_workers=args.web_workers
        ) as site:
            posted_at: dict[str, float] = {}
            local_sessions: dict[int, requests.Session] = {}

            def post(n: int) -> int:
                import threading

                session = local_sessions.setdefault(threading.get_ident(), requests.Session())
                events = [
                    {"event": "delivered", "ts": 1700000000, "id": f"m{n}",
                     "to": f"r{n}-{i}@example.com", "token": f"t{n}-{i}"}
                    for i in range(args.events_per_post)
                ]  # fmt: skip
                for event in events:
                    posted_at.setdefault(event["token"], time.time())
                try:
                    response = site.post("/anymail/fake/tracking/", {"events": events}, session)
                except requests.RequestException:
                    return 0
                return response.status_code

            started = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                statuses = Counter(pool.map(post, range(args.posts)))
                statuses += Counter(pool.map(post, range(0, args.posts, 10)))  # redeliveries
            answered = time.monotonic() - started
            expected = args.posts * args.events_per_post
            try:
                site.wait_for_events(expected, timeout=600)
                site.wait_until_settled(timeout=600)
            except TimeoutError as err:
                print(err, file=sys.stderr)
            received = site.events()
            drained = time.monotonic() - started
    counts = Counter(event_id for _, event_id, _ in received)
    latencies = sorted(
        when - posted_at[event_id] for _, event_id, when in received if event_id in posted_at
    )

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    errors = sum(n for status, n in statuses.items() if status >= 500 or status == 0)
    lost = expected - len(counts)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"task backend: {args.tasks}, {args.workers} worker(s); gunicorn {args.web_workers} worker(s)"
    )
    print(f"posts: {args.posts} (+{len(range(0, args.posts, 10))} redelivered) at "
          f"{args.concurrency} concurrent, answered in {answered:.1f} s; answers: {dict(statuses)}")  # fmt: skip
    print(
        f"events: {expected} posted, {len(received)} received, {lost} lost, {duplicates} duplicate"
    )
    print(f"post → receiver: p50 {pct(0.5) * 1000:.0f} ms, p99 {pct(0.99) * 1000:.0f} ms; "
          f"all drained in {drained:.1f} s")  # fmt: skip
    print(f"5xx (or no answer): {errors}")
    return 1 if errors or lost or duplicates else 0


if __name__ == "__main__":
    sys.exit(main())
