"""One measurement, in whichever environment runs it: this project's (anymail-base and the
ESP packages) or django-anymail's own virtualenv. Both keep the same import paths, setting
names and signals, so the same script drives both; ``bench.py`` starts it as
``python worker.py CONFIG.json`` and reads one JSON object from the last line of its output.

Only Django, ``anymail`` and ``requests`` are imported here: nothing of the benchmark's own
orchestration, which runs in this project's environment.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from typing import Any

import django
from django.conf import settings
from django.urls import include, path

urlpatterns = [path("anymail/", include("anymail.urls"))]

#: the realistic message's attachment (a small PDF-sized binary)
ATTACHMENT = bytes(range(256)) * 120  # 30 KiB
HTML = "<html><body>" + "<p>Hello {name}, here is your receipt.</p>" * 40 + "</body></html>"
TEXT = "Hello {name}, here is your receipt.\n" * 40


def configure(config: dict[str, Any]) -> None:
    backend = f"anymail.backends.{config['esp']}.EmailBackend"
    options: dict[str, Any] = {
        "SECRET_KEY": "anymail-benchmarks-only",
        "DEBUG": False,
        "USE_TZ": True,
        "ALLOWED_HOSTS": ["testserver", "localhost", "127.0.0.1"],
        "INSTALLED_APPS": ["django.contrib.contenttypes", "django.contrib.auth", "anymail"],
        "ROOT_URLCONF": __name__,  # this module's urlpatterns
        # Webhook replay protection (ours) keeps its tokens in the database by default:
        # an in-memory SQLite unless the scenario gives a database (webhook-default).
        "DATABASES": {
            "default": config.get("database")
            or {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        "ANYMAIL": config.get("anymail", {}),
        "DEFAULT_FROM_EMAIL": "Sender <sender@example.com>",
        "LOGGING_CONFIG": None,
    }
    if config.get("background"):
        # Background webhook processing: the view stores and enqueues; the dummy task
        # backend keeps the task without running it, so only the view is timed.
        tasks = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
        options["TASKS"] = {"default": {"BACKEND": f"{tasks}.backends.dummy.DummyBackend"}}
        options["ANYMAIL"] = {**options["ANYMAIL"], "WEBHOOK_PROCESSING": "background"}
    if django.VERSION >= (6, 1):
        options["MAILERS"] = {"default": {"BACKEND": backend}}
    else:
        options["EMAIL_BACKEND"] = backend
    settings.configure(**options)
    django.setup()
    if config["scenario"] == "webhook" and uses_database():
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def uses_database() -> bool:
    """Whether this side's anymail has models (ours: the replay store, the webhook inbox).
    django-anymail has none and never opens the database, so it needs no driver for it."""
    from django.apps import apps

    return apps.get_app_config("anymail").models_module is not None


def realistic_message(index: int) -> Any:
    """text + html, one attachment, a tag and metadata: what a receipt or a notification is."""
    from anymail.message import AnymailMessage

    name = f"Customer {index}"
    message = AnymailMessage(
        subject=f"Your receipt #{index}",
        body=TEXT.format(name=name),
        from_email="Shop <shop@example.com>",
        to=[f"{name} <customer{index}@example.com>"],
        tags=["receipt"],
        metadata={"customer_id": str(index), "order": f"A-{index:06d}"},
    )
    message.attach_alternative(HTML.format(name=name), "text/html")
    message.attach(f"receipt-{index}.pdf", ATTACHMENT, "application/pdf")
    return message


def control(url: str, path_: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Talk to the fake API's control endpoints (a connection of its own)."""
    import urllib.request

    data = None if payload is None else json.dumps(payload).encode()
    # url is the fake API's http://127.0.0.1:port, handed over by bench.py
    with urllib.request.urlopen(f"{url}{path_}", data=data, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def check_sent(messages: list[Any], sent: int) -> None:
    if sent != len(messages):
        raise SystemExit(f"sent {sent} of {len(messages)} messages")
    for message in messages:
        status = message.anymail_status.status
        if not status or not status <= {"sent", "queued"}:
            raise SystemExit(f"unexpected status {status!r}: {message.anymail_status.esp_response}")


# --------------------------------------------------------------------------- scenarios


def send_cpu(config: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1: CPU per message of send_messages([message]) on an open connection, and its
    floor: a bare requests post of the very body the backend sent, timed in the same process
    in alternating blocks (so drift on a busy machine falls on both alike). Besides the
    totals, the median over blocks of each block's overhead (send minus the floor next to it,
    per message): a block disturbed by another process moves it less than the totals."""
    import requests
    from django.core.mail import get_connection

    count, warmup, block = config["count"], config["warmup"], config.get("block", 25)
    messages = [realistic_message(i) for i in range(count + warmup)]
    connection = get_connection()
    connection.open()
    session = requests.Session()
    send_cpu = floor_cpu = 0.0
    overheads: list[float] = []
    sent = 0
    try:
        for message in messages[:warmup]:
            check_sent([message], connection.send_messages([message]))
        sample = control(config["server"], "/_bench/stats")["last"]
        url = config["server"] + sample["path"]
        body = base64.b64decode(sample["body"])
        skip = {"content-length", "host", "connection", "accept-encoding", "user-agent", "accept"}
        headers = {k: v for k, v in sample["headers"].items() if k.lower() not in skip}

        def post() -> None:
            response = session.post(url, data=body, headers=headers, timeout=30)
            response.raise_for_status()
            if response.content:  # SendGrid answers 202 with no body
                response.json()

        for _ in range(warmup):
            post()
        control(config["server"], "/_bench/reset", {"delay": 0})
        gc.collect()
        for first in range(warmup, count + warmup, block):
            cpu = time.process_time()
            for message in messages[first : first + block]:
                sent += connection.send_messages([message])
            block_send = time.process_time() - cpu
            cpu = time.process_time()
            for _ in messages[first : first + block]:
                post()
            block_floor = time.process_time() - cpu
            send_cpu += block_send
            floor_cpu += block_floor
            size = len(messages[first : first + block])
            overheads.append((block_send - block_floor) / size)
    finally:
        connection.close()
        session.close()
    check_sent(messages[warmup:], sent)
    stats = control(config["server"], "/_bench/stats")
    return {
        "cpu_per_message_us": send_cpu / count * 1e6,
        "floor_cpu_per_message_us": floor_cpu / count * 1e6,
        "overhead_block_median_us": statistics.median(overheads) * 1e6,
        "body_bytes": len(body),
        # the floor's session is one more connection, and half the calls
        "connections": stats["connections"] - 1,
        "calls": stats["calls"] - count,
    }


def bulk(config: dict[str, Any]) -> dict[str, Any]:
    """Scenario 2: many messages in one send_messages call, each API call answered late."""
    from django.core.mail import get_connection

    count = config["count"]
    # A warm-up send (imports, first connection), not counted.
    warm = realistic_message(0)
    check_sent([warm], get_connection().send_messages([warm]))
    messages = [realistic_message(i) for i in range(count)]
    control(config["server"], "/_bench/reset", {"delay": config["delay"]})
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    sent = get_connection().send_messages(messages)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = control(config["server"], "/_bench/stats")
    control(config["server"], "/_bench/reset", {"delay": 0})
    check_sent(messages, sent)
    ids = {
        str(message.anymail_status.message_id)
        for message in messages
        if message.anymail_status.message_id
    }
    return {
        "messages_per_second": count / wall,
        "cpu_per_message_us": cpu / count * 1e6,
        "connections": stats["connections"],
        "calls": stats["calls"],
        "distinct_message_ids": len(ids),
    }


def webhook(config: dict[str, Any]) -> dict[str, Any]:
    """Scenario 3: tracking events through the real URL configuration, time per event and per
    request; on a side that uses the database (ours), the statements each request runs,
    counted with Django's ``connection.execute_wrapper``: writes are INSERT, UPDATE and
    DELETE (an ``executemany`` counts once per row)."""
    from django.db import connection, connections
    from django.test import Client

    from anymail.signals import tracking

    with open(config["requests_file"]) as file:
        prepared = json.load(file)
    events: list[Any] = []

    def receive(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
        events.append(event.event_type)

    tracking.connect(receive, weak=False)
    client = Client()
    auth = "Basic " + base64.b64encode(config["basic_auth"].encode()).decode()
    database = uses_database()
    statements = {"writes": 0, "queries": 0}

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if many:
            params = list(params)
        rows = len(params) if many else 1
        statements["queries"] += rows
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            statements["writes"] += rows
        return execute(sql, params, many, context)

    def post(item: dict[str, Any]) -> None:
        response = client.post(
            item["path"],
            data=base64.b64decode(item["body"]),
            content_type=item["content_type"],
            headers={**item["headers"], "Authorization": auth},
        )
        if response.status_code != 200:
            raise SystemExit(f"webhook answered {response.status_code}: {response.content[:300]!r}")

    post(prepared["warmup"])
    events.clear()
    if database:  # ours: the warm-up's events and delivery (the timed posts may repeat them)
        from anymail.models import WebhookDelivery, WebhookReplayToken

        WebhookReplayToken.objects.all().delete()
        WebhookDelivery.objects.all().delete()
    gc.collect()
    writes: list[int] = []
    queries: list[int] = []
    cpus: list[float] = []
    wall = cpu = 0.0
    for item in prepared["requests"]:
        statements["writes"] = statements["queries"] = 0
        with connection.execute_wrapper(count) if database else contextlib.nullcontext():
            start, start_cpu = time.perf_counter(), time.process_time()
            post(item)
            wall += time.perf_counter() - start
            cpus.append(time.process_time() - start_cpu)
            cpu += cpus[-1]
        writes.append(statements["writes"])
        queries.append(statements["queries"])
    posts = len(prepared["requests"])
    if config.get("background"):
        from anymail.models import WebhookDelivery

        stored = WebhookDelivery.objects.count()
        if stored != posts or events:
            raise SystemExit(f"{stored} deliveries stored for {posts} posts; {len(events)} signals")
    elif len(events) != prepared["events"]:
        raise SystemExit(f"{len(events)} tracking signals for {prepared['events']} events")
    return {
        "us_per_event": wall / prepared["events"] * 1e6,
        "us_per_request": wall / posts * 1e6,
        "cpu_per_event_us": cpu / prepared["events"] * 1e6,
        # the median post's CPU per event (every post has the same number of events)
        "median_cpu_per_event_us": statistics.median(cpus) * posts / prepared["events"] * 1e6,
        "events": prepared["events"],
        "posts": posts,
        # None: this side never opened a database connection (django-anymail)
        "writes_per_request": sum(writes) / posts if database else None,
        "max_writes_per_request": max(writes) if database else None,
        "queries_per_request": sum(queries) / posts if database else None,
        "opened_database": any(True for _ in connections.all(initialized_only=True)),
    }


def inbound_bytes(size_mb: int) -> bytes:
    """A MIME message of about ``size_mb`` MB: text, html, and two base64 attachments."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Sender <sender@example.com>"
    message["To"] = "inbound@example.com"
    message["Subject"] = "Quarterly report"
    message.set_content("Please find the report attached.\n" * 20)
    message.add_alternative("<p>Please find the report attached.</p>" * 20, subtype="html")
    # base64 grows content by 4/3 (plus line breaks): split what's left between two files
    part = int(size_mb * 1_000_000 * 0.74 / 2)
    block = bytes(range(256)) * 4096
    for index in range(2):
        data = (block * (part // len(block) + 1))[:part]
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=f"data{index}.bin"
        )
    return message.as_bytes()


def parse_stdlib(raw: bytes) -> int:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return sum(len(part.get_content()) for part in parsed.iter_attachments())


def parse_anymail(raw: bytes) -> int:
    from anymail.inbound import AnymailInboundMessage

    parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    return sum(len(attachment.get_content_bytes()) for attachment in parsed.attachments)


def inbound(config: dict[str, Any]) -> dict[str, Any]:
    """Scenario 4: parse a large inbound message, against the standard library's parse."""
    raw = inbound_bytes(config["size_mb"])
    parsers = {"stdlib": parse_stdlib, "anymail": parse_anymail}
    expected = parse_stdlib(raw)
    times: dict[str, list[float]] = {name: [] for name in parsers}
    for _ in range(config["repeat"]):
        for name, parse in parsers.items():
            gc.collect()
            start = time.perf_counter()
            if parse(raw) != expected:
                raise SystemExit(f"{name} read different attachment bytes")
            times[name].append(time.perf_counter() - start)
    peaks = {}
    for name, parse in parsers.items():
        gc.collect()
        tracemalloc.start()
        parse(raw)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "size": len(raw),
        "seconds": {name: min(values) for name, values in times.items()},
        "peak": peaks,
    }


SCENARIOS = {
    "send_cpu": send_cpu,
    "bulk": bulk,
    "webhook": webhook,
    "inbound": inbound,
}


def main() -> None:
    with open(sys.argv[1]) as file:
        config = json.load(file)
    configure(config)
    import warnings

    warnings.simplefilter("ignore")  # django-anymail's sendinblue alias warns on every open
    profile_dir = os.environ.get("ANYMAIL_BENCH_PROFILE")
    if profile_dir:  # where the time goes: ANYMAIL_BENCH_PROFILE=DIR python bench.py ...
        import cProfile

        side = "ours" if uses_database() else "theirs"
        name = f"{side}-{config['scenario']}-{config['esp']}-{os.getpid()}.prof"
        profiler = cProfile.Profile()
        result = profiler.runcall(SCENARIOS[config["scenario"]], config)
        profiler.dump_stats(os.path.join(profile_dir, name))
    else:
        result = SCENARIOS[config["scenario"]](config)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
