"""Shared helpers for the release and packaging scripts.

Everything here is standard library only, so the scripts run with any Python 3.11+
before any environment exists (in CI's first step, or on a contributor's machine).

A *package* is a directory ``packages/<name>/`` holding a ``pyproject.toml``; the
list is always read from the file system, so adding an ESP package needs no edit to
any script or workflow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_DIR = ROOT / "packages"
BASE = "anymail-base"

#: The PEP 420 namespace packages shared by every wheel: no wheel may ship their
#: ``__init__.py``, or installing it would shadow every other wheel's modules.
NAMESPACE_PACKAGES = (
    "anymail",
    "anymail/backends",
    "anymail/webhooks",
    "anymail/esps",
    "anymail/conformance",
)

#: The one PEP 561 marker of the ``anymail`` namespace: shipped by anymail-base
#: only (a second wheel shipping it would be a path shipped by two wheels).
TYPED_MARKER = "anymail/py.typed"

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """Return the normalized distribution name of a PEP 508 requirement string."""
    match = _REQUIREMENT_NAME.match(requirement)
    if not match:
        raise ValueError(f"cannot read a distribution name from requirement {requirement!r}")
    return normalize(match.group(1))


_SPECIFIER = re.compile(r"(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)")


def specifiers(requirement: str) -> list[tuple[str, str]]:
    """The (operator, version) pairs of a requirement's version specifier."""
    spec = requirement.split(";", 1)[0][_REQUIREMENT_NAME.match(requirement).end() :]  # type: ignore[union-attr]
    return _SPECIFIER.findall(spec)


def lower_bound(requirement: str) -> str | None:
    """The lowest version a requirement admits (its >=, ~= or == version), if any."""
    for op, version in specifiers(requirement):
        if op in (">=", "~=", "==", "==="):
            return version
    return None


def is_bounded_range(requirement: str) -> bool:
    """True when the requirement has both a lower and an upper bound."""
    ops = {op for op, _ in specifiers(requirement)}
    lower = bool(ops & {">=", ">", "~=", "==", "==="})
    upper = bool(ops & {"<", "<=", "~=", "==", "==="})
    return lower and upper


@dataclass(frozen=True)
class Package:
    """One distribution of the monorepo, read from its ``pyproject.toml``."""

    name: str
    path: Path
    version: str
    dependencies: tuple[str, ...]
    project: dict[str, object] = field(repr=False, compare=False)

    @property
    def is_base(self) -> bool:
        """True for anymail-base, the core every ESP package depends on."""
        return self.name == BASE

    @property
    def relpath(self) -> str:
        """The package directory relative to the repository root (POSIX form)."""
        return self.path.relative_to(ROOT).as_posix()

    @property
    def changelog(self) -> Path:
        """The package's CHANGELOG.md."""
        return self.path / "CHANGELOG.md"

    @property
    def test_requirements(self) -> tuple[str, ...]:
        """The package's ``test`` extra: what its own tests need beyond pytest."""
        extras = self.project.get("optional-dependencies")
        if not isinstance(extras, dict):
            return ()
        return tuple(str(req) for req in extras.get("test", ()))

    def requirement_names(self) -> set[str]:
        """Normalized names of the package's direct runtime requirements."""
        return {requirement_name(req) for req in self.dependencies}

    def base_requirement(self) -> str | None:
        """The package's ``anymail-base`` requirement string, if it declares one."""
        for req in self.dependencies:
            if requirement_name(req) == BASE:
                return req
        return None


def load_package(path: Path) -> Package:
    """Read the package in directory ``path``."""
    with (path / "pyproject.toml").open("rb") as f:
        data = tomllib.load(f)
    project = data.get("project")
    if not isinstance(project, dict) or "name" not in project:
        raise SystemExit(f"{path}/pyproject.toml has no [project] name")
    if "version" in project.get("dynamic", []) or "version" not in project:
        raise SystemExit(
            f"{path}/pyproject.toml: the version must be the static [project] version "
            "(one place per package; see CONTRIBUTING.md)"
        )
    return Package(
        name=normalize(str(project["name"])),
        path=path,
        version=str(project["version"]),
        dependencies=tuple(str(d) for d in project.get("dependencies", [])),
        project=project,
    )


def discover(names: Iterable[str] | None = None) -> list[Package]:
    """Every package under ``packages/`` (anymail-base first, then by name).

    With ``names``, only those packages; an unknown name is an error.
    """
    found = [load_package(p.parent) for p in sorted(PACKAGES_DIR.glob("*/pyproject.toml"))]
    found.sort(key=lambda p: (not p.is_base, p.name))
    if names is None:
        return found
    by_name = {p.name: p for p in found}
    wanted = [normalize(n) for n in names]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown package(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in wanted]


def get_package(name: str) -> Package:
    """The package called ``name`` (a directory name under packages/ or a dist name)."""
    return discover([name])[0]


def log(message: str) -> None:
    """Print a progress line (flushed, so it interleaves with subprocess output)."""
    print(message, flush=True)


def run(
    args: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly with its output when it exits non-zero."""
    cmd = [str(a) for a in args]
    result = subprocess.run(  # noqa: S603 (commands are built here, not from input)
        cmd,
        cwd=cwd,
        env=env,
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}")
    return result


def hatch_executable() -> str:
    """The hatch command: $HATCH, else ``hatch`` on PATH."""
    hatch = os.environ.get("HATCH") or shutil.which("hatch")
    if not hatch:
        raise SystemExit(
            "hatch not found: install it (python3 -m pip install 'hatch>=1.16,<2') or set $HATCH"
        )
    return hatch


def clean_env() -> dict[str, str]:
    """The environment minus hatch's and any virtualenv's activation variables,
    so a nested hatch or pip acts on the package, not on the calling environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HATCH_ENV") and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build(
    package: Package, outdir: Path, targets: Sequence[str] = ("wheel", "sdist")
) -> list[Path]:
    """Build ``package`` with hatch into ``outdir``; return the artifacts built."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    args: list[str | Path] = [hatch_executable(), "build", "--clean"]
    for target in targets:
        args += ["-t", target]
    args.append(outdir)
    run(args, cwd=package.path, env=clean_env(), capture=True)
    built = sorted(set(outdir.iterdir()) - before)
    if not built:
        raise SystemExit(f"hatch built nothing for {package.name}")
    return built


def wheel_of(package: Package, artifacts: Iterable[Path]) -> Path:
    """The wheel among ``artifacts`` built for ``package``."""
    prefix = package.name.replace("-", "_") + "-"
    wheels = [a for a in artifacts if a.suffix == ".whl" and a.name.startswith(prefix)]
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel for {package.name}, found {wheels}")
    return wheels[0]


class Virtualenv:
    """A fresh virtualenv at ``path`` with pip, for installing wheels in isolation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists():
            shutil.rmtree(path)
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = path / bindir / ("python.exe" if os.name == "nt" else "python")

    def pip_install(self, *requirements: str | Path, find_links: Path | None = None) -> None:
        """pip install ``requirements`` (quietly), with local wheels from ``find_links``."""
        args: list[str | Path] = [self.python, "-m", "pip", "install", "--quiet"]
        if find_links is not None:
            args += ["--find-links", find_links]
        run([*args, *requirements], env=clean_env(), capture=True)

    def installed(self) -> set[str]:
        """Normalized names of every distribution installed in this virtualenv."""
        code = (
            "import importlib.metadata as m\n"
            "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
        )
        out = run([self.python, "-c", code], env=clean_env(), capture=True).stdout
        return {normalize(line) for line in out.split() if line}

    def python_run(self, *args: str | Path, cwd: Path | None = None) -> None:
        """Run this virtualenv's Python with ``args``."""
        run([self.python, *args], cwd=cwd, env=clean_env())


def release_tuple(version: str) -> tuple[int, ...]:
    """The numeric release segment of a version, zero-padded for comparison
    (``"0.1"`` and ``"0.1.0"`` compare equal)."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


#: What a package's tests need beside the package itself (the root conftest.py and
#: testproject/ settings come from the repository checkout).
TEST_REQUIREMENTS = ("pytest>=8", "pytest-django>=4.8")


#: The conformance suite's distribution, installed from this checkout (it is not on PyPI
#: until its first release) wherever a package's ``test`` extra names it.
CONFORMANCE = "anymail-conformance"
CONFORMANCE_DIR = ROOT / "conformance"


def local_test_requirements(package: Package) -> list[str]:
    """The package's ``test`` extra, with anymail-conformance taken from this checkout."""
    return [
        str(CONFORMANCE_DIR) if requirement_name(req) == CONFORMANCE else req
        for req in package.test_requirements
    ]


def run_package_tests(env: Virtualenv, package: Package, *, outside: Path | None = None) -> None:
    """Run ``package``'s tests with the wheels installed in ``env`` (not the sources).

    With ``outside`` (a directory outside the checkout), also run the conformance suite
    there, as an ESP package in another repository would: ``python -m anymail_conformance``
    with the suite's own settings, against the installed wheels only."""
    env.pip_install(*TEST_REQUIREMENTS, *local_test_requirements(package))
    tests = package.path / "tests"
    if not tests.is_dir():
        raise SystemExit(f"{package.relpath} has no tests/ directory")
    env.python_run("-m", "pytest", "-p", "no:cacheprovider", tests, cwd=ROOT)
    if outside is not None:
        outside.mkdir(parents=True, exist_ok=True)
        env.python_run("-m", "anymail_conformance", "-q", cwd=outside)
