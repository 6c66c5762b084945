"""List the packages of the monorepo as JSON, for CI's job matrix.

    python scripts/packages.py                      # every package: ["anymail-base", ...]
    python scripts/packages.py --details            # name, path, version of each
    python scripts/packages.py --changed-from REF   # only packages whose jobs must run

``--changed-from`` is CI's path filter: a package's jobs run when a file of that
package changes, or when anything every package depends on changes (anymail-base,
the conformance suite, the shared test settings, the tool configuration, these
scripts or the CI workflow). When REF is unknown (a new branch, a shallow clone)
every package is listed: running too much is safe, running too little is not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from monorepo import BASE, ROOT, Package, discover

#: Paths (prefixes) whose change reruns every package's jobs.
SHARED_PATHS = (
    f"packages/{BASE}/",
    "conformance/",
    "testproject/",
    "scripts/",
    ".github/workflows/ci.yml",
    "conftest.py",
    "pyproject.toml",
    "hatch.toml",
)


def changed_files(ref: str) -> list[str] | None:
    """Files changed between ``ref`` and HEAD, or None when that can't be known."""
    if not ref or set(ref) == {"0"}:
        return None
    result = subprocess.run(  # noqa: S603
        ["git", "diff", "--name-only", f"{ref}...HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"cannot diff against {ref!r}; selecting every package", file=sys.stderr)
        return None
    return [line for line in result.stdout.splitlines() if line]


def affected(packages: list[Package], files: list[str] | None) -> list[Package]:
    """The packages whose jobs must run when ``files`` changed."""
    if files is None or any(f.startswith(SHARED_PATHS) for f in files):
        return packages
    return [p for p in packages if any(f.startswith(p.relpath + "/") for f in files)]


def main(argv: list[str] | None = None) -> int:
    """Print the package list as JSON on one line (a GitHub Actions output value)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changed-from", metavar="REF", help="git ref to diff HEAD against")
    parser.add_argument("--details", action="store_true", help="objects, not names")
    args = parser.parse_args(argv)

    packages = discover()
    if args.changed_from is not None:
        packages = affected(packages, changed_files(args.changed_from))
    if args.details:
        out: object = [
            {"name": p.name, "path": p.relpath, "version": p.version, "base": p.is_base}
            for p in packages
        ]
    else:
        out = [p.name for p in packages]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
