"""One PyMySQL connection for a test's sync and async engines, usable from any event loop.

aiomysql binds a connection to the event loop that opened it (its asyncio
streams), while the ``TestClient``'s portal, the test and ``make_user`` each
run their own loop. So under test the async engine (SQLAlchemy's aiomysql
dialect) is handed :class:`AsyncConnection` instead: the aiomysql API, each
coroutine running the blocking PyMySQL call on the loop that awaits it. It is
the same wire implementation (aiomysql is built on PyMySQL), and the same
physical connection as the sync engine's, so each sees the other's writes.

The app may use the connection from its event loop and from a worker thread
(a sync endpoint) at once: one lock covers each round trip, a statement with
its buffered result included.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pymysql
from pymysql.cursors import Cursor, SSCursor

if TYPE_CHECKING:
    _Connection = pymysql.connections.Connection[Cursor]
else:  # generic in the stubs only
    _Connection = pymysql.connections.Connection

P = ParamSpec("P")
T = TypeVar("T")


def _locked(method: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with args[0].lock:  # type: ignore[attr-defined]  # self: a connection or a cursor
            return method(*args, **kwargs)

    return run


class LockedCursor(Cursor):
    """A buffered cursor whose statements hold the connection's lock."""

    @property
    def lock(self) -> threading.RLock:
        return self.connection.lock  # type: ignore[attr-defined,no-any-return]

    execute = _locked(Cursor.execute)  # type: ignore[assignment]  # the stubs' overloads
    executemany = _locked(Cursor.executemany)
    callproc = _locked(Cursor.callproc)
    nextset = _locked(Cursor.nextset)


class LockedSSCursor(SSCursor):
    """An unbuffered cursor: its rows are read from the wire, under the lock too."""

    @property
    def lock(self) -> threading.RLock:
        return self.connection.lock  # type: ignore[attr-defined,no-any-return]

    execute = _locked(SSCursor.execute)  # type: ignore[assignment]
    executemany = _locked(SSCursor.executemany)
    callproc = _locked(SSCursor.callproc)
    nextset = _locked(SSCursor.nextset)
    fetchone = _locked(SSCursor.fetchone)
    fetchmany = _locked(SSCursor.fetchmany)
    fetchall = _locked(SSCursor.fetchall)
    close = _locked(SSCursor.close)


class LockedConnection(_Connection):
    """A PyMySQL connection whose round trips take ``lock`` (its cursors are locked too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = threading.RLock()  # before connecting: the handshake's queries take it
        super().__init__(*args, cursorclass=LockedCursor, **kwargs)

    begin = _locked(pymysql.connections.Connection.begin)
    commit = _locked(pymysql.connections.Connection.commit)
    rollback = _locked(pymysql.connections.Connection.rollback)
    ping = _locked(pymysql.connections.Connection.ping)  # type: ignore[assignment]
    autocommit = _locked(pymysql.connections.Connection.autocommit)
    select_db = _locked(pymysql.connections.Connection.select_db)
    show_warnings = _locked(pymysql.connections.Connection.show_warnings)
    next_result = _locked(pymysql.connections.Connection.next_result)


class AsyncCursor:
    """aiomysql's cursor API over a locked PyMySQL cursor."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, query: Any, args: Any = None) -> int:
        return self._cursor.execute(query, args)

    async def executemany(self, query: Any, args: Any) -> int | None:
        return self._cursor.executemany(query, args)

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Any:
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> Any:
        return self._cursor.fetchall()

    async def nextset(self) -> bool | None:
        return self._cursor.nextset()

    async def callproc(self, procname: str, args: Any = ()) -> Any:
        return self._cursor.callproc(procname, args)

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    def setoutputsize(self, *args: Any) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> AsyncCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class AsyncConnection:
    """The aiomysql connection API SQLAlchemy's aiomysql dialect calls, over ``raw``.

    Closing it leaves ``raw`` open: the shared connection outlives the app's
    engines (its lifespan disposes them at shutdown).
    """

    def __init__(self, raw: LockedConnection) -> None:
        self.raw = raw

    def cursor(self, cursor_class: type[Any] | None = None) -> AsyncCursor:
        import aiomysql  # type: ignore[import-untyped]

        # the dialect passes its subclass of aiomysql.Cursor or aiomysql.SSCursor
        unbuffered = cursor_class is not None and issubclass(cursor_class, aiomysql.SSCursor)
        return AsyncCursor(self.raw.cursor(LockedSSCursor if unbuffered else LockedCursor))

    async def ping(self, reconnect: bool = False) -> None:
        self.raw.ping(reconnect=False)  # a reconnect would leave the test's transaction

    def character_set_name(self) -> str:
        return str(self.raw.character_set_name())  # type: ignore[no-untyped-call]

    async def autocommit(self, value: bool) -> None:
        self.raw.autocommit(value)

    def get_autocommit(self) -> bool:
        return self.raw.get_autocommit()

    async def begin(self) -> None:
        self.raw.begin()

    async def commit(self) -> None:
        self.raw.commit()

    async def rollback(self) -> None:
        self.raw.rollback()

    def get_server_info(self) -> str:
        return str(self.raw.get_server_info())  # type: ignore[no-untyped-call]

    async def ensure_closed(self) -> None:
        return None

    def close(self) -> None:
        return None
