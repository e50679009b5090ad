"""``DirectQuery``: the same rows as SQLAlchemy, on every engine and both PostgreSQL drivers.

Beyond the rows: on its own connection it leaves no transaction open and
returns the connection; on a session it sees the session's uncommitted
writes; a lost connection is SQLAlchemy's ``OperationalError`` (a 503) and
the pool replaces it; a silent server fails within the query timeout; and
the ``riso_db.query_observers`` hook sees each statement.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import String, bindparam, event, exc, func, select
from sqlalchemy.orm import Mapped, mapped_column

import riso_db
from riso.testing import TcpProxy
from riso_db import (
    Database,
    DbSettings,
    DirectQuery,
    Model,
    PrimaryKeyMixin,
    TimestampMixin,
    _compat,
    _observers,
)

from .conftest import fresh_url

pytestmark = pytest.mark.anyio


class DirectRow(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "dbtest_direct_row"

    name: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(default=0)


BY_NAME = DirectQuery(
    select(DirectRow.id, DirectRow.name, DirectRow.size, DirectRow.created_at).where(
        DirectRow.name == bindparam("name")
    )
)
#: a literal in the statement (a bound default) beside a parameter
BIGGER = DirectQuery(
    select(func.count().label("n")).where(DirectRow.size > 1, DirectRow.name != bindparam("name"))
)

#: (engine, RISO_DB_POSTGRES_ASYNC_DRIVER)
TARGETS = [
    ("sqlite", "psycopg"),
    ("postgresql", "psycopg"),
    ("postgresql", "asyncpg"),
    ("mysql", "psycopg"),
]


@pytest.fixture(params=TARGETS, ids=["sqlite", "pg-psycopg", "pg-asyncpg", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    kind, driver = request.param
    for url in fresh_url(kind, request, tmp_path):
        db = Database(_settings(url=url, postgres_async_driver=driver))
        Model.metadata.create_all(db.sync_engine, tables=[DirectRow.__table__])
        with db.sync_session() as session:
            session.add_all([DirectRow(name="a", size=1), DirectRow(name="b", size=2)])
            session.commit()
        db.dispose_sync()
        yield db


def _settings(url: str, **values: Any) -> DbSettings:
    # the URL by its variable's name (the field reads RISO_DB_URL or DATABASE_URL only)
    return DbSettings(RISO_DB_URL=url, **values)


async def test_the_rows_are_sqlalchemys(database: Database) -> None:
    try:
        row = await BY_NAME.first(database, {"name": "b"})
        assert row is not None
        async with database.engine.connect() as conn:
            expected = (await conn.execute(BY_NAME.statement, {"name": "b"})).one()._mapping
        assert row == dict(expected)
        assert list(row) == ["id", "name", "size", "created_at"]
        # the column type's result processing applies (UtcDateTime: aware, in UTC)
        assert isinstance(row["created_at"], datetime)
        assert row["created_at"].tzinfo is not None
        assert row["created_at"].utcoffset() == UTC.utcoffset(None)
        assert await BY_NAME.first(database, {"name": "nobody"}) is None
        assert await BIGGER.first(database, {"name": "x"}) == {"n": 1}
        pool = database.engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def test_on_a_session_it_reads_inside_the_sessions_transaction(database: Database) -> None:
    try:
        async with database.sessionmaker() as session:
            session.add(DirectRow(name="uncommitted"))
            await session.flush()
            seen = await BY_NAME.first(session, {"name": "uncommitted"})
            assert seen is not None
            assert seen["name"] == "uncommitted"
            # another connection does not see it: nothing was committed
            assert await BY_NAME.first(database, {"name": "uncommitted"}) is None
            await session.rollback()
        assert await BY_NAME.first(database, {"name": "uncommitted"}) is None
    finally:
        await database.dispose()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_on_its_own_connection_no_transaction_is_opened(pg_url: str, driver: str) -> None:
    """No BEGIN, so nothing to roll back when the connection goes back to the pool."""
    db = Database(_settings(url=pg_url, postgres_async_driver=driver))
    Model.metadata.create_all(db.sync_engine, tables=[DirectRow.__table__])
    in_transaction: list[bool] = []

    @event.listens_for(db.engine.sync_engine.pool, "reset")
    def _before_reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
        raw = dbapi_connection.driver_connection
        if driver == "asyncpg":
            in_transaction.append(raw.is_in_transaction())
        else:
            in_transaction.append(raw.info.transaction_status != TransactionStatus.IDLE)

    try:
        assert await BY_NAME.first(db, {"name": "a"}) is None
        assert in_transaction == [False]
        # the driver's own cursor opens one, which the listener sees
        fairy = await db.engine.raw_connection()

        def select_one() -> None:
            cursor = fairy.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute("SELECT 1")
            cursor.close()

        await _compat.greenlet_spawn(select_one)
        await _compat.greenlet_spawn(fairy.close)
        assert in_transaction == [False, True]
    finally:
        await db.dispose()
        db.dispose_sync()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_a_lost_connection_is_an_operational_error_and_is_replaced(
    pg_url: str, driver: str
) -> None:
    db = Database(_settings(url=pg_url, postgres_async_driver=driver, pool_pre_ping=False))
    Model.metadata.create_all(db.sync_engine, tables=[DirectRow.__table__])
    try:
        assert await BY_NAME.first(db, {"name": "a"}) is None  # one pooled connection now
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(exc.OperationalError) as raised:
            await BY_NAME.first(db, {"name": "a"})
        assert raised.value.connection_invalidated
        assert await BY_NAME.first(db, {"name": "a"}) is None  # a fresh connection
    finally:
        await db.dispose()
        db.dispose_sync()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_a_silent_server_fails_within_the_query_timeout(pg_url: str, driver: str) -> None:
    setup = Database(_settings(url=pg_url))
    Model.metadata.create_all(setup.sync_engine, tables=[DirectRow.__table__])
    setup.dispose_sync()
    with TcpProxy(5432) as proxy:
        url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        db = Database(
            _settings(url=url, postgres_async_driver=driver, query_timeout=0.5, connect_timeout=1)
        )
        try:
            assert await BY_NAME.first(db, {"name": "a"}) is None
            proxy.pause()
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(exc.OperationalError):
                await BY_NAME.first(db, {"name": "a"})
            assert time.monotonic() - started < 5
        finally:
            proxy.resume()
            await db.dispose()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_a_cancelled_query_discards_its_connection(pg_url: str, driver: str) -> None:
    """A client gone mid-query: the connection (mid-statement) is not reused."""
    db = Database(_settings(url=pg_url, postgres_async_driver=driver))
    sleep = DirectQuery(select(func.pg_sleep(bindparam("seconds")).label("slept")))
    try:
        await sleep.first(db, {"seconds": 0})
        with anyio.move_on_after(0.3) as scope:
            await sleep.first(db, {"seconds": 5})
        assert scope.cancelled_caught
        pool = db.engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        with anyio.fail_after(3):  # not behind the cancelled pg_sleep
            # pg_sleep returns void: psycopg reads it as "", asyncpg as None
            assert list(await sleep.first(db, {"seconds": 0}) or {}) == ["slept"]
    finally:
        await db.dispose()


async def test_a_driver_error_is_sqlalchemys_and_the_connection_stays_usable(
    pg_url: str,
) -> None:
    db = Database(_settings(url=pg_url))  # no table: the server refuses the statement
    try:
        with pytest.raises(exc.ProgrammingError):
            await BY_NAME.first(db, {"name": "a"})
        Model.metadata.create_all(db.sync_engine, tables=[DirectRow.__table__])
        assert await BY_NAME.first(db, {"name": "a"}) is None
    finally:
        await db.dispose()
        db.dispose_sync()


def test_an_expanding_parameter_is_refused_when_compiled() -> None:
    from sqlalchemy.dialects.postgresql import dialect

    from riso_db._direct import _Compiled

    names = bindparam("names", expanding=True)
    with pytest.raises(ValueError, match="expanding"):
        _Compiled(select(DirectRow.id).where(DirectRow.name.in_(names)), dialect())


async def test_observers_see_each_statement_and_its_outcome(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, str, Any]] = []

    def observer(system: str, name: str, statement: str) -> Any:
        def finish(error: BaseException | None) -> None:
            seen.append((system, name, statement, error))

        return finish

    def broken(system: str, name: str, statement: str) -> Any:
        raise RuntimeError("an observer's bug")

    monkeypatch.setattr(_observers, "_loaded", [broken, observer])
    db = Database(_settings(url=pg_url))
    try:
        with pytest.raises(exc.ProgrammingError):
            await BY_NAME.first(db, {"name": "a"})  # no table yet
        Model.metadata.create_all(db.sync_engine, tables=[DirectRow.__table__])
        await BY_NAME.first(db, {"name": "a"})
    finally:
        await db.dispose()
        db.dispose_sync()
    [(system, name, statement, error), (_, _, _, none)] = seen
    assert (system, name) == ("postgresql", db.url.database)
    assert statement.startswith("SELECT")
    assert "dbtest_direct_row" in statement
    assert error is not None
    assert none is None


def test_riso_db_exports_direct_query() -> None:
    assert riso_db.DirectQuery is DirectQuery
