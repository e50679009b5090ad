"""One database connection shared by the app's async and sync engines, rolled back per test.

During a test the app, riso-auth, ``db_session`` and ``sync_db_session`` all
talk through one physical connection, so each sees what the others wrote
before it was committed, and nothing waits on a lock another one holds (a
second connection writing to SQLite would stall until its busy timeout).

The test runs inside one outer transaction. Every transaction SQLAlchemy
begins on these engines becomes a savepoint: a commit releases it, a rollback
rolls back to it, and the outer transaction is rolled back when the test ends,
so whatever anyone committed is gone.

On SQLite the async side (aiosqlite) and the sync side (sqlite3) wrap the same
``sqlite3`` connection; on PostgreSQL a ``psycopg.AsyncConnection`` and a
``psycopg.Connection`` share one libpq connection. Both async drivers work from
whichever event loop awaits them (the ``TestClient``'s, the test's), one at a
time. So on PostgreSQL the app's async engine runs on psycopg during tests
even where it runs on asyncpg (the default) in production: an asyncpg
connection belongs to the loop that opened it and shares no connection with a
sync driver. SQLAlchemy gives both drivers the same types and results;
riso-db's own suite runs its driver-specific code on both.

aiomysql binds its connection to the loop that opened it, so on MySQL/MariaDB
the async side is an aiomysql-shaped adapter over the sync side's PyMySQL
connection (``_mysql``), usable from any loop.

MySQL ends a transaction implicitly on DDL (``CREATE``, ``ALTER``,
``TRUNCATE``...): a test that runs DDL cannot be rolled back there, and the
plugin says so when it finds its savepoints gone.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from riso_db._url import DatabaseUrls

_NAMES = itertools.count(1)
#: MySQL: the savepoint opened with each test's transaction
_OUTER = "riso_test_outer"


class UnsupportedTestDatabaseError(RuntimeError):
    """The test database's engine cannot share and roll back what a test did."""


class TransactionEndedError(UnsupportedTestDatabaseError):
    """MySQL committed the test's transaction implicitly (DDL): it cannot be rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "MySQL ended the test's transaction: a statement it commits implicitly "
            "(CREATE, ALTER, DROP, TRUNCATE, LOCK TABLES...) ran during the test, so what "
            "was written before it stays in the test database; change the schema in "
            "migrations, not in tests"
        )


class _Savepoints:
    """The transactions begun on one physical connection, as a stack of savepoints."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: [connection, savepoint name, committed while not on top]
        self.stack: list[list[Any]] = []

    def install(self, engine: Engine) -> None:
        # Nothing the app does may end the outer transaction: the DBAPI's commit and
        # rollback become no-ops on this engine (its own dialect instance).
        engine.dialect.do_commit = _no_op  # type: ignore[method-assign,assignment]
        engine.dialect.do_rollback = _no_op  # type: ignore[method-assign,assignment]
        # the app's lifespan disposes its engines at shutdown: the connection lives on
        engine.dialect.do_close = _no_op  # type: ignore[method-assign,assignment]
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def clear(self) -> None:
        with self.lock:
            self.stack.clear()

    def _begin(self, connection: Connection) -> None:
        name = f"riso_test_{next(_NAMES)}"
        with self.lock:
            _execute(connection, f"SAVEPOINT {name}")
            self.stack.append([connection, name, False])

    def _index(self, connection: Connection) -> int | None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] is connection:
                return index
        return None

    def _commit(self, connection: Connection) -> None:
        with self.lock:
            index = self._index(connection)
            if index is None:
                return
            self.stack[index][2] = True
            # release from the top only, so a savepoint begun later is never released with it
            while self.stack and self.stack[-1][2]:
                _, name, _ = self.stack.pop()
                _execute(connection, f"RELEASE SAVEPOINT {name}")

    def _rollback(self, connection: Connection) -> None:
        with self.lock:
            index = self._index(connection)
            if index is None:  # already undone by the rollback of an enclosing one
                return
            name = self.stack[index][1]
            del self.stack[index:]
            try:
                _execute(connection, f"ROLLBACK TO SAVEPOINT {name}")
                _execute(connection, f"RELEASE SAVEPOINT {name}")
            except TransactionEndedError:
                # rollbacks run in cleanups (a session's close, an exception unwinding):
                # raising here would hide the error being handled; the test fails at its end
                pass


def _no_op(_dbapi_connection: Any) -> None:
    return None


def _execute(connection: Connection, sql: str) -> None:
    # on the DBAPI connection itself: SQLAlchemy's own transaction state stays untouched
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    except Exception as exc:
        if lost_savepoint(exc):
            raise TransactionEndedError from exc
        raise
    finally:
        cursor.close()


def lost_savepoint(exc: BaseException) -> bool:
    """Whether MySQL says a savepoint is gone (an implicit commit took the transaction)."""
    pymysql = sys.modules.get("pymysql")
    # ER_SP_DOES_NOT_EXIST
    return pymysql is not None and isinstance(exc, pymysql.Error) and exc.args[:1] == (1305,)


class SharedConnection:
    """The test engines of one database: ``async_engine`` and ``sync_engine``."""

    def __init__(self, urls: DatabaseUrls, *, busy_timeout: float = 10.0) -> None:
        self.urls = urls
        self.dialect = urls.dialect
        self._savepoints = _Savepoints()
        self._raw: Any = None
        self.async_raw: Any = None
        self._busy_timeout = busy_timeout
        if self.dialect == "sqlite":
            self._raw = _sqlite_connection(urls, busy_timeout)
        elif self.dialect == "postgresql":
            import psycopg

            self._raw = psycopg.connect(_libpq_url(urls))
        elif self.dialect != "mysql":
            raise UnsupportedTestDatabaseError(
                f"riso-db's pytest plugin cannot roll back tests on {self.dialect}"
            )
        self.sync_engine = _engine(create_engine, urls.sync_url, creator=lambda: self._raw)
        if self.dialect == "mysql":
            self._raw = _mysql_connection(self.sync_engine, busy_timeout)
        async_url = urls.async_url
        if self.dialect == "postgresql":  # the side that can share the sync side's libpq
            async_url = async_url.set(drivername="postgresql+psycopg")
        self.async_engine: AsyncEngine = _engine(
            create_async_engine, async_url, async_creator=self._async_connection
        )
        self._savepoints.install(self.async_engine.sync_engine)
        self._savepoints.install(self.sync_engine)

    async def _async_connection(self) -> Any:
        if self.async_raw is None:
            if self.dialect == "sqlite":
                import aiosqlite

                # aiosqlite runs the shared sqlite3 connection in its own thread
                self.async_raw = await aiosqlite.Connection(lambda: self._raw, 64)
            elif self.dialect == "mysql":
                from riso_db_pytest._mysql import AsyncConnection

                self.async_raw = AsyncConnection(self._raw)
            else:
                import psycopg

                self.async_raw = psycopg.AsyncConnection(self._raw.pgconn)
        return self.async_raw

    # --- per test ------------------------------------------------------------
    def begin(self) -> None:
        """Open the outer transaction a test runs in."""
        self._savepoints.clear()
        if self.dialect == "sqlite":
            self._raw.execute("BEGIN")
        elif self.dialect == "mysql":
            # with autocommit off the transaction begins implicitly (as psycopg's); the
            # savepoint tells at the end whether a DDL statement committed it midway
            with self._raw.cursor() as cursor:
                cursor.execute(f"SAVEPOINT {_OUTER}")
        # psycopg begins one implicitly before the first statement

    def rollback(self) -> None:
        """Undo everything done since :meth:`begin`, commits included."""
        self._savepoints.clear()
        if self.dialect == "sqlite":
            if self._raw.in_transaction:
                self._raw.execute("ROLLBACK")
            return
        ended = False
        if self.dialect == "mysql":
            try:
                with self._raw.cursor() as cursor:
                    cursor.execute(f"ROLLBACK TO SAVEPOINT {_OUTER}")
            except Exception as exc:
                if not lost_savepoint(exc):
                    raise
                ended = True
        self._raw.rollback()
        if ended:
            raise TransactionEndedError

    async def close_async(self) -> None:
        """Close the async side (aiosqlite's thread must end, or the process would wait)."""
        raw, self.async_raw = self.async_raw, None
        if raw is None:
            return
        if self.dialect == "sqlite":
            await raw.close()  # closes the shared sqlite3 connection too
            self._raw = None
        # psycopg: the libpq connection is closed with the sync side

    def close(self) -> None:
        self.sync_engine.dispose()
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()


def _engine(factory: Callable[..., Any], url: Any, **kwargs: Any) -> Any:
    # one connection, handed to every checkout; pings and resets are not wanted
    return factory(url, poolclass=StaticPool, pool_reset_on_return=None, **kwargs)


def _sqlite_connection(urls: DatabaseUrls, busy_timeout: float) -> sqlite3.Connection:
    raw = sqlite3.connect(
        urls.sync_url.database or ":memory:",
        timeout=busy_timeout,
        isolation_level=None,  # SQLAlchemy and this module decide when transactions begin
        check_same_thread=False,  # used from the test's thread and from aiosqlite's
    )
    raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA journal_mode = WAL")
    return raw


def _mysql_connection(engine: Engine, connect_timeout: float) -> Any:
    from riso_db_pytest._mysql import LockedConnection

    # the arguments SQLAlchemy's PyMySQL dialect would connect with (FOUND_ROWS, charset...)
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    cparams.setdefault("connect_timeout", connect_timeout)
    return LockedConnection(*cargs, autocommit=False, **cparams)


def _libpq_url(urls: DatabaseUrls) -> str:
    return urls.sync_url.set(drivername="postgresql").render_as_string(hide_password=False)
