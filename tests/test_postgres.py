"""The replay store, the event claims, the webhook inbox and the outbox on a real
PostgreSQL server, over a real connection: their tests run again with the test
project on PostgreSQL (testproject/postgres_settings.py) in a pytest of their own.

Outside CI, skipped with the reason when no server answers on 127.0.0.1:5432; in CI
(CI=true) a missing server is a failure."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    "packages/anymail-base/tests/test_replay.py",
    "packages/anymail-base/tests/test_webhook_delivery.py",
    "packages/anymail-base/tests/test_background_webhooks.py",
    "packages/anymail-base/tests/test_background_sending.py",
]


def postgres_unavailable() -> str | None:
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg isn't installed"
    host = os.environ.get("ANYMAIL_TEST_POSTGRES_HOST", "127.0.0.1")
    port = int(os.environ.get("ANYMAIL_TEST_POSTGRES_PORT", "5432"))
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as err:
        return f"no PostgreSQL server at {host}:{port} ({err})"


def test_replay_store_claims_inbox_and_outbox_on_postgresql():
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    result = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--ds=testproject.postgres_settings", *SUITES],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary
    assert "skipped" not in summary, summary
    assert "deselected" not in summary, summary
