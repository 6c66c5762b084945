"""The release workflow's build-and-check steps, for one package, without uploading.

    python scripts/release_check.py PACKAGE            # a dry run, before tagging
    python scripts/release_check.py --tag anymail-mailgun/v1.2.0   # what release.yml runs

(or ``hatch run release:check PACKAGE``). Steps, each fatal:

1. With ``--tag``: the tag names the package and its exact version
   (``<package>/v<version>``).
2. The package's CHANGELOG.md has a ``## <version>`` heading. For a tag the heading
   must be dated (``## 1.2.0 (2026-11-25)``, see ``hatch run release:date``); in a
   dry run an ``(unreleased)`` heading is only a warning.
3. hatch builds the wheel and sdist of that package, and only that package, into
   ``--dist`` (default ``dist/``, emptied first): exactly what gets uploaded.
4. The isolation checks on those artifacts: own files only, complete metadata,
   ``twine check --strict``, a fresh install with anymail-base alone that imports.
5. The package's tests, run against the installed wheel.

anymail-base is needed to install and test an ESP wheel; it comes from
``packages/anymail-base`` at the same commit and is built in a scratch directory,
never into ``--dist``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from check_isolation import (
    Built,
    check_files,
    check_install,
    check_metadata,
    twine_check,
    wheel_files,
)
from monorepo import (
    BASE,
    ROOT,
    Package,
    Virtualenv,
    build,
    discover,
    get_package,
    log,
    run_package_tests,
    wheel_of,
)

TAG = re.compile(r"^(?P<package>[a-z0-9][a-z0-9-]*)/v(?P<version>\d[0-9A-Za-z.+-]*)$")


def parse_tag(tag: str) -> tuple[str, str]:
    """Split a release tag ``<package>/v<version>`` (``refs/tags/`` prefix allowed)."""
    match = TAG.match(tag.removeprefix("refs/tags/"))
    if not match:
        raise SystemExit(f"tag {tag!r} is not <package>/v<version>, e.g. anymail-mailgun/v1.2.0")
    return match["package"], match["version"]


def changelog_heading(package: Package) -> str | None:
    """The CHANGELOG.md heading line for the package's current version, if any."""
    if not package.changelog.is_file():
        return None
    pattern = re.compile(rf"^##\s+v?{re.escape(package.version)}(?![0-9A-Za-z.+-]).*$", re.M)
    match = pattern.search(package.changelog.read_text(encoding="utf-8"))
    return match.group(0) if match else None


def check_version(package: Package, tag: str | None) -> None:
    """Steps 1 and 2: the tag and the changelog agree with pyproject.toml's version."""
    if tag is not None:
        tag_package, tag_version = parse_tag(tag)
        if tag_package != package.name:
            raise SystemExit(f"tag {tag!r} is for {tag_package}, not {package.name}")
        if tag_version != package.version:
            raise SystemExit(
                f"tag {tag!r} says {tag_version}, but {package.relpath}/pyproject.toml "
                f"says version = {package.version!r}"
            )
        log(f"tag {tag} matches {package.name} {package.version}")
    heading = changelog_heading(package)
    if heading is None:
        raise SystemExit(
            f"{package.relpath}/CHANGELOG.md has no '## {package.version}' heading "
            f"(hatch run release:bump {package.name} {package.version})"
        )
    if "unreleased" in heading.lower():
        message = (
            f"CHANGELOG heading {heading!r} is not dated (hatch run release:date {package.name})"
        )
        if tag is not None:
            raise SystemExit(message)
        log(f"warning: {message}; the release workflow will refuse it")
    else:
        log(f"CHANGELOG has {heading!r}")


def release_check(package: Package, tag: str | None, dist: Path, run_tests: bool) -> None:
    """Run every step for ``package``; raise SystemExit on the first failure."""
    check_version(package, tag)

    if dist.exists():
        shutil.rmtree(dist)
    artifacts = build(package, dist)
    log("built " + ", ".join(a.name for a in artifacts))
    wheel = wheel_of(package, artifacts)
    built = Built(package, wheel, artifacts, wheel_files(wheel))

    scratch = Path(tempfile.mkdtemp(prefix="anymail-release-"))
    try:
        wheelhouse = scratch / "wheelhouse"
        wheelhouse.mkdir()
        shutil.copy2(wheel, wheelhouse)
        if not package.is_base:
            base = get_package(BASE)
            shutil.copy2(wheel_of(base, build(base, scratch / BASE, ("wheel",))), wheelhouse)
        errors = (
            check_files(built)
            + check_metadata(built)
            + twine_check(artifacts)
            + check_install(built, discover(), wheelhouse, scratch)
        )
        if errors:
            raise SystemExit("\n".join(["release check failed:", *(f"  - {e}" for e in errors)]))
        log("contents, metadata, twine check and a fresh install: ok")
        if run_tests:
            env = Virtualenv(scratch / "tests-venv")
            env.pip_install(wheel, find_links=wheelhouse)
            run_package_tests(env, package)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"release check passed: {package.name} {package.version}; artifacts in {dist}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the release checks for one package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", help="package name (default: from --tag)")
    parser.add_argument("--tag", help="the release tag, <package>/v<version>")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output directory")
    parser.add_argument("--no-tests", action="store_true", help="skip the package's tests")
    args = parser.parse_args(argv)

    if args.package is None and args.tag is None:
        parser.error("name a PACKAGE or give --tag")
    name = args.package or parse_tag(args.tag)[0]
    release_check(get_package(name), args.tag, args.dist.resolve(), not args.no_tests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
