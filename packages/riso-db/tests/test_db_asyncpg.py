"""RISO_DB_POSTGRES_ASYNC_DRIVER=asyncpg: asyncpg for the app, psycopg for the sync side."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import String, select
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


def test_default_stays_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u@db/app")
    settings = DbSettings()
    assert settings.postgres_async_driver == "psycopg"
    assert settings.urls.async_url.drivername == "postgresql+psycopg"


def test_missing_asyncpg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if not installed
    with pytest.raises(riso_db.MissingDriverError) as info:
        parse_url("postgresql://u:hunter2@db/app", postgres_async_driver="asyncpg")
    message = str(info.value)
    assert "pip install 'riso-db[asyncpg]'" in message
    assert "asyncpg" in message
    assert "hunter2" not in message
    # and the setting fails where every other invalid setting does
    monkeypatch.setenv("RISO_DB_URL", "postgresql://u:hunter2@db/app")
    monkeypatch.setenv("RISO_DB_POSTGRES_ASYNC_DRIVER", "asyncpg")
    with pytest.raises(ValidationError, match=r"riso-db\[asyncpg\]"):
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
    app = make_app(pg_url, RISO_DB_POSTGRES_ASYNC_DRIVER="asyncpg")
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
