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


# --- sending in the background (issue 27) -------------------------------------------

SEND_SCRIPT = """
import json, sys, django
django.setup()
from django.core import mail
from django.utils.module_loading import import_string
from anymail.registry import installed_esps
from anymail_conformance.cases import base_message
from anymail_conformance.profiles import load_profile

plan = json.loads(sys.argv[-1])
for esp_id, count in plan.items():
    esp = installed_esps()[esp_id]
    profile = load_profile(esp_id)
    if django.VERSION >= (6, 1):
        connection = mail.mailers[esp_id]  # a MAILERS alias with "background": True
    else:
        connection = import_string(esp.backend)(background=True)
    messages = []
    for n in range(count):
        message = base_message(profile)
        message.subject = f"{esp_id} {n}"
        messages.append(message)
    assert connection.send_messages(messages) == count
    assert all(m.anymail_status.status == {"queued"} for m in messages)
"""


def send_in_site(site, plan):
    import json

    result = subprocess_run(site, ["-c", SEND_SCRIPT, json.dumps(plan)])
    assert result.returncode == 0, result.stderr[-3000:]


def subprocess_run(site, args):
    import subprocess

    return subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, *args], env=site.env, capture_output=True, text=True, check=False,
        cwd=str(site.work),
    )  # fmt: skip


def test_every_esp_sends_through_real_workers_retrying_transient_failures(engine):
    """A site whose mailers have "background": True (MAILERS OPTIONS on Django 6.1):
    every ESP's messages reach its fake API through real workers; the HTTP APIs
    first answer 503 twice, and each message is still sent exactly once."""
    import contextlib

    from anymail_conformance.fake_server import FakeResponse
    from anymail_conformance.profiles import esps_under_test

    tasks, redis_url = engine
    # (a renamed ESP's old name reads the new one's settings first: one site can't
    # point both at different fake APIs)
    esps = [e for e in esps_under_test() if not e.esp.superseded_by]
    with contextlib.ExitStack() as stack:
        servers = {e.id: stack.enter_context(e.profile.server()) for e in esps}
        anymail = {"SEND_RETRY_DELAY": 0.2, "SEND_IN_BACKGROUND": False}
        for e in esps:
            anymail.update(e.profile.backend_settings(servers[e.id]))
        scripted = []
        for e in esps:
            server = servers[e.id]
            if not hasattr(server, "response"):
                continue  # (moto's SES server can't be told to fail)
            usual, failures = server.response, [2]

            def answer(request, usual=usual, failures=failures):
                if failures[0] > 0:
                    failures[0] -= 1
                    return FakeResponse(503, "unavailable", {"Content-Type": "text/plain"})
                return usual(request)

            server.response = answer
            scripted.append(e.id)
        mailers = {e.id: {"BACKEND": e.esp.backend, "OPTIONS": {"background": True}} for e in esps}
        with BackgroundSite(
            tasks=tasks, workers=2, anymail=anymail, redis_url=redis_url, mailers=mailers
        ) as site:
            send_in_site(site, {e.id: 3 for e in esps})
            counts = site.wait_for_outbox()
            assert counts.get("sent") == 3 * len(esps), (counts, site.logs())
            assert counts.get("failed", 0) == counts.get("review", 0) == 0
        for e in esps:
            injected = 2 if e.id in scripted else 0
            # each message once, plus the two calls answered 503
            assert e.profile.request_count(servers[e.id]) in (3, 3 + injected), e.id
            if injected:
                assert len(servers[e.id].requests) == 3 + injected, e.id
    assert scripted  # the retries were exercised


def test_a_worker_killed_during_the_api_call_marks_the_message_for_review(engine):
    """Never sent twice: the message may have reached the ESP, so it isn't retried."""
    import contextlib
    import time

    from anymail_conformance.profiles import esps_under_test

    tasks, redis_url = engine
    esp = next(e for e in esps_under_test() if e.id == "postmark")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(esp.profile.server())
        usual, hold = server.response, [True]

        def answer(request):
            while hold[0]:  # the API call hangs until the worker is killed
                time.sleep(0.05)
            return usual(request)

        server.response = answer
        anymail = {
            **esp.profile.backend_settings(server),
            "SEND_TASK_LEASE": 2,
            "REQUESTS_TIMEOUT": 60,
        }
        mailers = {esp.id: {"BACKEND": esp.esp.backend, "OPTIONS": {"background": True}}}
        with BackgroundSite(
            tasks=tasks, workers=2, anymail=anymail, redis_url=redis_url, mailers=mailers
        ) as site:
            send_in_site(site, {esp.id: 1})
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.requests, site.logs()
            for worker in site.workers:  # the one in the call (and the idle one)
                worker.kill()
            hold[0] = False
            site.start_worker()
            deadline = time.monotonic() + 60
            while site.outbox().get("review", 0) == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert site.outbox() == {**dict.fromkeys(site.outbox(), 0), "review": 1}
        assert len(server.requests) == 1  # not sent again
