"""aiosqlite connections whose cursors are closed on their own thread when a call fails.

SQLAlchemy's aiosqlite adapter opens one aiosqlite cursor per statement and
closes it after success only. After a failure (a duplicate key, a busy
timeout, a cancelled request) the cursor stays referenced by the exception's
traceback until the garbage collector frees that reference cycle, which it
does on the thread that triggers a collection: the event loop's. Freeing an
unclosed ``sqlite3.Cursor`` resets its statement (``sqlite3_reset``), which
takes the connection's mutex; when that connection is meanwhile running a
statement that waits for another connection's lock (the busy timeout, 10 s by
default) on its worker thread, the whole event loop waits with it, and the
lock holder, whose commit needs the loop, cannot release the lock. Closing
the cursor on the worker thread before the error propagates leaves nothing
for the collector to reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from aiosqlite.context import contextmanager as aiosqlite_result
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL

from riso_db import _compat

T = TypeVar("T")
#: closes scheduled after a cancellation, kept until they ran
_PENDING_CLOSES: set[asyncio.Task[None]] = set()


class ClosingCursor:
    """An aiosqlite cursor (``cursor``) that closes itself when a call on it fails."""

    def __init__(self, cursor: aiosqlite.Cursor) -> None:
        self.cursor = cursor

    @property
    def description(self) -> Any:
        return self.cursor.description

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self.cursor.lastrowid

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> ClosingCursor:
        await self._guard(self.cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> ClosingCursor:
        await self._guard(self.cursor.executemany(sql, parameters))
        return self

    async def fetchone(self) -> Any:
        return await self._guard(self.cursor.fetchone())

    async def fetchmany(self, size: int | None = None) -> Any:
        return await self._guard(self.cursor.fetchmany(size))

    async def fetchall(self) -> Any:
        return await self._guard(self.cursor.fetchall())

    async def close(self) -> None:
        await self.cursor.close()

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except Exception:
            await self._close_quietly()
            raise
        except BaseException:
            # cancelled: the statement may still run; the close is queued after it
            task = asyncio.get_running_loop().create_task(self._close_quietly())
            _PENDING_CLOSES.add(task)
            task.add_done_callback(_PENDING_CLOSES.discard)
            raise

    async def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):  # the connection is gone: nothing left to reset
            await self.cursor.close()


class ClosingConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are :class:`ClosingCursor`."""

    @aiosqlite_result
    async def cursor(self) -> Any:
        return ClosingCursor(await super().cursor())


def creator(url: URL, connect_args: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
    """An ``async_creator`` for ``create_async_engine``: the connection SQLAlchemy would open."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(url)
    kwargs.update(connect_args)
    database = str(args[0]) if args else ":memory:"

    async def connect() -> Any:
        connection = ClosingConnection(partial(sqlite3.connect, database, **kwargs), 64)
        _compat.make_daemon(connection)
        return await connection

    return connect
