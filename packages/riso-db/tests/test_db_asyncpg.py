"""asyncpg (the default RISO_DB_POSTGRES_ASYNC_DRIVER) for the app, psycopg for the sync side."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import String, exc, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

import riso
import riso_db
from riso_db import DbSession, DbSettings, Model, PrimaryKeyMixin, TimestampMixin, parse_url
from riso_db._database import engine_options


class Row(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "dbtest_asyncpg_row"

    name: Mapped[str] = mapped_column(String(50))


def test_asyncpg_for_the_app_psycopg_for_the_sync_side_from_one_url() -> None:
    urls = parse_url("postgresql://u:p@db/app", postgres_async_driver="asyncpg")
    assert urls.async_url.drivername == "postgresql+asyncpg"
    assert urls.sync_url.drivername == "postgresql+psycopg"
    assert urls.async_url.database == urls.sync_url.database == "app"
    assert "asyncpg" not in urls.masked


@pytest.mark.parametrize(
    ("raw", "async_driver"),
    [("sqlite:///x.db", "sqlite+aiosqlite"), ("mysql://u@db/app", "mysql+aiomysql")],
)
def test_other_dialects_ignore_the_postgres_driver(raw: str, async_driver: str) -> None:
    assert parse_url(raw, postgres_async_driver="asyncpg").async_url.drivername == async_driver


def test_asyncpg_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u@db/app")
    settings = DbSettings()
    assert settings.postgres_async_driver == "asyncpg"
    assert settings.urls.async_url.drivername == "postgresql+asyncpg"
    assert settings.urls.sync_url.drivername == "postgresql+psycopg"


def test_psycopg_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u@db/app")
    monkeypatch.setenv("RISO_DB_POSTGRES_ASYNC_DRIVER", "psycopg")
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # not needed for this choice
    settings = DbSettings()
    assert settings.urls.async_url.drivername == "postgresql+psycopg"
    assert (
        parse_url("postgresql://u@db/app", postgres_async_driver="psycopg").async_url.drivername
        == "postgresql+psycopg"
    )


def test_missing_asyncpg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if not installed
    with pytest.raises(riso_db.MissingDriverError) as info:
        parse_url("postgresql://u:hunter2@db/app")
    message = str(info.value)
    assert "pip install 'riso-db[postgres]'" in message
    assert "asyncpg" in message
    assert "hunter2" not in message
    # and the setting fails where every other invalid setting does
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u:hunter2@db/app")
    with pytest.raises(ValidationError, match=r"riso-db\[postgres\]"):
        DbSettings()


def test_query_timeout_is_asyncpgs_command_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u@db/app")
    monkeypatch.setenv("RISO_DB_POSTGRES_ASYNC_DRIVER", "asyncpg")
    monkeypatch.setenv("RISO_DB_QUERY_TIMEOUT", "5")
    settings = DbSettings()
    assert engine_options(settings, settings.urls, True)["connect_args"]["command_timeout"] == 5


def test_unknown_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_POSTGRES_ASYNC_DRIVER", "pg8000")
    with pytest.raises(ValidationError):
        DbSettings()


def test_connect_timeout_in_each_drivers_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u@db/app")
    monkeypatch.setenv("RISO_DB_POSTGRES_ASYNC_DRIVER", "asyncpg")
    monkeypatch.setenv("RISO_DB_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("RISO_DB_QUERY_TIMEOUT", "0")
    settings = DbSettings()
    assert engine_options(settings, settings.urls, True)["connect_args"] == {"timeout": 2.5}
    assert engine_options(settings, settings.urls, False)["connect_args"] == {"connect_timeout": 3}


@pytest.mark.anyio
async def test_a_request_runs_on_asyncpg_and_the_sync_engine_on_psycopg(
    make_app: Callable[..., FastAPI], pg_url: str
) -> None:
    app = make_app(pg_url)  # the default driver
    db = riso_db.database(app)
    assert db.engine.dialect.driver == "asyncpg"
    assert db.sync_engine.dialect.driver == "psycopg"
    Model.metadata.create_all(db.sync_engine, tables=[Row.__table__])
    db.sync_engine.dispose()

    @app.post("/rows", status_code=201)
    async def create(name: str, session: DbSession) -> dict[str, object]:
        row = Row(name=name)
        session.add(row)
        await session.commit()
        return {"id": row.id}

    @app.get("/rows/{row_id}")
    async def read(row_id: int, session: DbSession) -> dict[str, object]:
        row = await session.scalar(select(Row).where(Row.id == row_id))
        assert row is not None
        assert row.created_at.tzinfo == UTC
        return {"name": row.name}

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        created = await client.post("/rows", params={"name": "one"})
        assert created.status_code == 201
        read_back = await client.get(f"/rows/{created.json()['id']}")
        assert read_back.json() == {"name": "one"}
    await db.dispose()
    assert riso.registry(app).settings_of("db").postgres_async_driver == "asyncpg"


def test_the_test_plugin_runs_the_app_on_psycopg_sharing_the_sync_connection(
    pg_url: str,
) -> None:
    from riso_db_pytest._shared import SharedConnection

    shared = SharedConnection(parse_url(pg_url))  # the default: asyncpg in production
    try:
        # one libpq connection serves both sides, so each sees the other's writes
        assert shared.async_engine.dialect.driver == "psycopg"
        assert shared.sync_engine.dialect.driver == "psycopg"
    finally:
        shared.close()


def _raise(sqlstate: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}'; END $$"


#: (statement, parameters, the exception SQLAlchemy raises on psycopg)
REFUSALS = [
    ("SELECT CAST(:v AS text)", {"v": "nul\x00byte"}, exc.DataError),
    ("SELECT CAST(:v AS smallint)", {"v": 10**6}, exc.DataError),
    ("SELECT 1 / 0", {}, exc.DataError),
    ("SELECT * FROM no_such_table", {}, exc.ProgrammingError),
    (_raise("22P02"), {}, exc.DataError),
    (_raise("23505"), {}, exc.IntegrityError),
    (_raise("40001"), {}, exc.OperationalError),  # serialization failure: retry
    (_raise("40P01"), {}, exc.OperationalError),  # deadlock: retry
    (_raise("53300"), {}, exc.OperationalError),
    (_raise("57014"), {}, exc.OperationalError),
    (_raise("0A000"), {}, exc.NotSupportedError),
    (_raise("XX000"), {}, exc.InternalError),
    ("SELECT pg_terminate_backend(pg_backend_pid())", {}, exc.OperationalError),
]


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
@pytest.mark.parametrize(("sql", "params", "expected"), REFUSALS)
async def test_each_refusal_is_the_same_exception_on_either_driver(
    pg_url: str, driver: str, sql: str, params: dict[str, Any], expected: type[Exception]
) -> None:
    """Apps catch ``OperationalError`` to retry, riso-db answers ``DataError`` with a 422."""
    from riso_db._database import Database

    db = Database(DbSettings(RISO_DB_URL=pg_url, postgres_async_driver=driver))
    try:
        async with db.engine.connect() as connection:
            with pytest.raises(expected) as info:
                await connection.execute(text(sql), params)
            assert type(info.value) is expected
        async with db.engine.connect() as connection:  # and the pool still serves
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_a_statement_past_the_query_timeout_is_an_operational_error(
    pg_url: str, driver: str
) -> None:
    from riso_db._database import Database

    db = Database(DbSettings(RISO_DB_URL=pg_url, postgres_async_driver=driver, query_timeout=0.5))
    try:
        async with db.engine.connect() as connection:
            with pytest.raises(exc.OperationalError) as info:
                await connection.execute(text("SELECT pg_sleep(5)"))
            assert info.value.connection_invalidated
        async with db.engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
@pytest.mark.parametrize("kind", ["refused", "wrong password"])
async def test_a_failed_connect_is_an_operational_error(
    pg_url: str, driver: str, kind: str
) -> None:
    from riso_db import DirectQuery
    from riso_db._database import Database

    url = (
        "postgresql://u:hunter2@127.0.0.1:1/x"
        if kind == "refused"
        else pg_url.replace("postgres@", "nobody_here:hunter2@", 1)
    )
    db = Database(DbSettings(RISO_DB_URL=url, postgres_async_driver=driver, connect_timeout=2))
    try:
        with pytest.raises(exc.OperationalError) as info:
            async with db.engine.connect():
                pass
        assert "hunter2" not in str(info.value)
        # DirectQuery checks out past SQLAlchemy's Connection: the same class
        with pytest.raises(exc.OperationalError):
            await DirectQuery(select(func.now())).first(db, {})
    finally:
        await db.dispose()


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_a_backend_terminated_mid_statement_is_a_lost_connection(
    pg_url: str, driver: str
) -> None:
    """An ``OperationalError``, the connection discarded, the rollback after it silent.

    (When the FATAL error arrives before the socket's close, the race the system
    fault test found, see ``test_which_asyncpg_errors_end_the_connection``.)"""
    import anyio
    import psycopg

    from riso_db._database import Database

    db = Database(DbSettings(RISO_DB_URL=pg_url, postgres_async_driver=driver))
    try:
        async with db.engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))

            def terminate() -> None:
                with psycopg.connect(pg_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

            async def kill_soon() -> None:
                await anyio.sleep(0.3)
                await anyio.to_thread.run_sync(terminate)

            async with anyio.create_task_group() as group:
                group.start_soon(kill_soon)
                with pytest.raises(exc.OperationalError) as info:
                    await connection.execute(text("SELECT pg_sleep(3)"))
            assert info.value.connection_invalidated
        # leaving the block rolled back and returned it without an error; the pool
        # opens a new connection
        async with db.engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("severity", "sqlstate", "ends"),
    [
        ("FATAL", "57P01", True),  # pg_terminate_backend, a server shutdown
        ("PANIC", "XX000", True),
        ("ERROR", "08006", True),  # connection failure
        ("ERROR", "57014", False),  # statement canceled: the connection goes on
        ("ERROR", "40001", False),
        ("ERROR", "22012", False),
    ],
)
def test_which_asyncpg_errors_end_the_connection(severity: str, sqlstate: str, ends: bool) -> None:
    """The server's FATAL error can reach asyncpg before the socket's close does: the
    connection still looks open, and the rollback after it failed with
    InternalClientError (found by the system fault test). Such errors discard it."""
    import asyncpg  # type: ignore[import-untyped]

    from riso_db._asyncpg import ends_the_connection

    error = asyncpg.PostgresError.new({"S": severity, "V": severity, "C": sqlstate, "M": "x"})
    assert ends_the_connection(error) is ends
    facade = RuntimeError("the DBAPI facade's error")  # as SQLAlchemy raises it, from error
    facade.__cause__ = error
    assert ends_the_connection(facade) is ends
    busy = asyncpg.exceptions.InternalClientError("another operation is in progress")
    assert ends_the_connection(busy)
