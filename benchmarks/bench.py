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
inbound, import), ``--theirs-python PATH`` (an interpreter with django-anymail installed).
"""

from __future__ import annotations

import argparse
import base64
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

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
FAKE_API = HERE / "fake_api.py"
THEIRS_VENV = HERE / ".venv-django-anymail"
SCENARIOS = ("send", "bulk", "webhook", "webhook-background", "inbound", "import")
#: the batch size of the background-webhook scenario's second row
BACKGROUND_BATCH = 1000
BASIC_AUTH = "bench-user:bench-password"
#: a realistic round trip to the ESP's API, for the bulk scenario
ROUND_TRIP = 0.020
FINDINGS_MARKER = "<!-- findings: kept by bench.py when it rewrites the tables -->"
#: the multiplication sign, for ratios in the tables
X = "\u00d7"

# Nothing here names an ESP: the ESPs are the installed descriptions (anymail.registry),
# each one's webhook traffic is its conformance profile's representative tracking fixture
# (the ESP's published samples: a list-shaped one is repeated into one post of ``events``
# events, as the ESP batches them; a single event is posted ``events`` times), and the ESPs
# whose API takes many messages a call are those whose backend is a BatchingBackend.


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


PRESETS = {
    "quick": Sizes(1, 100, 10, 100, 200, 20, 1, 3),
    "default": Sizes(3, 200, 20, 100, 500, 20, 2, 3),
    "full": Sizes(5, 1000, 50, 1000, 1000, 20, 3, 10),
}


# ----------------------------------------------------------------------------- processes


def theirs_python(given: str | None) -> str:
    """An interpreter with django-anymail: the one given, or our own virtualenv (made on
    first use with the latest release and the same Django as ours, so Django isn't a
    difference)."""
    if given:
        return given
    python = THEIRS_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {THEIRS_VENV} with the latest django-anymail ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(THEIRS_VENV)], check=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "django-anymail[amazon-ses]",
                f"django=={metadata.version('django')}",
                f"requests=={metadata.version('requests')}",
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


def api_settings(esp_id: str, url: str, theirs: bool) -> dict[str, Any]:
    settings = dict(load_profile(esp_id).backend_settings(SimpleNamespace(url=url)))
    if theirs and esp_id == "mailjet":
        # django-anymail sends through Mailjet's v3.1 Send API
        settings["MAILJET_API_URL"] = f"{url}/v3.1/"
    return settings


def webhook_requests(esp_id: str, events: int) -> dict[str, Any]:
    """The posts that make a batch of ``events`` tracking events, freshly signed."""
    profile = load_profile(esp_id)
    fixture = json.loads(profile.representative_tracking_fixture().read_text())
    request = fixture["request"]
    route = "" if fixture["webhook"] == "webhook" else "tracking/"
    path = f"/anymail/{esp_id}/{route}"
    per_sample = len(fixture["expected_events"])

    def encode(prepared: Any) -> dict[str, Any]:
        return {
            "path": path,
            "body": base64.b64encode(prepared.body).decode(),
            "content_type": prepared.content_type,
            "headers": dict(prepared.headers),
        }

    def varied(original: dict[str, Any], n: int) -> dict[str, Any]:
        """The request with each event made distinct (an extra key the converters
        ignore): the same sample posted again is a duplicate, signalled once."""
        request = copy.deepcopy(original)
        if isinstance(request.get("json"), dict):
            request["json"]["_anymail_bench"] = n
        elif isinstance(request.get("json"), list):
            for i, item in enumerate(request["json"]):
                if isinstance(item, dict):
                    item["_anymail_bench"] = f"{n}-{i}"
        elif "form" in request and "mandrill_events" in request["form"]:
            items = json.loads(request["form"]["mandrill_events"])
            for i, item in enumerate(items):
                item["_anymail_bench"] = f"{n}-{i}"
            request["form"]["mandrill_events"] = json.dumps(items)
        return request

    batch: list[Any] | None = None
    if isinstance(request.get("json"), list):
        batch = request["json"]
    elif "form" in request and "mandrill_events" in request["form"]:
        batch = json.loads(request["form"]["mandrill_events"])
    if batch is not None and per_sample == len(batch):
        repeated = copy.deepcopy((batch * (events // len(batch) + 1))[:events])
        for i, item in enumerate(repeated):
            if isinstance(item, dict):
                item["_anymail_bench"] = i
        bigger = copy.deepcopy(request)
        if "json" in bigger:
            bigger["json"] = repeated
        else:
            bigger["form"]["mandrill_events"] = json.dumps(repeated)
        posts = [encode(profile.prepare_webhook(bigger))]
        total = events
    else:
        posts = [
            encode(profile.prepare_webhook(varied(request, n))) for n in range(events // per_sample)
        ]
        total = len(posts) * per_sample
    return {
        "requests": posts,
        "events": total,
        "warmup": encode(profile.prepare_webhook(varied(request, -1))),
    }


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
            f" ({', '.join(esp for esp in esps if batching_backend(esp)) or 'none'}).",
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
            limit = 10.0 if batching_backend(esp) else 1.0
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
            " modules it adds to `sys.modules`.",
            "",
            "| ESP | ours ms | theirs ms | ratio | ours modules | theirs modules |"
            " top-level packages only theirs pulls in |",
            "|---|---|---|---|---|---|---|",
        ]
        for esp in esps:
            ms = lambda r: r["ms"]  # noqa: E731
            ours, theirs = m("import", esp, "ours", ms), m("import", esp, "theirs", ms)
            lo, lt = results.last("import", esp, "ours"), results.last("import", esp, "theirs")
            only = sorted(set(lt["top"]) - set(lo["top"])) if lo and lt else []
            out.append(
                f"| {esp} | {ours:.0f} | {theirs:.0f} | {ratio(ours, theirs):.2f}{X} | "
                + (f"{lo['modules']}" if lo else "—")
                + " | "
                + (f"{lt['modules']}" if lt else "—")
                + f" | {', '.join(only) or '—'} |"
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
            f" {sizes.webhook_events} webhook events).",
            "",
            f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}, Django {metadata.version('django')},"
            f" requests {metadata.version('requests')}",
            f"- Ours: anymail-base {metadata.version('anymail-base')}, {ours}",
            f"- Theirs: django-anymail {theirs_version} (PyPI), same Django and requests",
        ]
    )


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
    parser.add_argument("--output", type=Path, help="write the Markdown table here")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    argv_shown = argv if argv is not None else sys.argv[1:]

    import django
    from django.conf import settings

    settings.configure(USE_TZ=True, INSTALLED_APPS=["anymail"])
    django.setup()
    from anymail.registry import get_esp, installed_esps

    sizes = copy.copy(PRESETS["quick" if args.quick else "full" if args.full else "default"])
    if args.rounds:
        sizes.rounds = args.rounds
    theirs = theirs_python(args.theirs_python)
    their_backends = run_json(
        theirs,
        [
            "-c",
            "import json, pkgutil, anymail.backends as b;"
            "print(json.dumps([m.name for m in pkgutil.iter_modules(b.__path__)]))",
        ],
    )
    esps = sorted(esp for esp in installed_esps() if esp in their_backends)
    if args.esp:
        unknown = set(args.esp) - set(esps)
        if unknown:
            parser.error(f"not installed on both sides: {', '.join(sorted(unknown))}")
        esps = [esp for esp in esps if esp in args.esp]
    scenarios = list(args.scenario or SCENARIOS)
    # The fake APIs are the conformance suite's HTTP servers; Amazon SES's is moto's
    # server, which the benchmark's fake API process doesn't run yet.
    http_esps = [esp for esp in esps if get_esp(esp).api_url_setting]
    skipped = sorted(set(esps) - set(http_esps))
    sides = {"ours": sys.executable, "theirs": theirs}
    results = Results()
    started = time.monotonic()

    def both(round_: int, scenario: str, esp: str, make: Callable[[str], dict]) -> None:
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        for side in order:
            results.add(scenario, esp, side, run_worker(sides[side], make(side)))

    for round_ in range(sizes.rounds):
        print(f"round {round_ + 1}/{sizes.rounds}", file=sys.stderr)
        for esp in (
            http_esps if {"send", "bulk", "webhook", "webhook-background"} & set(scenarios) else []
        ):
            api = FakeAPI(esp)
            try:
                base = {"esp": esp, "server": api.url}
                if "send" in scenarios:
                    send = {**base, "scenario": "send_cpu", "count": sizes.send}
                    send["warmup"] = sizes.send_warmup
                    both(
                        round_,
                        "send",
                        esp,
                        lambda side, send=send, esp=esp, url=api.url: {
                            **send,
                            "anymail": api_settings(esp, url, side != "ours"),
                        },
                    )
                if "bulk" in scenarios:
                    bulk = {**base, "scenario": "bulk", "count": sizes.bulk, "delay": ROUND_TRIP}
                    results.rows.setdefault(("bulk", esp), {})["count"] = [sizes.bulk]
                    both(
                        round_,
                        "bulk",
                        esp,
                        lambda side, bulk=bulk, esp=esp, url=api.url: {
                            **bulk,
                            "anymail": api_settings(esp, url, side != "ours"),
                        },
                    )
                    if batch_settings(esp):
                        batched = {**api_settings(esp, api.url, False), **batch_settings(esp)}
                        worker = run_worker(sys.executable, {**bulk, "anymail": batched})
                        results.add("bulk", f"{esp} batched", "ours", worker)
                if "webhook" in scenarios:
                    with tempfile.TemporaryDirectory() as tmp:

                        def hook(
                            side: str, esp: str = esp, base: dict = base, tmp: str = tmp
                        ) -> dict[str, Any]:
                            # signed afresh for each run (timestamps, replay protection)
                            file = Path(tmp) / f"{side}.json"
                            file.write_text(json.dumps(webhook_requests(esp, sizes.webhook_events)))
                            return {
                                **base,
                                "scenario": "webhook",
                                "requests_file": str(file),
                                "basic_auth": BASIC_AUTH,
                                "anymail": webhook_settings(esp),
                            }

                        both(round_, "webhook", esp, hook)

                if "webhook-background" in scenarios:
                    with tempfile.TemporaryDirectory() as tmp:
                        for events in (1, BACKGROUND_BATCH):

                            def hook_bg(
                                side: str,
                                esp: str = esp,
                                base: dict = base,
                                tmp: str = tmp,
                                events: int = events,
                            ) -> dict[str, Any]:
                                file = Path(tmp) / f"{side}-{events}.json"
                                file.write_text(json.dumps(webhook_requests(esp, events)))
                                return {
                                    **base,
                                    "scenario": "webhook",
                                    "requests_file": str(file),
                                    "basic_auth": BASIC_AUTH,
                                    "anymail": webhook_settings(esp),
                                }

                            name = f"webhook-bg-{events}"
                            both(round_, name, esp, hook_bg)
                            # ours again, in background mode
                            results.add(
                                name, esp, "background",
                                run_worker(sides["ours"], {**hook_bg("ours"), "background": True}),
                            )  # fmt: skip
            finally:
                api.close()
            print(f"  {esp} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
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

    header = machine_header(sizes, theirs, esps, argv_shown)
    if skipped and {"send", "bulk", "webhook", "webhook-background"} & set(scenarios):
        header += (
            f"\n\nScenarios 1 to 3 cover the requests-based ESPs; not yet {', '.join(skipped)}"
            " (its fake API is moto's server)."
        )
    table = render(results, http_esps, scenarios, header)
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
