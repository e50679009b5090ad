"""SQLite under concurrent writers: no frozen event loop, no 503 for a read-then-write.

Regressions for the embedded default freezing (bursts of duplicate
registrations and refreshes on the starter): the garbage collector, on the
event loop's thread, freed a failed statement's unclosed cursor, which waits
for its connection's mutex while that connection waited (busy timeout) for a
lock held by a transaction that needed the loop to finish. And for
concurrent DELETEs: a transaction that read before writing could not
upgrade to the write lock (SQLITE_BUSY at once).
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy import String, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

import riso_db
from riso_db import DbSession, Model, PrimaryKeyMixin
from riso_db._sqlite import writes

pytestmark = pytest.mark.anyio


class Thing(PrimaryKeyMixin, Model):
    __tablename__ = "dbtest_thing"

    name: Mapped[str] = mapped_column(String(50), unique=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'locks.db'}"


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _app(make_app: Callable[..., FastAPI], url: str, **env: str) -> FastAPI:
    app = make_app(url, **env)
    db = riso_db.database(app)
    Model.metadata.create_all(db.sync_engine, tables=[Thing.__table__])
    db.sync_engine.dispose()
    return app


async def _fail_and_keep_the_error(conn: AsyncConnection) -> None:
    # Keeping the exception in a local makes a reference cycle (error -> traceback ->
    # this frame -> error), as logging, error reporters and `raise ... from` chains do:
    # only the garbage collector frees it, whenever it runs next.
    try:
        await conn.execute(insert(Thing).values(name="taken"))
    except IntegrityError as error:
        kept = error  # noqa: F841
    await conn.rollback()


async def test_garbage_collection_never_waits_for_a_busy_connection(
    make_app: Callable[..., FastAPI], sqlite_url: str, no_automatic_gc: None
) -> None:
    app = _app(make_app, sqlite_url, RISO_DB_CONNECT_TIMEOUT="3")  # busy timeout: 3 s
    db = riso_db.database(app)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(insert(Thing).values(name="taken"))
            await conn.commit()
            await _fail_and_keep_the_error(conn)

            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock...
            waiting = asyncio.ensure_future(conn.execute(insert(Thing).values(name="next")))
            await asyncio.sleep(0.3)  # ...and this connection waits for it on its thread
            assert not waiting.done()

            started = time.monotonic()
            gc.collect()  # on the event loop's thread, as in the server
            collected_in = time.monotonic() - started
            other.execute("ROLLBACK")
            # was: frozen for the whole 10 s busy timeout, then the waiting insert
            # failed; the bound only tells those apart (a loaded machine is slow)
            assert collected_in < 5.0, f"the event loop was frozen for {collected_in:.2f}s"
            await waiting
            await conn.commit()
    finally:
        other.close()
        await db.dispose()


async def test_a_write_after_a_read_waits_for_the_lock_instead_of_failing(
    make_app: Callable[..., FastAPI], sqlite_url: str
) -> None:
    app = _app(make_app, sqlite_url)
    db = riso_db.database(app)
    try:
        async with db.sessionmaker() as first, db.sessionmaker() as second:
            assert await first.scalar(select(func.count()).select_from(Thing)) == 0
            second.add(Thing(name="from second"))
            await second.commit()  # committed after first's snapshot
            first.add(Thing(name="from first"))
            await first.commit()  # was: SQLITE_BUSY_SNAPSHOT ("database is locked")
        async with db.sessionmaker() as check:
            assert await check.scalar(select(func.count()).select_from(Thing)) == 2
    finally:
        await db.dispose()


async def test_a_read_only_transaction_keeps_one_snapshot(
    make_app: Callable[..., FastAPI], sqlite_url: str
) -> None:
    app = _app(make_app, sqlite_url)
    db = riso_db.database(app)
    try:
        async with db.sessionmaker() as reader, db.sessionmaker() as writer:
            assert await reader.scalar(select(func.count()).select_from(Thing)) == 0
            writer.add(Thing(name="new"))
            await writer.commit()
            assert await reader.scalar(select(func.count()).select_from(Thing)) == 0
            await reader.rollback()
            assert await reader.scalar(select(func.count()).select_from(Thing)) == 1
    finally:
        await db.dispose()


async def test_rollback_undoes_writes_begun_after_reads_and_savepoints_work(
    make_app: Callable[..., FastAPI], sqlite_url: str
) -> None:
    app = _app(make_app, sqlite_url)
    db = riso_db.database(app)
    try:
        async with db.sessionmaker() as session:
            await session.scalar(select(func.count()).select_from(Thing))
            session.add(Thing(name="undone"))
            await session.flush()
            async with session.begin_nested():
                session.add(Thing(name="inner"))
            nested = await session.begin_nested()
            session.add(Thing(name="rolled back"))
            await session.flush()
            await nested.rollback()
            names = set(await session.scalars(select(Thing.name)))
            assert names == {"undone", "inner"}
            await session.rollback()
        async with db.sessionmaker() as check:
            assert await check.scalar(select(func.count()).select_from(Thing)) == 0
    finally:
        await db.dispose()


@pytest.mark.filterwarnings("ignore:DELETE statement on table:sqlalchemy.exc.SAWarning")
async def test_concurrent_read_then_delete_requests_never_answer_503(
    make_app: Callable[..., FastAPI], sqlite_url: str
) -> None:
    app = _app(make_app, sqlite_url)

    @app.delete("/things/{thing_id}", status_code=204)
    async def delete(thing_id: int, session: DbSession) -> None:
        thing = await session.get(Thing, thing_id)  # read first, as the starter's endpoint
        if thing is None:
            raise HTTPException(404, "no such thing")
        await asyncio.sleep(0.01)  # others read meanwhile
        await session.delete(thing)
        await session.commit()

    db = riso_db.database(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses: list[int] = []
            for n in range(5):
                async with db.sessionmaker() as session:
                    thing = Thing(name=f"t{n}")
                    session.add(thing)
                    await session.commit()
                answers = await asyncio.gather(
                    *(http.delete(f"/things/{thing.id}") for _ in range(6))
                )
                statuses += [a.status_code for a in answers]
        assert set(statuses) <= {204, 404}, statuses
        assert statuses.count(204) >= 5
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("/* hint */ SELECT 1", False),
        ("-- note\nSELECT 1", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("EXPLAIN QUERY PLAN SELECT 1", False),
        ("INSERT INTO t VALUES (1)", True),
        ("UPDATE t SET a = 1", True),
        ("DELETE FROM t", True),
        ("WITH x AS (SELECT 1) DELETE FROM t", True),
        ("CREATE TABLE t (a int)", True),
        ("SAVEPOINT sa_savepoint_1", True),
        ("PRAGMA user_version = 3", True),
        ("SELECTED", True),
    ],
)
def test_what_counts_as_a_write(statement: str, expected: bool) -> None:
    assert writes(statement, None) is expected


async def test_text_and_driver_sql_follow_the_same_rules(
    make_app: Callable[..., FastAPI], sqlite_url: str
) -> None:
    app = _app(make_app, sqlite_url)
    db = riso_db.database(app)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.exec_driver_sql("INSERT INTO dbtest_thing (name) VALUES ('x')")
            await conn.commit()
            assert await conn.scalar(text("SELECT count(*) FROM dbtest_thing")) == 1
    finally:
        await db.dispose()
