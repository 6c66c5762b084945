"""Background webhook processing with real worker processes (issue 26): the test
project served by gunicorn, drained by django-tasks-db's ``db_worker`` (on SQLite,
the embedded default) and by django-tasks-redis's ``run_redis_tasks`` on a real
``redis-server``; a worker killed (SIGKILL) in the middle of a delivery."""

import importlib.util
import os
import shutil
import signal
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from testproject.background_site import BackgroundSite, RedisServer

TRACKING = "/anymail/fake/tracking/"


def batch(*recipients):
    return {
        "events": [
            {"event": "delivered", "ts": 1700000000, "id": f"m-{to}", "to": to, "token": f"t-{to}"}
            for to in recipients
        ]
    }


def redis_unavailable_reason():
    if sys.version_info < (3, 12) or importlib.util.find_spec("django_tasks_redis") is None:
        return "django-tasks-redis needs Python 3.12+ and Django 6.0+ (not this environment)"
    if shutil.which("redis-server") is None:
        return "no redis-server on PATH (Debian: apt install redis-server)"
    return None


@pytest.fixture(params=["db", "redis"])
def engine(request):
    """(task backend, redis url): django-tasks-db, or django-tasks-redis on a
    redis-server this fixture starts."""
    if request.param == "db":
        yield "db", None
        return
    reason = redis_unavailable_reason()
    if reason:
        if os.environ.get("CI") and "redis-server" in reason:
            pytest.fail(f"CI must run the Redis worker tests: {reason}")
        pytest.skip(reason)
    with RedisServer() as redis:
        yield "redis", redis.url


def test_every_event_is_delivered_once_by_real_workers(engine):
    tasks, redis_url = engine
    posts = [
        batch(f"a{n}@example.com", f"b{n}@example.com", f"c{n}@example.com") for n in range(20)
    ]
    with BackgroundSite(tasks=tasks, workers=2, redis_url=redis_url) as site:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda body: site.post(TRACKING, body), posts))
            # The ESP redelivering some posts: acknowledged, not signalled again.
            again = list(pool.map(lambda body: site.post(TRACKING, body), posts[:5]))
        assert [a.status_code for a in answers] == [200] * 20, site.logs()
        assert {a.text for a in again} == {"Already received"}
        events = site.wait_for_events(60)
        site.wait_until_settled()
        ids = Counter(event_id for _, event_id, _ in site.events())
        assert len(ids) == 60
        assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
        assert len(events) == 60
        assert site.deliveries() == {"pending": 0, "delivered": 20, "failed": 0}


def test_a_worker_killed_in_the_middle_of_a_delivery(engine):
    """Every event still reaches the receiver, once: another worker runs the
    delivery again when the killed attempt's lease has expired."""
    tasks, redis_url = engine
    leases = {"WEBHOOK_TASK_LEASE": 2, "WEBHOOK_CLAIM_LEASE": 2, "WEBHOOK_RECOVER_AFTER": 1}
    with BackgroundSite(tasks=tasks, workers=2, anymail=leases, redis_url=redis_url) as site:
        (site.events_dir / "slow").touch()
        response = site.post(
            TRACKING, batch("first@example.com", "slow@example.com", "last@example.com")
        )
        assert response.status_code == 200
        pid, _ = site.started_slow()
        os.kill(pid, signal.SIGKILL)
        (site.events_dir / "slow").unlink()
        assert pid in [w.pid for w in site.workers]
        site.start_worker()  # (the killed one's replacement, as a supervisor would)
        site.wait_for_events(3, timeout=90)
        site.wait_until_settled()
        received = Counter(event_id for _, event_id, _ in site.events())
        assert received == {
            "t-first@example.com": 1,
            "t-slow@example.com": 1,
            "t-last@example.com": 1,
        }
        assert site.deliveries() == {"pending": 0, "delivered": 1, "failed": 0}
