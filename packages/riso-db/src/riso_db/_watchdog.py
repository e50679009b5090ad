"""Fail fast when the database server stops answering (``RISO_DB_QUERY_TIMEOUT``).

A server that is paused, or a network path that silently drops packets, leaves
a query (or the checkout ping, or a commit) waiting forever: the socket stays
open and no timeout of the driver applies. Cancelling the coroutine does not
help either: psycopg then tries to cancel the query on the server, which does
not answer.

With a query timeout (``RISO_DB_QUERY_TIMEOUT``, on by default), each round
trip on a PostgreSQL or MySQL/MariaDB connection of the async engine arms a
timer on the event loop; when it fires, the connection is cut: psycopg's
socket is shut down, aiomysql's transport closed. The driver then fails at
once with a disconnect error,
SQLAlchemy invalidates the connection (the pool opens a fresh one next time)
and the request answers 503 (see ``_errors``). Timers are armed before the
checkout ping, each statement, commit and rollback, and cleared after each
statement and at checkin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

_KEY = "riso_db_watchdog"


def _fileno(dbapi_connection: Any) -> int | None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    try:
        return int(driver.fileno())  # type: ignore[union-attr]
    except Exception:  # closed, or a driver without fileno()
        return None


def _shutdown(fd: int) -> None:
    with contextlib.suppress(OSError):
        dup = os.dup(fd)
        with socket.socket(fileno=dup) as sock:
            sock.shutdown(socket.SHUT_RDWR)  # the waiting driver reads EOF at once


def _close(dbapi_connection: Any) -> None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    with contextlib.suppress(Exception):
        driver.close()  # type: ignore[union-attr]  # aiomysql: the waiting read sees EOF


def _arm(dbapi_connection: Any, info: dict[str, Any], timeout: float, dialect: str) -> None:
    _disarm(info)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on an event loop (cannot happen with the async engine)
        return
    if dialect == "mysql":
        info[_KEY] = loop.call_later(timeout, _close, dbapi_connection)
        return
    fd = _fileno(dbapi_connection)
    if fd is not None:
        info[_KEY] = loop.call_later(timeout, _shutdown, fd)


def _disarm(info: dict[str, Any]) -> None:
    handle = info.pop(_KEY, None)
    if handle is not None:
        handle.cancel()


def install(engine: Engine, dialect: str, timeout: float, pre_ping: bool) -> None:
    """Arm the watchdog on ``engine`` (the ``sync_engine`` of a PostgreSQL or MySQL AsyncEngine).

    With ``pre_ping`` the engine itself must be created with ``pool_pre_ping=False``:
    the ping is done here, under the watchdog.
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not pre_ping:
            return
        _arm(dbapi_connection, record.info, timeout, dialect)
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            # the pool discards this connection and checks out (or opens) another
            raise DisconnectionError(f"pre-ping failed: {type(exc).__name__}") from exc
        finally:
            _disarm(record.info)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _disarm(record.info)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, *args: Any) -> None:
        _arm(conn.connection.dbapi_connection, conn.connection.info, timeout, dialect)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, *args: Any) -> None:
        _disarm(conn.connection.info)

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        conn = context.connection
        if conn is not None and not conn.invalidated:
            _disarm(conn.connection.info)

    for name in ("commit", "rollback"):

        @event.listens_for(engine, name)
        def _round_trip(conn: Any) -> None:
            # no "after" event: the timer is cleared by the next statement or at checkin
            if conn.invalidated or conn.closed:
                return  # nothing goes over the wire (and .connection would raise)
            fairy = conn.connection
            _arm(fairy.dbapi_connection, fairy.info, timeout, dialect)
