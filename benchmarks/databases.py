"""The databases of the ``webhook-default`` scenario: a SQLite file (what ``startproject``
gives a new site) and a PostgreSQL server of the benchmark's own.

:class:`PostgresServer` makes a cluster in a temporary directory with the machine's
``initdb`` and runs it with ``pg_ctl`` on a free port of 127.0.0.1 (trust authentication,
otherwise PostgreSQL's defaults: fsync on). PostgreSQL refuses to run as root: started as
root, the cluster belongs to the ``postgres`` user (or ``nobody``). It is stopped, and its
directory removed, when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATABASE_NAME = "anymail_bench"


def sqlite_file(directory: str) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for a new SQLite file, as ``startproject`` has it."""
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(directory) / "db.sqlite3")}


def postgres_binaries() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: on PATH, else the newest
    ``/usr/lib/postgresql/*/bin``."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    found = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (path.parent / "pg_ctl").exists()
    ]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    return max(found, key=version) if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresUnavailable(RuntimeError):
    """Why the benchmark can't run its own PostgreSQL server here."""


class PostgresServer:
    def __init__(self) -> None:
        self.binaries = postgres_binaries()
        if self.binaries is None:
            raise PostgresUnavailable("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
        try:
            import psycopg  # noqa: F401 (Django's PostgreSQL backend needs it)
        except ImportError as err:
            raise PostgresUnavailable(f"psycopg is not installed ({err})") from err
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # PostgreSQL won't run as root
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.user = pwd.getpwnam(name)
                    break
            if self.user is None:
                raise PostgresUnavailable("running as root, and no postgres or nobody user")
        self.port = free_port()
        self.directory = ""
        self.version = ""

    def run(self, *args: str) -> str:
        assert self.binaries is not None
        options: dict[str, Any] = {}
        if self.user is not None:
            options = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        process = subprocess.run(  # noqa: S603 (the machine's PostgreSQL binaries)
            [str(self.binaries / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.directory,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            timeout=120,
            check=False,
            **options,
        )
        if process.returncode != 0:
            raise PostgresUnavailable(
                f"{args[0]} failed ({process.returncode}): {process.stderr.strip()[-600:]}"
            )
        return process.stdout

    def start(self) -> PostgresServer:
        self.directory = tempfile.mkdtemp(prefix="anymail-bench-pg-")
        if self.user is not None:
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        data = str(Path(self.directory) / "data")
        try:
            self.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
            self.run(
                "pg_ctl", "-D", data, "-w", "-l", str(Path(self.directory) / "server.log"),
                "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                "start",
            )  # fmt: skip
            self.started = True
            self.run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                DATABASE_NAME,
            )  # fmt: skip
            self.version = self.run("postgres", "--version").strip()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if getattr(self, "started", False):
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                self.run(
                    "pg_ctl", "-D", str(Path(self.directory) / "data"), "-m", "fast", "-w", "stop"
                )
            self.started = False
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""

    def settings(self) -> dict[str, Any]:
        """Django's ``DATABASES["default"]`` for the server's database."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE_NAME,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


@contextlib.contextmanager
def default_site_databases(postgres: bool = True) -> Iterator[dict[str, Any]]:
    """``{"sqlite": settings, "postgresql": settings or None, "notes": [...]}``: a SQLite
    file, and a PostgreSQL server of our own where the machine can run one (else None and
    the reason in ``notes``)."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="anymail-bench-sqlite-") as directory:
        databases: dict[str, Any] = {"sqlite": sqlite_file(directory), "postgresql": None}
        server: PostgresServer | None = None
        if postgres:
            try:
                server = PostgresServer().start()
            except PostgresUnavailable as err:
                notes.append(f"PostgreSQL skipped: {err}")
            else:
                databases["postgresql"] = server.settings()
                notes.append(f"PostgreSQL: {server.version}, a server of the benchmark's own")
        databases["notes"] = notes
        try:
            yield databases
        finally:
            if server is not None:
                server.stop()
