"""Anymail's benchmarks, side by side with django-anymail: ``hatch run bench:run``.

Each scenario runs this project (the bench environment: anymail-base and every ESP package
of this checkout) and django-anymail (its latest release, in a virtualenv of its own, made on
first use under ``benchmarks/.venv-django-anymail``) alternately, round after round, each
measurement in a fresh worker process (``worker.py``). Fake ESP APIs run in another process
(``fake_api.py``) on 127.0.0.1, so a client's CPU time is its own. The medians and the
ratios (ours / theirs) are printed as Markdown and, for a full run over every ESP, written to
``benchmarks/RESULTS.md`` (``--output`` to choose, ``--no-write`` not to).

Options: ``--quick`` (one round, fewer messages), ``--full`` (more rounds, the issue's 1,000
messages), ``--esp NAME`` (repeatable), ``--scenario NAME`` (repeatable: send, bulk, webhook,
webhook-default, webhook-background, inbound, import), ``--theirs-python PATH`` (an
interpreter with django-anymail installed), ``--no-postgres`` (webhook-default on SQLite only).
``ci_check.py`` runs a short subset of these scenarios as a regression check.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from databases import default_site_databases
from fake_api import quiet_servers

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
FAKE_API = HERE / "fake_api.py"
THEIRS_VENV = HERE / ".venv-django-anymail"
SCENARIOS = (
    "send",
    "bulk",
    "webhook",
    "webhook-default",
    "webhook-background",
    "inbound",
    "import",
)
#: the scenarios that run per ESP, and those of them that need its fake API
ESP_SCENARIOS = {"send", "bulk", "webhook", "webhook-default", "webhook-background"}
API_SCENARIOS = {"send", "bulk"}
#: the batch size of the background-webhook scenario's second row
BACKGROUND_BATCH = 1000
BASIC_AUTH = "bench-user:bench-password"
#: a realistic round trip to the ESP's API, for the bulk scenario
ROUND_TRIP = 0.020
#: the webhook-default scenario's databases, as the table names them
DATABASE_LABELS = {"sqlite": "SQLite file", "postgresql": "PostgreSQL"}
FINDINGS_MARKER = "<!-- findings: kept by bench.py when it rewrites the tables -->"
#: the multiplication sign, for ratios in the tables
X = "\u00d7"

# Nothing here names an ESP: the ESPs are the installed descriptions (anymail.registry),
# each one's fake API is its conformance profile's server (fake_api.py), each one's webhook
# traffic is its profile's representative tracking fixture (the ESP's published samples: a
# list-shaped one is repeated into posts of many events, as the ESP batches them; a single
# event is posted again and again), and the ESPs whose API takes many messages a call are
# those whose backend is a BatchingBackend. django-anymail's own quirks (an API version, a
# field type the live API tolerates) are keyed by what they are about, not by ESP.


def batching_backend(esp_id: str) -> Any:
    """The ESP's backend class if it sends several messages a call (BatchingBackend)."""
    from anymail.backends.batching import BatchingBackend
    from anymail.registry import get_esp

    backend = get_esp(esp_id).load_backend()
    return backend if issubclass(backend, BatchingBackend) else None


def batch_settings(esp_id: str) -> dict[str, Any] | None:
    """The opt-in setting under which our send_messages groups messages into one call
    (the bulk scenario runs ours once more with it, row "<esp> batched"), or None where
    batching is already the default (or the API has none)."""
    backend = batching_backend(esp_id)
    if backend is None or backend.batch_send_default:
        return None
    return {f"{esp_id.upper()}_BATCH_SEND_MESSAGES": True}


def bulk_target(esp_id: str, batched: bool = False) -> float:
    """The bulk scenario's target ratio: 10 where the ESP's API takes many messages a call
    and batching is on (its default, or ``batched`` with the opt-in setting), else 1."""
    if batching_backend(esp_id) and (batched or not batch_settings(esp_id)):
        return 10.0
    return 1.0


@dataclass
class Sizes:
    rounds: int
    send: int
    send_warmup: int
    bulk: int
    webhook_events: int
    inbound_mb: int
    inbound_repeat: int
    imports: int
    #: webhook-default: posts of one event, then posts of a batch of ``default_batch``
    #: events (where the ESP batches)
    default_posts: int = 100
    default_batch: int = 1000
    default_batches: int = 3
    #: send CPU: messages per block (send and floor alternate block by block)
    send_block: int = 25


PRESETS = {
    "quick": Sizes(1, 100, 10, 100, 200, 20, 1, 3, 50, 100, 3),
    "default": Sizes(3, 200, 20, 100, 500, 20, 2, 3, 200, 1000, 3),
    "full": Sizes(5, 1000, 50, 1000, 1000, 20, 3, 10, 500, 1000, 10),
}


# ----------------------------------------------------------------------------- processes


def theirs_requirements() -> dict[str, str]:
    """What django-anymail's virtualenv has besides django-anymail: the same versions as
    ours of Django, requests and (for webhook-default's PostgreSQL, where Django loads the
    driver when it sets up the models) psycopg, so none of them is a difference."""
    pins = {}
    for name, requirement in (
        ("django", "django"),
        ("requests", "requests"),
        ("psycopg", "psycopg[binary]"),
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins[name] = f"{requirement}=={metadata.version(name)}"
    return pins


def theirs_python(given: str | None) -> str:
    """An interpreter with django-anymail: the one given, or our own virtualenv (made on
    first use with the latest release, and brought to our versions of Django, requests and
    psycopg when they differ)."""
    if given:
        return given
    python = THEIRS_VENV / "bin" / "python"
    pins = theirs_requirements()
    if not python.exists():
        print(f"making {THEIRS_VENV} with the latest django-anymail ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(THEIRS_VENV)], check=True)  # noqa: S603
        missing = ["django-anymail[amazon-ses]", *pins.values()]
    else:
        probe = (
            "import json, importlib.metadata as m\n"
            "def v(name):\n"
            "    try: return m.version(name)\n"
            "    except m.PackageNotFoundError: return None\n"
            f"print(json.dumps({{name: v(name) for name in {sorted(pins)!r}}}))"
        )
        have = run_json(str(python), ["-c", probe])
        missing = [pin for name, pin in pins.items() if have.get(name) != pin.split("==")[1]]
        if missing:
            print(f"bringing {THEIRS_VENV} to {', '.join(missing)} ...", file=sys.stderr)
    if missing:
        subprocess.run(  # noqa: S603
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *missing,
            ],
            check=True,
        )
    return str(python)


def run_json(python: str, args: list[str], timeout: float = 600) -> dict[str, Any]:
    process = subprocess.run(  # noqa: S603
        [python, *args], capture_output=True, text=True, timeout=timeout, cwd=str(HERE)
    )
    if process.returncode != 0:
        raise RuntimeError(
            f"{Path(python).parent.parent.name} {' '.join(args[:1])} failed:\n"
            f"{process.stdout[-2000:]}{process.stderr[-3000:]}"
        )
    return json.loads(process.stdout.strip().splitlines()[-1])


def run_worker(python: str, config: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    try:
        return run_json(python, [str(WORKER), file.name])
    finally:
        os.unlink(file.name)


class FakeAPI:
    """The ESP's fake API in a process of its own."""

    def __init__(self, esp_id: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(FAKE_API), esp_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"fake API for {esp_id} didn't start")

    def reset(self) -> None:
        url = f"{self.url}/_bench/reset"  # http://127.0.0.1:port, from our own server
        request = urllib.request.Request(url, data=b'{"delay": 0}')  # noqa: S310
        urllib.request.urlopen(request, timeout=30).read()  # noqa: S310

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ----------------------------------------------------------------------------- per ESP


def load_profile(esp_id: str) -> Any:
    from anymail_conformance.profiles import load_profile as load

    return load(esp_id)


def api_settings(esp_id: str, url: str) -> dict[str, Any]:
    """The settings that point the ESP's backend at the fake API at ``url``: the profile's,
    for both sides (django-anymail reads the same setting names)."""
    return dict(load_profile(esp_id).backend_settings(SimpleNamespace(url=url)))


@dataclass
class WebhookFixture:
    """The profile's representative tracking fixture, and how the ESP batches events."""

    profile: Any
    request: dict[str, Any]
    path: str
    #: events in the fixture as published
    per_sample: int
    #: where the events' list is: "json" (the body is the list), a form field's name (its
    #: value is the list as JSON), or None (one event, or a fixed set, per post)
    batch: str | None
    #: the ESP's own event ids in the sample (the fixture's expected ``event_id``s that
    #: aren't Anymail's digest of the event)
    event_ids: set[str]

    def distinct(self, item: Any, tag: str) -> Any:
        """A copy of an event (or a whole payload) made distinct from every other copy:
        each of the ESP's event ids in it gets ``tag`` appended, and a dict gets an extra
        key the converters ignore (so a digest id differs too). The same event posted
        again would be a duplicate, refused or signalled once."""

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {key: walk(inner) for key, inner in value.items()}
            if isinstance(value, list):
                return [walk(inner) for inner in value]
            if isinstance(value, str) and value in self.event_ids:
                return f"{value}-{tag}"
            return value

        copied = walk(item)
        if isinstance(copied, dict):
            copied["_anymail_bench"] = tag
        return copied

    def items(self) -> list[Any]:
        if self.batch == "json":
            return self.request["json"]
        assert self.batch is not None
        return json.loads(self.request["form"][self.batch])

    def with_items(self, items: list[Any]) -> dict[str, Any]:
        request = copy.deepcopy(self.request)
        if self.batch == "json":
            request["json"] = items
        else:
            assert self.batch is not None
            request["form"][self.batch] = json.dumps(items)
        return request


def webhook_fixture(esp_id: str) -> WebhookFixture:
    profile = load_profile(esp_id)
    fixture = json.loads(profile.representative_tracking_fixture().read_text())
    request = fixture["request"]
    route = "" if fixture["webhook"] == "webhook" else "tracking/"
    per_sample = len(fixture["expected_events"])
    event_ids = {
        str(event["event_id"])
        for event in fixture["expected_events"]
        if event.get("event_id") and not str(event["event_id"]).startswith("sha256:")
    }
    batch: str | None = None
    if isinstance(request.get("json"), list) and len(request["json"]) == per_sample:
        batch = "json"
    for name, value in (request.get("form") or {}).items():
        # a form field holding the events as a JSON list (the ESP batches through a form)
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                continue
            if isinstance(items, list) and len(items) == per_sample:
                batch = name
    return WebhookFixture(
        profile, request, f"/anymail/{esp_id}/{route}", per_sample, batch, event_ids
    )


def webhook_batches(esp_id: str) -> bool:
    """Whether the ESP posts many events in one webhook request."""
    return webhook_fixture(esp_id).batch is not None


def webhook_requests(esp_id: str, per_post: int, posts: int) -> dict[str, Any]:
    """``posts`` webhook posts, freshly signed: of ``per_post`` events each where the ESP
    batches (its sample's events repeated), else of the sample as published (``per_post``
    ignored). Every event is made distinct (an extra key the converters ignore): the same
    sample posted again would be a duplicate, refused or signalled once."""
    fixture = webhook_fixture(esp_id)
    profile = fixture.profile

    def encode(prepared: Any) -> dict[str, Any]:
        return {
            "path": fixture.path,
            "body": base64.b64encode(prepared.body).decode(),
            "content_type": prepared.content_type,
            "headers": dict(prepared.headers),
        }

    def batch_of(n: Any, size: int) -> dict[str, Any]:
        sample = fixture.items()
        items = (sample * (size // len(sample) + 1))[:size]
        return fixture.with_items(
            [fixture.distinct(item, f"{n}-{i}") for i, item in enumerate(items)]
        )

    def varied(n: Any) -> dict[str, Any]:
        if fixture.batch is not None:
            return batch_of(n, len(fixture.items()))
        request = copy.deepcopy(fixture.request)
        if isinstance(request.get("json"), dict):
            request["json"] = fixture.distinct(request["json"], str(n))
        return request

    if fixture.batch is not None:
        requests = [encode(profile.prepare_webhook(batch_of(n, per_post))) for n in range(posts)]
        total = per_post * posts
    else:
        requests = [encode(profile.prepare_webhook(varied(n))) for n in range(posts)]
        total = fixture.per_sample * posts
    return {
        "requests": requests,
        "events": total,
        "warmup": encode(profile.prepare_webhook(varied("warmup"))),
    }


def webhook_traffic(esp_id: str, events: int) -> dict[str, Any]:
    """About ``events`` tracking events as the ESP sends them: one post of them all where it
    batches, else one post per sample."""
    fixture = webhook_fixture(esp_id)
    if fixture.batch is not None:
        return webhook_requests(esp_id, events, 1)
    return webhook_requests(esp_id, 0, max(1, events // fixture.per_sample))


def webhook_settings(esp_id: str) -> dict[str, Any]:
    return {"WEBHOOK_SECRET": BASIC_AUTH, **load_profile(esp_id).webhook_settings()}


# ----------------------------------------------------------------------------- results


@dataclass
class Results:
    rows: dict[tuple[str, str], dict[str, list[Any]]] = field(default_factory=dict)

    def add(self, scenario: str, esp: str, side: str, result: dict[str, Any]) -> None:
        row = self.rows.setdefault((scenario, esp), {})
        row.setdefault(side, []).append(result)

    def median(self, scenario: str, esp: str, side: str, key: Callable[[dict], float]) -> float:
        values = [key(result) for result in self.rows.get((scenario, esp), {}).get(side, [])]
        return statistics.median(values) if values else float("nan")

    def last(self, scenario: str, esp: str, side: str) -> dict[str, Any] | None:
        values = self.rows.get((scenario, esp), {}).get(side)
        return values[-1] if values else None


def verdict(value: float, limit: float, *, at_least: bool = False) -> str:
    if value != value:  # NaN
        return "—"
    ok = value >= limit if at_least else value <= limit
    return "met" if ok else "**missed**"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def render(results: Results, esps: list[str], scenarios: list[str], header: str) -> str:
    out = [header]
    m = results.median
    if "send" in scenarios:
        out += [
            "",
            "### 1. Send: CPU per message of `send_messages([message])`",
            "",
            "A message with text and HTML bodies, a 30 KiB attachment, a tag and metadata, sent"
            " on an open connection. The floor is a bare `requests` post of the body the backend"
            f" sent, timed in the same worker in alternating blocks. Overhead is CPU above the floor. Target: ours ≤ 0.5{X}"
            " theirs.",
            "",
            "| ESP | floor µs (ours / theirs) | ours µs | theirs µs | ours overhead | "
            "theirs overhead | overhead ratio | target |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for esp in esps:
            cpu = lambda r: r["cpu_per_message_us"]  # noqa: E731
            fcpu = lambda r: r["floor_cpu_per_message_us"]  # noqa: E731
            f_ours, f_theirs = m("send", esp, "ours", fcpu), m("send", esp, "theirs", fcpu)
            ours, theirs = m("send", esp, "ours", cpu), m("send", esp, "theirs", cpu)
            over = lambda r: r["cpu_per_message_us"] - r["floor_cpu_per_message_us"]  # noqa: E731
            o_over, t_over = m("send", esp, "ours", over), m("send", esp, "theirs", over)
            r = ratio(o_over, t_over)
            out.append(
                f"| {esp} | {f_ours:.0f} / {f_theirs:.0f} | {ours:.0f} | {theirs:.0f} | "
                f"{o_over:.0f} | {t_over:.0f} | {r:.2f}{X} | {verdict(r, 0.5)} |"
            )
    if "bulk" in scenarios:
        out += [
            "",
            f"### 2. Bulk: one `send_messages` of many messages, API answering after"
            f" {ROUND_TRIP * 1000:.0f} ms",
            "",
            "Messages per second; connections opened and API calls made for the whole batch"
            f" (target: one connection per `send_messages`). Target: ours ≥ 1.0{X} theirs, ≥ 10{X}"
            f" where the API takes many messages in one call"
            f" ({', '.join(esp for esp in esps if batching_backend(esp)) or 'none'}) and"
            ' batching is on (by default, or the row "<esp> batched" with the ESP\'s'
            " opt-in setting).",
            "",
            "| ESP | messages | ours msg/s | theirs msg/s | ratio | target | ours connections"
            " / calls | theirs connections / calls | ours distinct ids |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        rows = [(esp, esp) for esp in esps]
        rows += [(f"{esp} batched", esp) for esp in esps if batch_settings(esp)]
        for name, esp in sorted(rows):
            rate = lambda r: r["messages_per_second"]  # noqa: E731
            ours, theirs = m("bulk", name, "ours", rate), m("bulk", esp, "theirs", rate)
            r = ratio(ours, theirs)
            limit = bulk_target(esp, batched=name != esp)
            lo, lt = results.last("bulk", name, "ours"), results.last("bulk", esp, "theirs")
            n = results.rows.get(("bulk", esp), {}).get("count", ["?"])[-1]
            out.append(
                f"| {name} | {n} | {ours:.1f} | {theirs:.1f} | {r:.2f}{X} | ≥ {limit:g}{X}"
                f" {verdict(r, limit, at_least=True)} | "
                + (f"{lo['connections']} / {lo['calls']}" if lo else "—")
                + " | "
                + (f"{lt['connections']} / {lt['calls']}" if lt else "—")
                + " | "
                + (f"{lo['distinct_message_ids']}" if lo else "—")
                + " |"
            )
    if "webhook" in scenarios:
        out += [
            "",
            "### 3. Tracking webhook: time per event",
            "",
            "Events from the ESP's published samples, batched as the ESP batches them (one post"
            " of all events where its payload is a list, else one post per event), through"
            f" Django's test client and `anymail.urls`. Target: ours ≤ 0.8{X} theirs.",
            "",
            "| ESP | events / posts | ours µs/event | theirs µs/event | ratio | target |",
            "|---|---|---|---|---|---|",
        ]
        for esp in esps:
            per = lambda r: r["us_per_event"]  # noqa: E731
            ours, theirs = m("webhook", esp, "ours", per), m("webhook", esp, "theirs", per)
            r = ratio(ours, theirs)
            lo = results.last("webhook", esp, "ours")
            shape = f"{lo['events']} / {lo['posts']}" if lo else "—"
            out.append(
                f"| {esp} | {shape} | {ours:.0f} | {theirs:.0f} | {r:.2f}{X} | {verdict(r, 0.8)} |"
            )
    if "webhook-background" in scenarios:
        out += [
            "",
            "### 3b. Tracking webhook in background mode: view time per request",
            "",
            "The same posts, one with a single event and one of"
            f" {BACKGROUND_BATCH} events (where the ESP batches; otherwise one post per event),"
            ' answered by ours inline, ours with `WEBHOOK_PROCESSING = "background"` (stored'
            " and enqueued; the task isn't timed) and django-anymail (inline, the only mode it"
            f" has). Target: background ≤ 0.5{X} theirs per request.",
            "",
            "| ESP | events / posts | ours inline µs/request | ours background µs/request"
            " | theirs µs/request | background / theirs | target |",
            "|---|---|---|---|---|---|---|",
        ]
        per_request = lambda r: r["us_per_request"]  # noqa: E731
        for events in (1, BACKGROUND_BATCH):
            name = f"webhook-bg-{events}"
            for esp in esps:
                inline = m(name, esp, "ours", per_request)
                bg = m(name, esp, "background", per_request)
                theirs = m(name, esp, "theirs", per_request)
                r = ratio(bg, theirs)
                lo = results.last(name, esp, "background")
                shape = f"{lo['events']} / {lo['posts']}" if lo else "—"
                out.append(
                    f"| {esp} | {shape} | {inline:.0f} | {bg:.0f} | {theirs:.0f} | {r:.2f}{X}"
                    f" | {verdict(r, 0.5)} |"
                )
    if "webhook-default" in scenarios:
        out += [
            "",
            "### 3c. Tracking webhook in the default configuration: time and writes per request",
            "",
            "Ours with its defaults (inline processing, replay protection in the database:"
            " no `WEBHOOK_REPLAY_STORE` override, migrated) against django-anymail (which"
            " keeps nothing), on a SQLite file as `startproject` makes it and on a PostgreSQL"
            " server the benchmark starts (fsync on). Posts of one event (of the published sample,"
            " where the ESP doesn't batch), and, where the ESP batches, posts of a large batch,"
            " through Django's test client (which keeps"
            " the database connection open between requests). Writes: INSERT, UPDATE and"
            " DELETE statements a request runs, counted with `connection.execute_wrapper`"
            " (mean, and the most in any request). Targets: ours ≤ 1.5"
            f"{X} theirs per request; ≤ 2 writes per request whatever the batch size.",
            "",
            "| database | ESP | post | events / posts | ours µs/request | theirs µs/request"
            " | ratio | target | ours writes/request (max) | target |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        per_request = lambda r: r["us_per_request"]  # noqa: E731
        for db in ("sqlite", "postgresql"):
            for esp in esps:
                for shape in ("single", "batch"):
                    name = f"webhook-default-{db}-{shape}"
                    lo = results.last(name, esp, "ours")
                    if lo is None:
                        continue
                    ours, theirs = (
                        m(name, esp, "ours", per_request),
                        m(name, esp, "theirs", per_request),
                    )
                    r = ratio(ours, theirs)
                    writes = m(name, esp, "ours", lambda r: r["writes_per_request"])
                    most = max(
                        result["max_writes_per_request"]
                        for result in results.rows[(name, esp)]["ours"]
                    )
                    label = "batch" if shape == "batch" else "single"
                    out.append(
                        f"| {DATABASE_LABELS[db]} | {esp} | {label} | {lo['events']} / {lo['posts']}"
                        f" | {ours:.0f} | {theirs:.0f} | {r:.2f}{X} | {verdict(r, 1.5)} |"
                        f" {writes:.1f} ({most}) | {verdict(most, 2)} |"
                    )
        if not any(key[0].startswith("webhook-default-postgresql") for key in results.rows):
            out += ["", "(No PostgreSQL rows: see the note above on why it was skipped.)"]
    if "inbound" in scenarios:
        out += [
            "",
            "### 4. Inbound: parsing a large message",
            "",
            "`AnymailInboundMessage.parse_raw_mime_bytes` and reading every attachment's bytes,"
            " against the standard library's parse of the same bytes"
            " (`email.message_from_bytes(raw, policy=email.policy.default)` and `get_content()`)."
            f" Peak memory by tracemalloc. Targets: ≤ 1.1{X} the standard library's time, peak ≤ 3{X}"
            " the message size. (The same code for every ESP: each ESP's inbound webhook hands"
            " the raw message to this parser.)",
            "",
            f"| side | size MB | stdlib s | anymail s | {X} stdlib | time target | stdlib peak MB"
            " | anymail peak MB | peak / size | memory target |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for side in ("ours", "theirs"):
            size = m("inbound", "any", side, lambda r: r["size"])
            std = m("inbound", "any", side, lambda r: r["seconds"]["stdlib"])
            any_ = m("inbound", "any", side, lambda r: r["seconds"]["anymail"])
            peak = m("inbound", "any", side, lambda r: r["peak"]["anymail"])
            std_peak = m("inbound", "any", side, lambda r: r["peak"]["stdlib"])
            r = ratio(any_, std)
            out.append(
                f"| {side} | {size / 1e6:.1f} | {std:.3f} | {any_:.3f} | {r:.2f}{X} |"
                f" {verdict(r, 1.1)} | {std_peak / 1e6:.0f} | {peak / 1e6:.0f} |"
                f" {peak / size:.1f}{X} |"
                f" {verdict(peak / size, 3.0)} |"
            )
    if "import" in scenarios:
        out += [
            "",
            "### 5. `import anymail.backends.<esp>` in a fresh interpreter",
            "",
            "Wall time of the import alone (the interpreter's own start excluded) and the"
            f" modules it adds to `sys.modules`. Targets: ours ≤ 1.0{X} theirs for both.",
            "",
            "| ESP | ours ms | theirs ms | ratio | target | ours modules | theirs modules |"
            " ratio | target | top-level packages only theirs pulls in |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for esp in esps:
            ms = lambda r: r["ms"]  # noqa: E731
            ours, theirs = m("import", esp, "ours", ms), m("import", esp, "theirs", ms)
            lo, lt = results.last("import", esp, "ours"), results.last("import", esp, "theirs")
            only = sorted(set(lt["top"]) - set(lo["top"])) if lo and lt else []
            modules = lambda r: r["modules"]  # noqa: E731
            mo, mt = m("import", esp, "ours", modules), m("import", esp, "theirs", modules)
            rt, rm = ratio(ours, theirs), ratio(mo, mt)
            out.append(
                f"| {esp} | {ours:.0f} | {theirs:.0f} | {rt:.2f}{X} | {verdict(rt, 1.0)} |"
                f" {mo:.0f} | {mt:.0f} | {rm:.2f}{X} | {verdict(rm, 1.0)} |"
                f" {', '.join(only) or '—'} |"
            )
    return "\n".join(out) + "\n"


IMPORT_PROBE = """
import json, sys, time, importlib, warnings
warnings.simplefilter("ignore")
before = set(sys.modules)
start = time.perf_counter()
importlib.import_module("anymail.backends.{esp}")
elapsed = time.perf_counter() - start
new = set(sys.modules) - before
print(json.dumps({{"ms": elapsed * 1000, "modules": len(new),
                  "top": sorted({{name.split(".")[0] for name in new}})}}))
"""


def machine_header(sizes: Sizes, theirs: str, esps: list[str], argv: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    theirs_version = subprocess.run(  # noqa: S603
        [theirs, "-c", "import importlib.metadata as m; print(m.version('django-anymail'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = ", ".join(
        f"anymail-{esp.replace('_', '-')} {metadata.version('anymail-' + esp.replace('_', '-'))}"
        for esp in esps
    )
    return "\n".join(
        [
            f"Measured {datetime.date.today().isoformat()} with"
            f" `python benchmarks/bench.py {' '.join(argv)}`".rstrip()
            + f" ({sizes.rounds} rounds, medians; each round alternates which side runs first;"
            f" {sizes.send} messages for send CPU, {sizes.bulk} for bulk,"
            f" {sizes.webhook_events} webhook events; webhook-default: {sizes.default_posts}"
            f" one-event posts and {sizes.default_batches} posts of {sizes.default_batch} events).",
            "",
            f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}, Django {metadata.version('django')},"
            f" requests {metadata.version('requests')}",
            f"- Ours: anymail-base {metadata.version('anymail-base')}, {ours}",
            f"- Theirs: django-anymail {theirs_version} (PyPI), same Django and requests",
        ]
    )


# ----------------------------------------------------------------------------- measuring


def theirs_backends(theirs: str) -> list[str]:
    """The backend modules django-anymail has (the ESPs both sides can send with)."""
    return run_json(
        theirs,
        [
            "-c",
            "import json, pkgutil, anymail.backends as b;"
            "print(json.dumps([m.name for m in pkgutil.iter_modules(b.__path__)]))",
        ],
    )


def setup_django() -> None:
    """This process's Django (the orchestrator reads the registry and the profiles)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True, INSTALLED_APPS=["anymail"])
        django.setup()
    # a profile may run moto's server here (what a webhook looks up): no line per request
    quiet_servers()


def byte_compile(sides: dict[str, str]) -> None:
    """Compile every side's Python sources to bytecode, as pip does when it installs a
    wheel: the import scenario then times importing, not compiling. (Ours are the
    workspace's sources, installed editable: without this, an interpreter that may not
    write bytecode, PYTHONDONTWRITEBYTECODE=1 as on this project's machines, compiles
    every anymail module again at every import, ~45 ms in all, which no installed
    anymail-* wheel does.)"""
    for python in sides.values():
        subprocess.run(  # noqa: S603
            [python, "-c", COMPILE_PROBE], check=True, capture_output=True, cwd=str(HERE)
        )


#: compiles anymail's modules where the interpreter finds them (a namespace package:
#: one directory per installed distribution, or the workspace's src/ directories)
COMPILE_PROBE = """
import compileall, anymail
for directory in anymail.__path__:
    compileall.compile_dir(directory, quiet=1)
"""


def measure(
    esps: list[str],
    scenarios: list[str],
    sizes: Sizes,
    sides: dict[str, str],
    *,
    postgres: bool = True,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> tuple[Results, list[str]]:
    """Run the scenarios for the ESPs on both sides, ``sizes.rounds`` rounds; the results,
    and notes for the table's header (a database that couldn't be had, say)."""
    results = Results()
    notes: list[str] = []
    started = time.monotonic()

    def both(round_: int, scenario: str, esp: str, make: Callable[[str], dict]) -> None:
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        for side in order:
            results.add(scenario, esp, side, run_worker(sides[side], make(side)))

    if "import" in scenarios:
        byte_compile(sides)
    databases = (
        default_site_databases(postgres=postgres)
        if "webhook-default" in scenarios
        else contextlib.nullcontext({})
    )
    with databases as dbs, tempfile.TemporaryDirectory() as tmp:
        notes += dbs.get("notes", [])
        for note in dbs.get("notes", []):
            log(note)

        def hook(esp: str, traffic: Callable[[], dict], **extra: Any) -> Callable[[str], dict]:
            def make(side: str) -> dict[str, Any]:
                # signed afresh for each run (timestamps, replay protection)
                file = Path(tmp) / f"{esp}-{side}.json"
                file.write_text(json.dumps(traffic()))
                return {
                    "esp": esp,
                    "scenario": "webhook",
                    "requests_file": str(file),
                    "basic_auth": BASIC_AUTH,
                    "anymail": webhook_settings(esp),
                    **extra,
                }

            return make

        for round_ in range(sizes.rounds):
            log(f"round {round_ + 1}/{sizes.rounds}")
            for esp in esps if ESP_SCENARIOS & set(scenarios) else []:
                api = FakeAPI(esp) if API_SCENARIOS & set(scenarios) else None
                try:
                    if api is not None:
                        measure_api(esp, api, round_, scenarios, sizes, results, both)
                    if "webhook" in scenarios:
                        both(
                            round_,
                            "webhook",
                            esp,
                            hook(esp, lambda esp=esp: webhook_traffic(esp, sizes.webhook_events)),
                        )
                    if "webhook-default" in scenarios:
                        shapes = {"single": (1, sizes.default_posts)}
                        if webhook_batches(esp):
                            shapes["batch"] = (sizes.default_batch, sizes.default_batches)
                        for db, database in dbs.items():
                            if db == "notes" or database is None:
                                continue
                            for shape, (per_post, posts) in shapes.items():
                                both(
                                    round_,
                                    f"webhook-default-{db}-{shape}",
                                    esp,
                                    hook(
                                        esp,
                                        lambda esp=esp, n=per_post, p=posts: webhook_requests(
                                            esp, n, p
                                        ),
                                        database=database,
                                    ),
                                )
                    if "webhook-background" in scenarios:
                        for events in (1, BACKGROUND_BATCH):
                            make = hook(esp, lambda esp=esp, n=events: webhook_traffic(esp, n))
                            name = f"webhook-bg-{events}"
                            both(round_, name, esp, make)
                            # ours again, in background mode
                            results.add(
                                name, esp, "background",
                                run_worker(sides["ours"], {**make("ours"), "background": True}),
                            )  # fmt: skip
                finally:
                    if api is not None:
                        api.close()
                log(f"  {esp} done ({time.monotonic() - started:.0f} s)")
            if "inbound" in scenarios:
                inbound = {
                    "esp": "test",
                    "scenario": "inbound",
                    "size_mb": sizes.inbound_mb,
                    "repeat": sizes.inbound_repeat,
                }
                both(round_, "inbound", "any", lambda side, inbound=inbound: inbound)
            if "import" in scenarios:
                for esp in esps:
                    for _ in range(sizes.imports):
                        for side, python in sides.items():
                            probe = IMPORT_PROBE.format(esp=esp)
                            results.add("import", esp, side, run_json(python, ["-c", probe]))
                log(f"  imports done ({time.monotonic() - started:.0f} s)")
    return results, notes


def measure_api(
    esp: str,
    api: FakeAPI,
    round_: int,
    scenarios: list[str],
    sizes: Sizes,
    results: Results,
    both: Callable[[int, str, str, Callable[[str], dict]], None],
) -> None:
    """The scenarios against the ESP's fake API: send CPU and bulk."""
    base = {"esp": esp, "server": api.url}
    if "send" in scenarios:
        send = {
            **base,
            "scenario": "send_cpu",
            "count": sizes.send,
            "warmup": sizes.send_warmup,
            "block": sizes.send_block,
        }
        both(
            round_,
            "send",
            esp,
            lambda side: {**send, "anymail": api_settings(esp, api.url)},
        )
    if "bulk" in scenarios:
        bulk = {**base, "scenario": "bulk", "count": sizes.bulk, "delay": ROUND_TRIP}
        results.rows.setdefault(("bulk", esp), {})["count"] = [sizes.bulk]
        both(
            round_,
            "bulk",
            esp,
            lambda side: {**bulk, "anymail": api_settings(esp, api.url)},
        )
        if batch_settings(esp):
            batched = {**api_settings(esp, api.url), **batch_settings(esp)}
            worker = run_worker(sys.executable, {**bulk, "anymail": batched})
            results.add("bulk", f"{esp} batched", "ours", worker)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="one round, fewer messages")
    preset.add_argument("--full", action="store_true", help="more rounds, 1,000-message bulk")
    parser.add_argument("--esp", action="append", help="only this ESP (repeatable)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--theirs-python", help="an interpreter with django-anymail installed")
    parser.add_argument("--no-postgres", action="store_true", help="webhook-default on SQLite only")
    parser.add_argument("--output", type=Path, help="write the Markdown table here")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    argv_shown = argv if argv is not None else sys.argv[1:]

    setup_django()
    from anymail.registry import installed_esps

    sizes = copy.copy(PRESETS["quick" if args.quick else "full" if args.full else "default"])
    if args.rounds:
        sizes.rounds = args.rounds
    theirs = theirs_python(args.theirs_python)
    their_backends = theirs_backends(theirs)
    esps = sorted(esp for esp in installed_esps() if esp in their_backends)
    if args.esp:
        unknown = set(args.esp) - set(esps)
        if unknown:
            parser.error(f"not installed on both sides: {', '.join(sorted(unknown))}")
        esps = [esp for esp in esps if esp in args.esp]
    scenarios = list(args.scenario or SCENARIOS)
    sides = {"ours": sys.executable, "theirs": theirs}
    started = time.monotonic()
    results, notes = measure(esps, scenarios, sizes, sides, postgres=not args.no_postgres)

    header = machine_header(sizes, theirs, esps, argv_shown)
    if notes:
        header += "\n" + "\n".join(f"- {note}" for note in notes)
    table = render(results, esps, scenarios, header)
    print(table)
    full_run = not (args.quick or args.esp or args.scenario or args.rounds)
    output = args.output or (HERE / "RESULTS.md" if full_run else None)
    if output and not args.no_write:
        # The findings below the marker are written by hand: a new run keeps them.
        kept = ""
        if output.exists():
            previous = output.read_text()
            if FINDINGS_MARKER in previous:
                kept = "\n" + previous[previous.index(FINDINGS_MARKER) :]
        output.write_text(
            "# Benchmarks: Anymail and django-anymail\n\n"
            "The tables are generated by `hatch run bench:run` (`benchmarks/bench.py`; see"
            " `benchmarks/README.md` for what each scenario measures and how)."
            " The findings after them are written by hand.\n\n" + table + kept
        )
        print(f"wrote {output}", file=sys.stderr)
    print(f"took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
