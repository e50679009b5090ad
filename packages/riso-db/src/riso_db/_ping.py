"""Test a pooled connection before handing it out, unless it was in use a moment ago.

``RISO_DB_POOL_PRE_PING`` (on by default) tests a connection on checkout, so
a restarted server or a proxy's idle cut costs no failed request. A
connection returned to the pool less than ``RISO_DB_POOL_PRE_PING_IDLE``
seconds ago (0.5 by default) is handed out without the test, as HikariCP's
``aliveBypassWindowMs`` does: under load a connection is reused within
milliseconds, and a ping per request was one more round trip on every
request. If a server restart catches such a connection, the first request
on it fails with a 503 and SQLAlchemy invalidates the whole pool, so the
ones after it reconnect. A connection last used on another event loop (a
CLI command runs each step on a loop of its own) is always tested: the
drivers bind a connection to its loop, and the failed test replaces it.

On PostgreSQL the ping runs outside a transaction (no ``BEGIN``, and no
``ROLLBACK`` when the connection is returned).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

#: ``record.info`` key: ``time.monotonic()`` when the connection was last returned,
#: and the event loop it was used on
_RETURNED = "riso_db_returned_at"


def install(
    engine: Engine,
    idle: float,
    *,
    arm: Callable[[Any, dict[str, Any]], None] | None = None,
    disarm: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Ping on ``engine``'s checkouts of connections idle for ``idle`` seconds or more.

    ``engine`` is created with ``pool_pre_ping=False``; ``arm``/``disarm``
    bound the ping by the watchdog's timer (``_watchdog``).
    """
    dialect = engine.dialect
    outside_transaction = dialect.name == "postgresql"

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None:
            return  # just opened
        at, loop = returned
        if time.monotonic() - at < idle and loop is _running_loop():
            return  # in use moments ago, on this event loop
        if arm is not None:
            arm(dbapi_connection, record.info)
        try:
            if outside_transaction:
                dbapi_connection.autocommit = True
                try:
                    dialect.do_ping(dbapi_connection)
                finally:
                    dbapi_connection.autocommit = False
            else:
                dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # the pool discards this connection and checks out (or opens) another
            raise DisconnectionError(f"pre-ping failed: {type(exc).__name__}") from exc
        finally:
            if disarm is not None:
                disarm(record.info)

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = (time.monotonic(), _running_loop())


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
