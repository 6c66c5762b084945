"""A small, bounded run of the webhook load test (scripts/webhook_load.py) through a
real gunicorn server, for every ESP: no 5xx, every event posted is received, and
none twice (replayed posts and a burst of one body included)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "webhook_load.py"


def test_bounded_load_run_loses_nothing():
    result = subprocess.run(  # noqa: S603 (our own script)
        [
            sys.executable,
            str(SCRIPT),
            "--posts",
            "24",
            "--concurrency",
            "8",
            "--workers",
            "2",
            "--burst",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    table = result.stdout
    assert "ESP" in table, result.stderr[-2000:]
    assert result.returncode == 0, table + result.stderr[-2000:]
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    assert rows, table
    for esp, posts, errors, other, no_answer, carried, received, lost, duplicates in rows:
        # 24 posts, then 3 replays of earlier posts and a burst of 5 copies of one
        assert (posts, errors, other, no_answer) == ("32", "0", "0", "0"), esp
        assert int(carried) > 0, esp
        assert (received, lost, duplicates) == (carried, "0", "0"), esp
