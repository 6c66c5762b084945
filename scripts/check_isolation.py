"""Prove that every package is a wheel of its own.

    python scripts/check_isolation.py [PACKAGE ...] [--dist DIR] [--keep]

(or ``hatch run packaging:isolation``). With no PACKAGE, every package under
``packages/`` is checked. For each one this builds the wheel and sdist with hatch,
then verifies that:

* the wheel holds only its own files: modules from its own ``src/``, never the
  ``__init__.py`` of a namespace package (``anymail``, ``anymail.backends``,
  ``anymail.webhooks``, ``anymail.esps``, ``anymail.conformance``), and no path that another wheel ships
  (``anymail/py.typed`` belongs to anymail-base alone);
* its metadata is complete (name, version, license, classifiers, requires-python,
  a Django requirement directly or through anymail-base, project URLs, the
  package README as a Markdown long description; ESP packages declare an
  anymail-base range, an ``anymail.esps`` entry point and an
  ``anymail_conformance.profiles`` entry point) and ``twine check`` passes;
* it installs, with anymail-base alone, into a fresh virtualenv, every module it
  ships imports (Django set up with the ``anymail`` app), its ESPs are listed by
  the registry, and nothing any other ESP needs was installed.

Only PyPI is needed (for Django, requests and each ESP's own client).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import importlib.util
import shutil
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from monorepo import (
    BASE,
    NAMESPACE_PACKAGES,
    ROOT,
    TYPED_MARKER,
    Package,
    Virtualenv,
    build,
    discover,
    is_bounded_range,
    log,
    normalize,
    requirement_name,
    run,
    wheel_of,
)

FORBIDDEN = {f"{ns}/__init__.py" for ns in NAMESPACE_PACKAGES}

#: Run inside the fresh virtualenv: set Django up, import every module the wheel
#: ships, and list the ESP ids the registry finds (one per line, after a marker).
IMPORT_PROBE = """\
import importlib, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "anymail"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF="anymail.urls",
    SECRET_KEY="isolation-check",
)
django.setup()
for module in sys.argv[1:]:
    importlib.import_module(module)
from anymail import registry
print("ESPS:" + ",".join(sorted(registry.installed_esps())))
"""


@dataclass
class Built:
    """A package and the artifacts hatch built for it."""

    package: Package
    wheel: Path
    artifacts: list[Path]
    files: list[str] = field(default_factory=list)

    def modules(self) -> list[str]:
        """Dotted names of the Python modules the wheel ships."""
        return sorted(
            f[: -len(".py")].replace("/", ".").removesuffix(".__init__")
            for f in self.files
            if f.endswith(".py")
        )

    def runtime_modules(self) -> list[str]:
        """The modules a site imports: all but the conformance profile
        (``anymail.conformance.*``), which needs the suite (anymail-conformance, a test
        dependency) and is imported only by it; the lowest-base check runs it."""
        return [m for m in self.modules() if not m.startswith("anymail.conformance.")]


def wheel_files(wheel: Path) -> list[str]:
    """The paths a wheel installs, less its own ``.dist-info`` directory."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    return sorted(n for n in names if not n.split("/", 1)[0].endswith(".dist-info"))


def read_metadata(wheel: Path) -> Message:
    """The wheel's core metadata (``METADATA``) as an email message."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def read_entry_points(wheel: Path) -> str:
    """The wheel's ``entry_points.txt`` (empty when it has none)."""
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".dist-info/entry_points.txt"):
                return zf.read(name).decode()
    return ""


def check_files(built: Built) -> list[str]:
    """Errors about what the wheel holds: own files only, no namespace __init__."""
    errors = []
    package, src = built.package, built.package.path / "src"
    if not any(f.endswith(".py") for f in built.files):
        errors.append("the wheel ships no Python module")
    for path in built.files:
        if path in FORBIDDEN:
            errors.append(f"ships {path}: namespace packages must not have an __init__.py")
        elif path == TYPED_MARKER and not package.is_base:
            errors.append(f"ships {path}: only {BASE} ships the anymail namespace's py.typed")
        elif not path.startswith("anymail/"):
            errors.append(f"ships {path}: outside the anymail namespace")
        elif not (src / path).is_file():
            errors.append(f"ships {path}: not a file of {package.relpath}/src")
    if package.is_base and TYPED_MARKER not in built.files:
        errors.append(f"does not ship {TYPED_MARKER} (PEP 561 marker)")
    return errors


def check_collisions(builds: list[Built]) -> dict[str, list[str]]:
    """Errors per package for every path shipped by more than one wheel."""
    owners: dict[str, list[str]] = defaultdict(list)
    for built in builds:
        for path in built.files:
            owners[path].append(built.package.name)
    errors: dict[str, list[str]] = defaultdict(list)
    for path, names in sorted(owners.items()):
        if len(names) > 1:
            for name in names:
                errors[name].append(f"{path} is also shipped by {', '.join(set(names) - {name})}")
    return errors


def check_metadata(built: Built) -> list[str]:
    """Errors about the wheel's core metadata (see the module docstring)."""
    package, meta = built.package, read_metadata(built.wheel)
    errors = []
    if normalize(meta.get("Name", "")) != package.name:
        errors.append(f"metadata Name {meta.get('Name')!r} is not {package.name!r}")
    if meta.get("Version") != package.version:
        errors.append(f"metadata Version {meta.get('Version')!r} is not {package.version!r}")
    if not (meta.get("License-Expression") or meta.get("License")):
        errors.append("no license (License-Expression)")
    classifiers = meta.get_all("Classifier") or []
    if not classifiers:
        errors.append("no classifiers")
    elif not any(c.startswith("Programming Language :: Python :: 3") for c in classifiers):
        errors.append("no 'Programming Language :: Python :: 3' classifier")
    if not meta.get("Requires-Python"):
        errors.append("no Requires-Python")
    if not meta.get_all("Project-URL"):
        errors.append("no project URLs")
    requires = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = {requirement_name(r) for r in requires}
    if package.is_base:
        if "django" not in names:
            errors.append("anymail-base does not require Django")
    else:
        base_req = next((r for r in requires if requirement_name(r) == BASE), None)
        if base_req is None:
            errors.append(f"does not require {BASE} (and so no Django)")
        elif not is_bounded_range(base_req):
            errors.append(
                f"{base_req!r}: declare an anymail-base range with a lower and an upper "
                "bound, e.g. 'anymail-base>=0.1,<1' (CONTRIBUTING.md)"
            )
        entry_points = read_entry_points(built.wheel)
        if "[anymail.esps]" not in entry_points:
            errors.append("registers no ESP (no [anymail.esps] entry point)")
        if "[anymail_conformance.profiles]" not in entry_points:
            errors.append(
                "ships no conformance profile (no [anymail_conformance.profiles] entry point)"
            )
    readme = (package.path / "README.md").read_text(encoding="utf-8").strip()
    description = str(meta.get_payload()).strip()
    if meta.get("Description-Content-Type", "").split(";")[0] != "text/markdown":
        errors.append("long description is not Markdown (readme = 'README.md')")
    if description != readme:
        errors.append("long description is not the package's README.md")
    return errors


def twine_check(artifacts: list[Path]) -> list[str]:
    """Errors from ``twine check --strict`` on the wheel and sdist."""
    if importlib.util.find_spec("twine") is None:
        return ["twine is not installed here: run through `hatch run packaging:isolation`"]
    try:
        run([sys.executable, "-m", "twine", "check", "--strict", *artifacts], capture=True)
    except SystemExit as exc:
        return [f"twine check failed: {exc}"]
    return []


def other_esps_requirements(package: Package, packages: list[Package]) -> dict[str, str]:
    """Distributions that only *other* ESP packages need, mapped to who needs them."""
    base = next((p for p in packages if p.is_base), None)
    own = package.requirement_names() | {BASE, package.name}
    if base is not None:
        own |= base.requirement_names()
    foreign: dict[str, str] = {}
    for other in packages:
        if other.name in (package.name, BASE) or other.name in package.requirement_names():
            continue  # (a sibling it declares, with all it needs, is its own business)
        foreign[other.name] = other.name
        for name in other.requirement_names() - own:
            foreign.setdefault(name, other.name)
    return foreign


def check_install(
    built: Built,
    packages: list[Package],
    wheelhouse: Path,
    venvs: Path,
    builds_by_name: dict[str, Built] | None = None,
) -> list[str]:
    """Errors from installing the wheel with anymail-base alone in a fresh virtualenv."""
    package = built.package
    builds_by_name = builds_by_name or {}
    env = Virtualenv(venvs / package.name)
    try:
        env.pip_install(built.wheel, find_links=wheelhouse)
    except SystemExit as exc:
        return [f"does not install with {BASE} alone: {exc}"]
    errors = []
    installed = env.installed()
    for name, needed_by in sorted(other_esps_requirements(package, packages).items()):
        if name in installed:
            errors.append(f"installing it pulls in {name}, which only {needed_by} needs")
    if BASE not in installed:
        errors.append(f"{BASE} was not installed with it")
    probe = venvs / f"{package.name}-probe.py"
    probe.write_text(IMPORT_PROBE, encoding="utf-8")
    try:
        out = run([env.python, probe, *built.runtime_modules()], cwd=venvs, capture=True).stdout
    except SystemExit as exc:
        return [*errors, f"its modules do not import: {exc}"]
    listed = set(out.rsplit("ESPS:", 1)[-1].strip().split(",")) - {""}
    declared = _declared_esp_ids(built.wheel)
    for other in builds_by_name.values():  # ESPs of the siblings it declares
        if other.package.name in package.requirement_names():
            declared |= _declared_esp_ids(other.wheel)
    if declared - listed:
        errors.append(f"the registry does not list its ESP(s) {sorted(declared - listed)}")
    if listed - declared - {""}:
        errors.append(f"the registry lists ESPs it does not ship: {sorted(listed - declared)}")
    return errors


def _declared_esp_ids(wheel: Path) -> set[str]:
    ids, in_group = set(), False
    for line in read_entry_points(wheel).splitlines():
        line = line.strip()
        if line.startswith("["):
            in_group = line == "[anymail.esps]"
        elif in_group and "=" in line:
            ids.add(line.split("=", 1)[0].strip())
    return ids


def build_all(packages: list[Package], dist: Path) -> list[Built]:
    """Build every package (two at a time) into ``dist/<package>/``."""

    def one(package: Package) -> Built:
        started = time.monotonic()
        artifacts = build(package, dist / package.name)
        log(f"  built {package.name} {package.version} ({time.monotonic() - started:.0f}s)")
        wheel = wheel_of(package, artifacts)
        return Built(package, wheel, artifacts, wheel_files(wheel))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, packages))


def check(packages: list[Package], all_packages: list[Package], dist: Path) -> int:
    """Run every check on ``packages``; print a report; return the exit status."""
    log(f"Building {len(packages)} package(s) with hatch into {dist}")
    builds = build_all(packages, dist)
    wheelhouse = dist / "wheelhouse"
    wheelhouse.mkdir(exist_ok=True)
    for built in builds:
        shutil.copy2(built.wheel, wheelhouse)
    base_built = next((b for b in builds if b.package.is_base), None)
    if base_built is None:
        # anymail-base is a dependency of the wheels under test: build it too.
        base = next(p for p in all_packages if p.is_base)
        log(f"  building {BASE} as a dependency")
        shutil.copy2(wheel_of(base, build(base, dist / BASE, ("wheel",))), wheelhouse)

    by_name = {b.package.name: b for b in builds}
    # Sibling ESP packages the chosen ones depend on: built into the wheelhouse too.
    for package in packages:
        for other in all_packages:
            if other.is_base or other.name in by_name:
                continue
            if other.name in package.requirement_names():
                log(f"  building {other.name} as a dependency of {package.name}")
                artifacts = build(other, dist / other.name, ("wheel",))
                wheel = wheel_of(other, artifacts)
                shutil.copy2(wheel, wheelhouse)
                by_name[other.name] = Built(other, wheel, artifacts, wheel_files(wheel))
    collisions = check_collisions(builds)
    venvs = dist / "venvs"
    venvs.mkdir(exist_ok=True)

    def one(built: Built) -> tuple[Built, list[str]]:
        errors = (
            check_files(built)
            + collisions.get(built.package.name, [])
            + check_metadata(built)
            + twine_check(built.artifacts)
            + check_install(built, all_packages, wheelhouse, venvs, by_name)
        )
        return built, errors

    log("Checking contents, metadata, twine, and a fresh install of each wheel")
    failed = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for built, errors in pool.map(one, builds):
            name = f"{built.package.name} {built.package.version}"
            if errors:
                failed += 1
                log(f"FAIL {name}")
                for error in errors:
                    log(f"     - {error}")
            else:
                log(f"ok   {name}: {len(built.files)} files, {len(built.modules())} modules")
    log(f"isolation: {len(builds) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build and check; exit 1 if any package fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="package names (default: all)")
    parser.add_argument("--dist", type=Path, help="build directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary build directory")
    args = parser.parse_args(argv)

    started = time.monotonic()
    all_packages = discover()
    packages = discover(args.packages) if args.packages else all_packages
    if args.dist:
        status = check(packages, all_packages, args.dist.resolve())
    else:
        tmp = Path(tempfile.mkdtemp(prefix="anymail-isolation-"))
        try:
            status = check(packages, all_packages, tmp)
        finally:
            if args.keep:
                log(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    log(f"isolation check took {time.monotonic() - started:.0f}s")
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.exit(main())
