"""The benchmarks' regression check for CI: a short subset of ``bench.py`` against
django-anymail, every ratio compared with its target or, where the target is missed today,
with today's value, each with a noise margin measured on the machine that runs it.

    python benchmarks/ci_check.py                 # the check (exit 1 on a regression)
    python benchmarks/ci_check.py --calibrate 5   # measure 5 runs, write ci_thresholds.json

The subset, for every ESP installed on both sides (one round, each measurement a fresh
worker process, as ``bench.py`` does): send CPU (``SIZES.send`` messages), bulk
(``SIZES.bulk`` messages to an API answering after 20 ms; again with batching on where
the ESP has it as an option), tracking webhook per event (``SIZES.webhook_events``
events), and the import (``SIZES.imports`` fresh interpreters a side, the fastest kept).
Where ``bench.py``'s tables use totals, the check uses estimators that a busy machine
disturbs less: send overhead is the median over blocks of ``SIZES.send_block`` messages
of (send CPU - floor CPU next to it), and webhook time is the median post's CPU time per
event (one post, so the same as the total, where the ESP batches).

Targets (issue #28), ours / theirs: webhook per event at most 0.8; send CPU overhead at
most 0.5; import modules and import time at most 1.0; bulk messages per second at least
1.0 (at least 10 where the ESP batches messages, with batching on). And the inbound
parser against the standard library's (``SIZES.inbound_mb`` MB, the faster of
``SIZES.inbound_repeat`` parses): time at most 1.1, peak memory at most 3 times the
message size.

``ci_thresholds.json`` holds, per metric, the values of the calibration runs, their median
("current"), the noise margin as a factor (ratios vary by a factor: on a log scale, the
largest of the runs' full spread, three standard deviations, and three standard deviations
pooled over every ESP's metric of the same kind; at least ``MIN_FACTOR``)
and the basis: "target" where the median meets the target (the check fails when a run is
worse than the target by more than the factor), "current" where it doesn't (the check
fails when a run is worse than the current value by more than the factor: a regression
check, until the target is met and the thresholds are calibrated again). Nothing in it is typed
by hand; ``--calibrate`` rewrites it. A ratio past its limit is measured again (its ESP
and scenario only, up to ``REMEASURE`` more times); it is a regression, and the exit status
1, only if every measurement is past the limit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench

HERE = Path(__file__).resolve().parent
THRESHOLDS = HERE / "ci_thresholds.json"
SCENARIOS = ["send", "bulk", "webhook", "import", "inbound"]
SIZES = bench.Sizes(
    rounds=1,
    send=400,
    send_warmup=10,
    bulk=60,
    webhook_events=500,
    inbound_mb=5,
    inbound_repeat=2,
    imports=5,
    send_block=10,
)
#: the smallest margin (a factor), for metrics that didn't vary while calibrating (module
#: counts): a regression must be bigger than this to fail
MIN_FACTOR = 1.02
#: how many times a ratio past its limit is measured again before it counts as regressed
REMEASURE = 2
X = "\u00d7"


@dataclass
class Metric:
    """One ratio (ours / theirs) and its target."""

    key: str  #: "<kind>/<esp>"
    value: float
    target: float
    #: "max": lower is better (value ≤ target); "min": higher is better (value ≥ target)
    direction: str

    def meets(self, limit: float) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= limit if self.direction == "max" else self.value >= limit


def metrics(results: bench.Results, esps: list[str]) -> list[Metric]:
    """This run's ratios, with the issue's targets."""
    m = results.median
    found: list[Metric] = []

    def add(kind: str, esp: str, value: float, target: float, direction: str = "max") -> None:
        found.append(Metric(f"{kind}/{esp}", value, target, direction))

    def fastest(esp: str, side: str, key: Callable[[dict], float]) -> float:
        values = [key(r) for r in results.rows.get(("import", esp), {}).get(side, [])]
        return min(values) if values else float("nan")

    for esp in esps:
        over = lambda r: r["overhead_block_median_us"]  # noqa: E731
        add(
            "send",
            esp,
            bench.ratio(m("send", esp, "ours", over), m("send", esp, "theirs", over)),
            0.5,
        )
        rate = lambda r: r["messages_per_second"]  # noqa: E731
        theirs_rate = m("bulk", esp, "theirs", rate)
        ours_rate = m("bulk", esp, "ours", rate)
        add("bulk", esp, bench.ratio(ours_rate, theirs_rate), bench.bulk_target(esp), "min")
        if bench.batch_settings(esp):  # batching as an opt-in: the row with it on
            batched_rate = m("bulk", f"{esp} batched", "ours", rate)
            target = bench.bulk_target(esp, batched=True)
            add("bulk-batched", esp, bench.ratio(batched_rate, theirs_rate), target, "min")
        per_event = lambda r: r["median_cpu_per_event_us"]  # noqa: E731
        add(
            "webhook",
            esp,
            bench.ratio(
                m("webhook", esp, "ours", per_event), m("webhook", esp, "theirs", per_event)
            ),
            0.8,
        )
        for kind, field in (("import-time", "ms"), ("import-modules", "modules")):
            value = lambda r, field=field: r[field]  # noqa: E731
            add(
                kind,
                esp,
                bench.ratio(fastest(esp, "ours", value), fastest(esp, "theirs", value)),
                1.0,
            )
    if ("inbound", "any") in results.rows:
        # ours against the standard library's parse (not against django-anymail)
        seconds = lambda name: lambda r: r["seconds"][name]  # noqa: E731
        add(
            "inbound-time",
            "any",
            bench.ratio(
                m("inbound", "any", "ours", seconds("anymail")),
                m("inbound", "any", "ours", seconds("stdlib")),
            ),
            1.1,
        )
        add(
            "inbound-peak",
            "any",
            bench.ratio(
                m("inbound", "any", "ours", lambda r: r["peak"]["anymail"]),
                m("inbound", "any", "ours", lambda r: r["size"]),
            ),
            3.0,
        )
    return found


#: the scenario that measures each kind of metric
SCENARIO_OF = {
    "send": "send",
    "bulk": "bulk",
    "bulk-batched": "bulk",
    "webhook": "webhook",
    "import-time": "import",
    "import-modules": "import",
    "inbound-time": "inbound",
    "inbound-peak": "inbound",
}


def run_subset(
    esps: list[str] | None, theirs: str, scenarios: list[str] = SCENARIOS
) -> tuple[list[Metric], float]:
    bench.setup_django()
    from anymail.registry import installed_esps

    their_backends = bench.theirs_backends(theirs)
    chosen = sorted(esp for esp in installed_esps() if esp in their_backends)
    if esps:
        chosen = [esp for esp in chosen if esp in esps]
    started = time.monotonic()
    results, _ = bench.measure(
        chosen, scenarios, SIZES, {"ours": sys.executable, "theirs": theirs}, postgres=False
    )
    return metrics(results, chosen), time.monotonic() - started


# ----------------------------------------------------------------------------- thresholds


def derive(measured: dict[str, tuple[list[float], float, str]]) -> dict[str, Any]:
    """Each metric's threshold from its calibration runs (``key: (values, target,
    direction)``). Ratios vary by a factor, so the margin is one, from the logarithms of
    the runs: the largest of their full spread, three of their standard deviations, and
    three standard deviations pooled over every ESP's metric of the same kind (the same
    measurement on the same machine: a metric whose few runs happened to agree doesn't get
    a margin narrower than its kind's noise); at least MIN_FACTOR. The limit is the basis
    times it (lower is better) or divided by it (higher is better)."""
    logs = {key: [math.log(value) for value in values] for key, (values, _, _) in measured.items()}
    squares: dict[str, float] = {}
    degrees: dict[str, int] = {}
    for key, values in logs.items():
        kind = key.split("/", 1)[0]
        mean = statistics.fmean(values)
        squares[kind] = squares.get(kind, 0.0) + sum((value - mean) ** 2 for value in values)
        degrees[kind] = degrees.get(kind, 0) + len(values) - 1
    pooled = {
        kind: math.sqrt(squares[kind] / degrees[kind]) if degrees[kind] else 0.0 for kind in squares
    }
    table = {}
    for key, (values, target, direction) in sorted(measured.items()):
        current = statistics.median(values)
        spread = max(logs[key]) - min(logs[key])
        deviation = statistics.stdev(logs[key]) if len(values) > 1 else 0.0
        kind_deviation = pooled[key.split("/", 1)[0]]
        factor = max(math.exp(max(spread, 3 * deviation, 3 * kind_deviation)), MIN_FACTOR)
        met = Metric(key, current, target, direction).meets(target)
        table[key] = {
            "target": target,
            "direction": direction,
            "runs": [round(value, 4) for value in values],
            "current": round(current, 4),
            "log_spread": round(spread, 4),
            "log_stdev": round(deviation, 4),
            "kind_log_stdev": round(kind_deviation, 4),
            "factor": round(factor, 4),
            "basis": "target" if met else "current",
        }
    return table


def calibrate(runs: list[list[Metric]], seconds: list[float], argv: list[str]) -> dict[str, Any]:
    by_key: dict[str, list[Metric]] = {}
    for run in runs:
        for metric in run:
            by_key.setdefault(metric.key, []).append(metric)
    table = derive(
        {
            key: ([m.value for m in found if m.value > 0], found[0].target, found[0].direction)
            for key, found in by_key.items()
            if any(m.value > 0 for m in found)
        }
    )
    return {
        "how": HOW.format(
            runs=len(runs), argv=" ".join(argv), min_factor=MIN_FACTOR, remeasure=REMEASURE
        ),
        "measured": datetime.date.today().isoformat(),
        "machine": f"{machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "run_seconds": [round(value) for value in seconds],
        "sizes": {
            "send": SIZES.send,
            "send_block": SIZES.send_block,
            "bulk": SIZES.bulk,
            "webhook_events": SIZES.webhook_events,
            "imports": SIZES.imports,
        },
        "metrics": table,
    }


HOW = (
    "{runs} runs of the subset back to back (`ci_check.py {argv}`). current = the median of"
    " the runs; factor (the noise margin) = exp(max(full spread of the runs' logarithms,"
    " 3 standard deviations of them, 3 standard deviations pooled over the ESPs' metrics of"
    " the same kind)), at least {min_factor}; basis = 'target' where the median"
    " meets the issue's target, else 'current'. The limit is basis x factor (lower is"
    " better) or basis / factor (higher is better); a ratio fails only if it is past the"
    " limit every time it is measured (up to {remeasure} more times)."
)


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def limit_of(entry: dict[str, Any]) -> float:
    base = entry["target"] if entry["basis"] == "target" else entry["current"]
    return base * entry["factor"] if entry["direction"] == "max" else base / entry["factor"]


def past_limit(metric: Metric, thresholds: dict[str, Any]) -> bool:
    entry = thresholds.get("metrics", {}).get(metric.key)
    return entry is not None and not metric.meets(limit_of(entry))


def check(
    found: list[Metric], thresholds: dict[str, Any], again: dict[str, list[Metric]]
) -> tuple[list[str], int, list[str]]:
    """The table's rows, how many metrics regressed, and the metrics with no threshold.
    A ratio past its limit was measured again (``again``, up to ``REMEASURE`` times): it
    regressed only if every measurement is past the limit."""
    rows, regressed, uncalibrated = [], 0, []
    known = thresholds.get("metrics", {})
    for metric in found:
        sign = "≤" if metric.direction == "max" else "≥"
        target = f"{sign} {metric.target:g}{X}"
        entry = known.get(metric.key)
        if entry is None:
            met = metric.meets(metric.target)
            rows.append(
                f"| {metric.key} | {metric.value:.2f}{X} | — | {target} | not calibrated | — |"
                f" — | {'met' if met else 'missed'} | not failing (no threshold) |"
            )
            uncalibrated.append(metric.key)
            continue
        limit = limit_of(entry)
        later = again.get(metric.key, [])
        ok = any(measured.meets(limit) for measured in [metric, *later])
        regressed += not ok
        met = metric.meets(metric.target)
        if not ok:
            status = f"**REGRESSED** (all {1 + len(later)} measurements past the limit)"
        elif not metric.meets(limit):
            status = "ok (past the limit, then within it measured again)"
        elif entry["basis"] == "current" and met:
            status = "ok (now meets the target: calibrate again to hold it)"
        else:
            status = "ok"
        basis = (
            "target"
            if entry["basis"] == "target"
            else f"current {entry['current']:.2f}{X} (target missed)"
        )
        rows.append(
            f"| {metric.key} | {metric.value:.2f}{X} |"
            f" {' / '.join(f'{m.value:.2f}{X}' for m in later) or '—'} | {target} | {basis} |"
            f" {X}{entry['factor']:.2f} | {sign} {limit:.2f}{X} | {'met' if met else 'missed'} |"
            f" {status} |"
        )
    return rows, regressed, uncalibrated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calibrate", type=int, metavar="RUNS", help="measure RUNS runs and write the thresholds"
    )
    parser.add_argument(
        "--rederive",
        action="store_true",
        help="recompute the thresholds from the runs recorded in the file (no measuring)",
    )
    parser.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    parser.add_argument("--esp", action="append", help="only this ESP (repeatable)")
    parser.add_argument("--theirs-python", help="an interpreter with django-anymail installed")
    args = parser.parse_args(argv)
    argv_shown = argv if argv is not None else sys.argv[1:]
    started = time.monotonic()
    if args.rederive:
        # after a change to how margins are derived: the same measurements, the new rule
        data = json.loads(args.thresholds.read_text())
        data["metrics"] = derive(
            {
                key: (entry["runs"], entry["target"], entry["direction"])
                for key, entry in data["metrics"].items()
            }
        )
        runs = len(next(iter(data["metrics"].values()))["runs"])
        data["how"] = HOW.format(
            runs=runs,
            argv=data.get("argv", "--calibrate"),
            min_factor=MIN_FACTOR,
            remeasure=REMEASURE,
        )
        args.thresholds.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"rederived {args.thresholds}", file=sys.stderr)
        return 0
    theirs = bench.theirs_python(args.theirs_python)

    if args.calibrate:
        runs, seconds, loads = [], [], []
        for run in range(args.calibrate):
            print(f"calibration run {run + 1}/{args.calibrate}", file=sys.stderr)
            found, took = run_subset(args.esp, theirs)
            runs.append(found)
            seconds.append(took)
            loads.append(os.getloadavg()[1])
        data = calibrate(runs, seconds, argv_shown)
        data["argv"] = " ".join(argv_shown)
        # how busy the machine was (the margins are its noise): the 5-minute load average
        # at the end of each run, against its number of cores
        data["load_average_5min"] = [round(load, 2) for load in loads]
        args.thresholds.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        for key, entry in data["metrics"].items():
            print(
                f"{key}: current {entry['current']:.2f}, factor {entry['factor']:.2f}"
                f" (runs {entry['runs']}), basis {entry['basis']}"
            )
        print(f"wrote {args.thresholds} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        return 0

    thresholds = json.loads(args.thresholds.read_text()) if args.thresholds.exists() else {}
    found, _ = run_subset(args.esp, theirs)
    # A ratio past its limit is measured again (its ESP and scenario only), up to
    # REMEASURE times, before it counts as a regression: a disturbed measurement on a busy
    # machine isn't one; a regression is past the limit every time.
    failing = [metric for metric in found if past_limit(metric, thresholds)]
    again: dict[str, list[Metric]] = {}
    for _ in range(REMEASURE):
        if not failing:
            break
        keys = ", ".join(metric.key for metric in failing)
        print(f"past the limit: {keys}; measuring them again", file=sys.stderr)
        esps = sorted({metric.key.split("/", 1)[1] for metric in failing})
        kinds = {SCENARIO_OF[metric.key.split("/", 1)[0]] for metric in failing}
        scenarios = [scenario for scenario in SCENARIOS if scenario in kinds]
        remeasured, _ = run_subset(esps, theirs, scenarios)
        wanted = {metric.key for metric in failing}
        for metric in remeasured:
            if metric.key in wanted:
                again.setdefault(metric.key, []).append(metric)
        failing = [
            metric
            for metric in remeasured
            if metric.key in wanted and past_limit(metric, thresholds)
        ]
    rows, regressed, uncalibrated = check(found, thresholds, again)
    print(
        "| metric | ours / theirs | measured again | target | compared with | margin | limit |"
        " target now | result |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if uncalibrated:
        print(
            f"\n{len(uncalibrated)} ratios have no threshold (not failing):"
            f" {', '.join(uncalibrated)}; run `ci_check.py --calibrate 5` to measure them"
        )
    print(
        f"\n{len(found)} ratios, {regressed} regressed; thresholds measured"
        f" {thresholds.get('measured', 'never')} ({args.thresholds.name});"
        f" took {time.monotonic() - started:.0f} s"
    )
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
