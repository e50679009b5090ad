"""The async engine's pool serves waiting requests first come, first served (``riso_db._pool``).

Regression: SQLAlchemy's async pool let a request that arrived after a
connection was returned take it from the waiter that had been woken for it;
with more requests in flight than connections, some waited for seconds
(timeouts under wrk in ``bench/auth_real.py``) while newer ones were served.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import exc, text
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue

from riso_db import Database, DbSettings
from riso_db._compat import QueueEmpty
from riso_db._pool import HandOffQueue, HandOffQueuePool

pytestmark = pytest.mark.anyio


def _database(path: Path, **values: object) -> Database:
    return Database(DbSettings(RISO_DB_URL=f"sqlite:///{path / 'pool.db'}", **values))


async def test_the_async_engine_uses_the_hand_off_pool(tmp_path: Path) -> None:
    db = _database(tmp_path)
    try:
        assert isinstance(db.engine.pool, HandOffQueuePool)
        assert isinstance(db.engine.pool._pool, HandOffQueue)  # type: ignore[attr-defined]
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("queue_class", "newcomer_overtakes"),
    [(HandOffQueue, False), (AsyncAdaptedQueue, True)],
    ids=["riso-db", "sqlalchemy"],
)
async def test_a_returned_connection_goes_to_the_waiter_not_to_a_newcomer(
    queue_class: type[Any], newcomer_overtakes: bool
) -> None:
    """The "sqlalchemy" case is the regression: if it starts failing, SQLAlchemy's own
    queue no longer lets a newcomer overtake, and ``riso_db._pool`` can go."""
    queue = queue_class(1)
    got: list[str] = []

    async def waiter() -> None:
        got.append(await greenlet_spawn(lambda: queue.get(True, 5)))

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.sleep(0.05)  # the waiter is waiting
        queue.put_nowait("connection")  # returned ...
        with contextlib.suppress(QueueEmpty):  # ... and in the same step a new request asks
            got.append("newcomer took " + queue.get_nowait())
        if newcomer_overtakes:
            await anyio.sleep(0.05)
            queue.put_nowait("another")  # let the waiter finish
    if newcomer_overtakes:
        assert got == ["newcomer took connection", "another"]
    else:
        assert got == ["connection"]


async def test_a_request_that_waits_too_long_gets_the_pools_timeout(tmp_path: Path) -> None:
    db = _database(tmp_path, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with db.engine.connect():
            started = time.monotonic()
            with pytest.raises(exc.TimeoutError, match="QueuePool limit"):
                async with db.engine.connect():
                    pass
            assert time.monotonic() - started < 2
        async with db.engine.connect() as conn:  # the timed-out waiter left no trace
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        assert not db.engine.pool._pool._waiters  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_cancelled_waiter_passes_the_connection_on() -> None:
    queue = HandOffQueue(1)
    got: list[str] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def waiter(name: str) -> None:
        with anyio.CancelScope() as scopes[name]:
            got.append(f"{name}: " + await greenlet_spawn(lambda: queue.get(True, 5)))

    async with anyio.create_task_group() as group:
        group.start_soon(waiter, "first")
        await anyio.sleep(0.02)
        group.start_soon(waiter, "second")
        await anyio.sleep(0.02)
        scopes["first"].cancel()
        await anyio.sleep(0.02)
        queue.put_nowait("connection")
    assert got == ["second: connection"]
    assert queue.qsize() == 0
