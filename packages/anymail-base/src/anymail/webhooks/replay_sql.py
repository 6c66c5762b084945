"""The database replay store's two statements per request, as plain SQL where the
database can run them: claiming is one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
(the keys inserted are this request's; only a key already there needs a read), and
finishing is one ``UPDATE``. The ORM builds the same statements at several times the
CPU per request; a database without ``RETURNING`` on inserts (MySQL, MariaDB, Oracle)
takes the ORM path in :class:`~anymail.webhooks.replay.DatabaseReplayStore`."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

__all__ = ["finish_claims", "insert_claims"]

#: parameters a statement may bind where the database doesn't say (SQLite before 3.32)
DEFAULT_MAX_PARAMS = 999


#: SQLite's limit, read once (it is compiled into the library the process loaded)
_sqlite_max_params: int | None = None


def _max_params(connection: Any) -> int:
    """How many parameters one statement may bind: PostgreSQL's protocol limit, or
    SQLite's compiled-in one (32766 since 3.32), so a batch of events is one statement."""
    global _sqlite_max_params
    if connection.vendor == "postgresql":
        return 65535
    if _sqlite_max_params is None:
        try:
            import sqlite3

            connection.ensure_connection()
            limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            _sqlite_max_params = int(limit)
        except (AttributeError, ImportError, TypeError):  # Python < 3.11, another driver
            return DEFAULT_MAX_PARAMS
    return _sqlite_max_params


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + max(size, 1)]


@functools.cache
def _table() -> tuple[Any, str, dict[str, str]]:
    from anymail.models import WebhookReplayToken

    meta = WebhookReplayToken._meta
    columns = {
        name: meta.get_field(name).column for name in ("key", "esp_id", "expires_at", "owner")
    }
    return meta, meta.db_table, columns


def insert_claims(
    connection: Any, keys: Sequence[str], esp_id: str, expires_at: datetime, owner: str
) -> set[str] | None:
    """Insert the keys held by ``owner`` until ``expires_at``, skipping those already
    there: the keys inserted (this claim's), or None where the database can't return
    them (the caller then inserts through the ORM)."""
    if connection.vendor not in ("sqlite", "postgresql") or not getattr(
        connection.features, "can_return_rows_from_bulk_insert", False
    ):
        return None
    meta, table, col = _table()
    quote = connection.ops.quote_name
    expires = meta.get_field("expires_at").get_db_prep_save(expires_at, connection)
    names = ", ".join(quote(col[name]) for name in ("key", "esp_id", "expires_at", "owner"))
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, _max_params(connection) // 4):
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {quote(table)} ({names}) VALUES {values} "  # noqa: S608 (names quoted, values bound)
                f"ON CONFLICT ({quote(col['key'])}) DO NOTHING RETURNING {quote(col['key'])}",
                [value for key in chunk for value in (key, esp_id, expires, owner)],
            )
            inserted.update(row[0] for row in cursor.fetchall())
    return inserted


def finish_claims(connection: Any, keys: Sequence[str], owner: str, expires_at: datetime) -> None:
    """Mark the keys ``owner`` holds as handled (owner ""), kept until ``expires_at``."""
    meta, table, col = _table()
    quote = connection.ops.quote_name
    expires = meta.get_field("expires_at").get_db_prep_save(expires_at, connection)
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, _max_params(connection) - 3):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {quote(table)} SET {quote(col['owner'])} = %s, "  # noqa: S608
                f"{quote(col['expires_at'])} = %s "
                f"WHERE {quote(col['owner'])} = %s AND {quote(col['key'])} IN ({marks})",
                ["", expires, owner, *chunk],
            )
