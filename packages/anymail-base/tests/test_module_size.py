"""anymail-base keeps each module about one idea: none grows past 300 lines (issue 25).
A module that needs more is two ideas; split it (see docs/architecture.md)."""

from pathlib import Path

import anymail.settings

SOURCE = Path(anymail.settings.__file__).resolve().parent
LIMIT = 300


def test_every_base_module_is_under_300_lines():
    sizes = {
        str(path.relative_to(SOURCE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in SOURCE.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert len(sizes) > 40, sorted(sizes)  # found the package's modules
    too_long = {name: lines for name, lines in sizes.items() if lines >= LIMIT}
    assert not too_long, f"anymail-base modules of {LIMIT}+ lines: {too_long}"
