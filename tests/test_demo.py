"""The README's demo (examples/demo.py) runs end to end: every installed ESP sends,
and its tracking and inbound webhooks reach the example project's receivers.

The demo runs as its own process (it configures Django for the example project, not
the test project), bounded by a timeout, like a user running ``hatch run demo``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anymail_conformance.profiles import esps_under_test

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(  # noqa: S603 (this interpreter, the repository's own script)
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=DEMO.parent.parent,
        check=False,
    )


def summary_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table's rows: {ESP name: [sent, tracking, inbound]}."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"ESP\s+\| sent\s+\|", line))
    rows = {}
    for line in lines[start + 2 :]:
        if "|" not in line:
            break
        cells = [cell.strip() for cell in line.split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_demo_exits_zero(demo):
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]


def test_every_installed_esp_is_ok_in_the_table(demo):
    rows = summary_rows(demo.stdout)
    expected = {
        entry.esp.name: entry.esp for entry in esps_under_test() if not entry.esp.superseded_by
    }
    assert set(rows) == set(expected)
    for name, (sent, tracking, inbound) in rows.items():
        assert sent == "ok", (name, sent)
        assert tracking == "ok", (name, tracking)
        assert inbound == ("ok" if expected[name].inbound else "n/a"), (name, inbound)


def test_demo_shows_the_api_requests_and_the_received_events(demo):
    for entry in [e for e in esps_under_test() if not e.esp.superseded_by]:
        section = demo.stdout.split(f"== {entry.esp.name} (")[1].split("\n== ")[0]
        assert "API request: POST " in section, entry.id
        assert "anymail_status: status=[" in section, entry.id
        assert re.search(r"Posted the tracking webhook \S+ \([^)]*\): HTTP 200", section), entry.id
        # It says whether the ESP's signature was checked, and what was really sent.
        signed = "its signature verified" in section
        assert signed == bool(entry.esp.signed_webhooks), entry.id
        if not entry.esp.features["inline_images"].sends:
            assert "an inline image" not in section.split("Sent a message with")[1].split(":")[0]
        if entry.esp.inbound:
            assert "    inbound: from=" in section, entry.id


def test_demo_causes_no_deprecation_warning(demo):
    assert "RemovedIn" not in demo.stderr
    assert "DeprecationWarning" not in demo.stderr
