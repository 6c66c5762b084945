"""A real site for background webhook processing: the test project served by gunicorn
on 127.0.0.1, drained by task worker processes (django-tasks-db's ``db_worker``, or
django-tasks-redis's ``run_redis_tasks`` on a ``redis-server`` of its own), all
sharing one SQLite file. Used by the real-worker tests, the demo and the benchmark.

    with BackgroundSite(tasks="db", workers=2) as site:
        site.post("/anymail/fake/tracking/", body)
        site.wait_for_events(10)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_ESP_DIST = Path(__file__).resolve().parent / "fake_esp_dist"

__all__ = ["BackgroundSite", "RedisServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of our own on a free port (no persistence)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        if self.binary is None:
            raise FileNotFoundError("redis-server")
        self.process = subprocess.Popen(  # noqa: S603 (a local binary we found)
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server didn't start")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


class BackgroundSite:
    def __init__(
        self,
        tasks: str = "db",
        workers: int = 2,
        anymail: dict[str, Any] | None = None,
        redis_url: str | None = None,
        web_workers: int = 2,
        mailers: dict[str, Any] | None = None,
    ) -> None:
        self.tasks = tasks
        self.worker_count = workers
        self.web_workers = web_workers
        self.work = Path(tempfile.mkdtemp(prefix="anymail-background-"))
        self.events_dir = self.work / "events"
        self.events_dir.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testproject.worker_settings",
            "ANYMAIL_WORKER_DB": str(self.work / "db.sqlite3"),
            "ANYMAIL_WORKER_EVENTS": str(self.events_dir),
            "ANYMAIL_WORKER_TASKS": tasks,
            "ANYMAIL_WORKER_SETTINGS": json.dumps(anymail or {}),
            "ANYMAIL_WORKER_REDIS_URL": redis_url or "",
            "ANYMAIL_WORKER_REDIS_PREFIX": f"anymail-test-{self.port}",
            "ANYMAIL_WORKER_MAILERS": json.dumps(mailers or {}),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), str(FAKE_ESP_DIST), os.environ.get("PYTHONPATH", "")]
            ),
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    # --- processes

    def manage(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "django", *args],
            env=self.env, check=True, capture_output=True, text=True, **kwargs,
        )  # fmt: skip

    def start_worker(self) -> subprocess.Popen[bytes]:
        if self.tasks == "redis":
            command = ["run_redis_tasks", "--continuous", "--interval", "0.1",
                       "--claim-interval", "1"]  # fmt: skip
        else:
            command = ["db_worker", "--interval", "0.1", "--no-startup-delay"]
        worker = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "django", *command],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.work / "workers.log", "ab"),  # noqa: SIM115
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def __enter__(self) -> BackgroundSite:
        self.manage("migrate", "--skip-checks", "-v0")
        self.server = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.web_workers), "--threads", "8", "--log-level", "warning",
             "--timeout", "120", "--backlog", "2048", "--keep-alive", "75",
             "django.core.wsgi:get_wsgi_application()"],
            env=self.env, stderr=open(self.work / "server.log", "ab"),
        )  # fmt: skip
        for _ in range(self.worker_count):
            self.start_worker()
        import requests

        for _ in range(600):
            try:
                requests.get(self.base, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        return self

    def __exit__(self, *exc: Any) -> None:
        for process in [*self.workers, self.server]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, self.server]:
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(self.work, ignore_errors=True)

    def logs(self) -> str:
        return "".join(
            (self.work / name).read_text(errors="replace")[-4000:]
            for name in ("server.log", "workers.log")
            if (self.work / name).exists()
        )

    # --- posting and watching

    def post(
        self, path: str, body: bytes | dict[str, Any], session: Any = None, **headers: str
    ) -> Any:
        import requests

        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        return (session or requests).post(
            self.base + path, data=body, headers=headers, auth=("worker", "secret"), timeout=120
        )

    def events(self) -> list[tuple[str, str, float]]:
        """(esp name, event id, time received) of every signal so far."""
        found = []
        for path in self.events_dir.glob("events-*.txt"):
            for line in path.read_text(encoding="utf-8").splitlines():
                esp, event_id, when = line.split("\t")
                found.append((esp, event_id, float(when)))
        return found

    def wait_for_events(self, count: int, timeout: float = 120) -> list[tuple[str, str, float]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events()
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise TimeoutError(
            f"{len(self.events())} of {count} events after {timeout} s\n{self.logs()}"
        )

    def started_slow(self, timeout: float = 60) -> tuple[int, str]:
        """(pid, event id) of the worker blocked in the slow receiver."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in self.events_dir.glob("started-*"):
                return int(path.name.split("-")[1]), path.read_text()
            time.sleep(0.05)
        raise TimeoutError(f"no worker reached the slow receiver\n{self.logs()}")

    def wait_until_settled(self, timeout: float = 90) -> None:
        """Until no delivery is pending (then wait a moment for stray duplicates)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deliveries().get("pending", 0) == 0:
                time.sleep(0.5)
                return
            time.sleep(0.2)
        raise TimeoutError(f"deliveries still pending: {self.deliveries()}\n{self.logs()}")

    def outbox(self) -> dict[str, int]:
        """{state: count} of the background sends."""
        result = self.manage("anymail_outbox")
        return {
            state: int(n)
            for n, state in (part.split() for part in result.stdout.strip().split(", "))
        }

    def wait_for_outbox(self, timeout: float = 120) -> dict[str, int]:
        """Until nothing is queued or sending; the counts then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.outbox()
            if counts.get("queued", 0) == 0 and counts.get("sending", 0) == 0:
                return counts
            time.sleep(0.2)
        raise TimeoutError(f"outbox not drained: {self.outbox()}\n{self.logs()}")

    def deliveries(self) -> dict[str, int]:
        """{state: count} of the stored deliveries."""
        result = self.manage("anymail_webhooks")
        return {
            state: int(n)
            for n, state in (part.split() for part in result.stdout.strip().split(", "))
        }
