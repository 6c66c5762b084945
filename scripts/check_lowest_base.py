"""Run each ESP package's tests against the lowest anymail-base it declares.

    python scripts/check_lowest_base.py [PACKAGE ...]

(or ``hatch run packaging:lowest-base``). Every ESP package declares the range of
anymail-base it works with, e.g. ``anymail-base>=0.3,<1`` (CONTRIBUTING.md). The
upper end is what CI tests every day (the workspace's anymail-base); this proves
the lower end: for each ESP package, a fresh virtualenv gets exactly the lowest
declared anymail-base (built from ``packages/anymail-base`` when that is its
current version, otherwise the release from PyPI) and the ESP's own wheel, then
runs the ESP's tests, then the conformance suite from a directory outside the
checkout (`python -m anymail_conformance`), as an ESP package elsewhere would.

With no ESP package in the repository there is nothing to check: that is reported
and the exit status is 0. Any other problem exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from monorepo import (
    BASE,
    Package,
    Virtualenv,
    build,
    discover,
    log,
    lower_bound,
    release_tuple,
    run_package_tests,
    wheel_of,
)


def check_one(
    package: Package, base: Package, workdir: Path, everything: list[Package] | None = None
) -> str | None:
    """Test ``package`` against its lowest declared anymail-base; return an error or None."""
    requirement = package.base_requirement()
    if requirement is None:
        return f"declares no {BASE} requirement"
    lowest = lower_bound(requirement)
    if lowest is None:
        return f"{requirement!r} has no lower bound (declare e.g. '{BASE}>=0.1,<1')"
    if release_tuple(lowest) > release_tuple(base.version):
        return f"declares {BASE}>={lowest}, newer than the repository's {base.version}"

    env = Virtualenv(workdir / "venvs" / package.name)
    if release_tuple(lowest) == release_tuple(base.version):
        source = f"packages/{BASE} ({base.version})"
        # a directory per ESP: build() reports what is new in its output directory
        base_dist: str | Path = wheel_of(
            base, build(base, workdir / f"{BASE}-for-{package.name}", ("wheel",))
        )
    else:
        source = f"PyPI ({BASE}=={lowest})"
        base_dist = f"{BASE}=={lowest}"
    log(f"{package.name}: testing against the lowest declared {BASE}, from {source}")
    wheel = wheel_of(package, build(package, workdir / package.name, ("wheel",)))
    # An ESP package that depends on another of the repository's (the SendinBlue
    # compatibility package on anymail-brevo) gets that one's wheel too.
    siblings = [
        wheel_of(other, build(other, workdir / f"{other.name}-for-{package.name}", ("wheel",)))
        for other in everything or []
        if not other.is_base and other.name in package.requirement_names()
    ]
    try:
        # All in one resolve: pip must keep the pinned base, or fail loudly.
        env.pip_install(base_dist, wheel, *siblings)
        run_package_tests(env, package, outside=workdir / "outside" / package.name)
    except SystemExit as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Check each ESP package (or those named); exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="ESP package names (default: all)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="ESP packages checked at once, each in a process of its own (default: "
        "2, or 1 on a one-core machine); each one's output is printed when it ends",
    )
    args = parser.parse_args(argv)

    everything = discover()
    base = next(p for p in everything if p.is_base)
    chosen = discover(args.packages) if args.packages else everything
    esps = [p for p in chosen if not p.is_base]
    if not esps:
        log(
            f"lowest {BASE}: nothing to check: no ESP package under packages/ "
            f"(only {BASE}, which is the base itself)"
        )
        return 0

    started = time.monotonic()
    if args.jobs > 1 and len(esps) > 1:
        failed = check_in_parallel(esps, args.jobs)
        log(f"lowest {BASE}: {len(esps) - len(failed)} passed, {len(failed)} failed")
        log(f"lowest {BASE} check took {time.monotonic() - started:.0f}s")
        return 1 if failed else 0
    workdir = Path(tempfile.mkdtemp(prefix="anymail-lowest-base-"))
    failed = []
    try:
        for package in esps:
            error = check_one(package, base, workdir, everything)
            if error:
                failed.append(package.name)
                log(f"FAIL {package.name}: {error}")
            else:
                log(f"ok   {package.name}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"lowest {BASE}: {len(esps) - len(failed)} passed, {len(failed)} failed")
    log(f"lowest {BASE} check took {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


def check_in_parallel(esps: list[Package], jobs: int) -> list[str]:
    """Check each package in a process of this script (``--jobs 1``), ``jobs`` at a
    time; print each one's output whole when it ends. Returns the failed names."""

    def check(package: Package) -> tuple[Package, subprocess.CompletedProcess[str]]:
        command = [sys.executable, __file__, "--jobs", "1", package.name]
        return package, subprocess.run(  # noqa: S603 (our own script)
            command, capture_output=True, text=True, check=False
        )

    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done in as_completed([pool.submit(check, package) for package in esps]):
            package, result = done.result()
            log(f"----- {package.name} (exit status {result.returncode})")
            sys.stdout.write(result.stdout)
            sys.stdout.write(result.stderr)
            sys.stdout.flush()
            if result.returncode != 0:
                failed.append(package.name)
    return failed


if __name__ == "__main__":
    sys.exit(main())
