"""Fail fast when the database server stops answering (``RISO_DB_QUERY_TIMEOUT``).

A server that is paused, or a network path that silently drops packets, leaves
a query (or the checkout ping, or a commit) waiting forever: the socket stays
open and no timeout of the driver applies. Cancelling the coroutine does not
help either: psycopg then tries to cancel the query on the server, which does
not answer.

With a query timeout (``RISO_DB_QUERY_TIMEOUT``, on by default), each round
trip on a PostgreSQL or MySQL/MariaDB connection of the async engine arms a
timer on the event loop (riso-db's direct queries, ``_direct``, arm it
too); when it fires, the connection is cut: psycopg's
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

_KEY = "riso_db_watchdog"
#: ``record.info`` keys: the timeout and dialect, for round trips made on the driver
_TIMEOUT = "riso_db_watchdog_timeout"
_DIALECT = "riso_db_watchdog_dialect"


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


def timeout_of(fairy: Any) -> float | None:
    """The watchdog's timeout for a pooled connection, None when it has none."""
    found = fairy.info.get(_TIMEOUT)
    return float(found) if found is not None else None


def arm_on(fairy: Any, timeout: float) -> None:
    """Arm the timer for one round trip made on the driver connection directly."""
    _arm(fairy.dbapi_connection, fairy.info, timeout, fairy.info.get(_DIALECT, "postgresql"))


def disarm_on(fairy: Any) -> None:
    _disarm(fairy.info)


def install(engine: Engine, dialect: str, timeout: float, pre_ping_idle: float | None) -> None:
    """Arm the watchdog on ``engine`` (the ``sync_engine`` of a PostgreSQL or MySQL AsyncEngine).

    With ``pre_ping_idle`` the checkout ping (``_ping``) runs under the timer;
    the engine itself is then created with ``pool_pre_ping=False``.
    """
    from riso_db import _ping

    if pre_ping_idle is not None:
        _ping.install(
            engine,
            pre_ping_idle,
            arm=lambda dbapi_connection, info: _arm(dbapi_connection, info, timeout, dialect),
            disarm=_disarm,
        )

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info[_TIMEOUT] = timeout
        record.info[_DIALECT] = dialect

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
