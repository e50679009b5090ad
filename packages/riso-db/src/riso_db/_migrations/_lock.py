"""The lock one migration run holds, so concurrent deploys apply each revision once.

PostgreSQL: a session advisory lock. MySQL/MariaDB: ``GET_LOCK``. SQLite: an
exclusive ``flock`` on a file beside the database.
"""

from __future__ import annotations

import contextlib
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from riso_db._database import Database
from riso_db._exceptions import MigrationError

_LOCK_NAME = "riso_db_migrations"
#: a fixed key for pg_advisory_lock (bigint), derived from the lock name
_PG_LOCK_KEY = zlib.crc32(_LOCK_NAME.encode()) << 16 | 0x7269

#: where a run reports progress (click.echo in the CLI)
Echo = Callable[[str], None]


@contextlib.contextmanager
def migration_lock(
    connection: Connection, db: Database, timeout: float, echo: Echo
) -> Iterator[None]:
    """Hold one lock for a whole run, so concurrent deploys apply migrations once.

    PostgreSQL: a session advisory lock. MySQL/MariaDB: ``GET_LOCK`` named after
    the database (the name is server-wide). SQLite: an exclusive ``flock`` on a
    file beside the database, since every process that can open the database
    file can open that one (an in-memory database has a single user).
    """
    dialect = db.dialect
    deadline = time.monotonic() + timeout
    told = False

    def waiting() -> None:
        nonlocal told
        if not told:
            echo("waiting for another process to finish migrating...")
            told = True
        if time.monotonic() > deadline:
            raise MigrationError(
                f"another process held the migration lock for more than {timeout:g}s "
                "(RISO_DB_LOCK_TIMEOUT)"
            )
        time.sleep(0.1)

    # a server-side lock: (take it without waiting, release it, parameters)
    server_lock: tuple[str, str, dict[str, Any]] | None = None
    if dialect == "postgresql":
        server_lock = (
            "SELECT pg_try_advisory_lock(:key)",
            "SELECT pg_advisory_unlock(:key)",
            {"key": _PG_LOCK_KEY},
        )
    elif dialect == "mysql":
        name = f"{_LOCK_NAME}:{db.url.database or ''}"[:64]
        server_lock = ("SELECT GET_LOCK(:name, 0)", "SELECT RELEASE_LOCK(:name)", {"name": name})

    if server_lock is not None:
        take, release, params = server_lock
        while not connection.execute(text(take), params).scalar():
            connection.rollback()
            waiting()
        connection.commit()
        try:
            yield
        finally:
            _release(connection, release, params)
    elif db.urls.is_memory or sys.platform == "win32":
        yield
    else:
        import fcntl

        path = Path(str(db.url.database)).resolve()
        with open(path.with_name(path.name + ".migrate-lock"), "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waiting()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _release(connection: Connection, sql: str, params: dict[str, Any]) -> None:
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text(sql), params)
        connection.commit()
    except SQLAlchemyError:
        pass  # the session lock ends with the connection anyway
