"""Set one package's version and start its CHANGELOG section.

    python scripts/bump_version.py PACKAGE VERSION    # e.g. anymail-mailgun 1.2.0
    python scripts/bump_version.py PACKAGE minor      # or major / patch
    python scripts/bump_version.py --date PACKAGE     # date the current heading

(or ``hatch run release:bump ...`` / ``hatch run release:date PACKAGE``). The version
lives in one place, ``version = "..."`` in the package's ``pyproject.toml``
``[project]`` table; this rewrites that line and adds ``## <version> (unreleased)``
above the newest CHANGELOG.md section. ``--date`` turns the current version's
``(unreleased)`` into today's date: the last commit before tagging.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys

from monorepo import Package, get_package, log, release_tuple

VERSION = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?$")
PART = {"major": 0, "minor": 1, "patch": 2}


def next_version(current: str, how: str) -> str:
    """``how`` is a version (returned as is, once validated) or major/minor/patch."""
    if how in PART:
        parts = list(release_tuple(current)[:3])
        parts[PART[how]] += 1
        for i in range(PART[how] + 1, 3):
            parts[i] = 0
        return ".".join(map(str, parts))
    if not VERSION.match(how):
        raise SystemExit(f"{how!r} is not a version like 1.2.0, nor major/minor/patch")
    if release_tuple(how) < release_tuple(current):
        raise SystemExit(f"{how} is older than the current version {current}")
    return how


def set_version(package: Package, version: str) -> None:
    """Rewrite the ``version`` line of the ``[project]`` table."""
    path = package.path / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    project = re.search(r"^\[project\]\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not project:
        raise SystemExit(f"{path} has no [project] table")
    body = project["body"]
    line = re.compile(r'^version\s*=\s*"[^"]*"', re.M)
    new_body, count = line.subn(f'version = "{version}"', body, count=1)
    if count != 1:
        raise SystemExit(f"{path} has no static version line in [project]")
    path.write_text(text[: project.start("body")] + new_body + text[project.end("body") :], "utf-8")


def start_changelog(package: Package, version: str) -> None:
    """Add ``## <version> (unreleased)`` above the newest section (or at the end)."""
    path = package.changelog
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Changelog: {package.name}\n"
    if re.search(rf"^##\s+v?{re.escape(version)}\b", text, re.M):
        log(f"{path.name} already has a {version} heading")
        return
    section = f"## {version} (unreleased)\n\n- \n\n"
    first = re.search(r"^## ", text, re.M)
    if first:
        text = text[: first.start()] + section + text[first.start() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8")


def date_changelog(package: Package, today: datetime.date) -> None:
    """Replace ``(unreleased)`` in the current version's heading with ``today``."""
    path = package.changelog
    text = path.read_text(encoding="utf-8")
    heading = rf"^(##[ \t]+v?{re.escape(package.version)})[ \t]*\(unreleased\)[ \t]*$"
    pattern = re.compile(heading, re.M | re.I)
    new, count = pattern.subn(rf"\1 ({today.isoformat()})", text, 1)
    if count != 1:
        raise SystemExit(f"{path} has no '## {package.version} (unreleased)' heading to date")
    path.write_text(new, encoding="utf-8")
    log(f"{package.relpath}/CHANGELOG.md: {package.version} dated {today.isoformat()}")


def main(argv: list[str] | None = None) -> int:
    """Bump (or date) one package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("version", nargs="?", help="new version, or major / minor / patch")
    parser.add_argument("--date", action="store_true", help="date the current heading instead")
    args = parser.parse_args(argv)

    package = get_package(args.package)
    if args.date:
        date_changelog(package, datetime.date.today())
        return 0
    if not args.version:
        parser.error("give the new VERSION (or major / minor / patch)")
    version = next_version(package.version, args.version)
    set_version(package, version)
    start_changelog(package, version)
    log(f"{package.name}: {package.version} -> {version}; fill in {package.relpath}/CHANGELOG.md")
    log(f"then: hatch run release:date {package.name} && hatch run release:check {package.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
