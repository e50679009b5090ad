"""DbSession through the real ASGI stack, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy import String, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

import riso_db
from riso.testing import TcpProxy
from riso_db import DbSession, Model, PrimaryKeyMixin, TimestampMixin

pytestmark = pytest.mark.anyio


class Item(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "dbtest_item"

    name: Mapped[str] = mapped_column(String(50), unique=True)


def build(make_app: Callable[..., FastAPI], url: str, **env: str) -> FastAPI:
    app = make_app(url, **env)
    db = riso_db.database(app)
    Model.metadata.create_all(db.sync_engine, tables=[Item.__table__])
    db.sync_engine.dispose()

    @app.post("/items", status_code=201)
    async def create(name: str, session: DbSession, commit: bool = True) -> dict[str, object]:
        item = Item(name=name)
        session.add(item)
        await session.flush()
        if name.startswith("boom"):
            raise RuntimeError("failure after a write")
        if commit:
            await session.commit()
        return {"id": item.id, "created_at": item.created_at.isoformat()}

    @app.get("/items/{n}")
    async def read(n: int, session: DbSession) -> dict[str, int]:
        count = await session.scalar(select(func.count()).select_from(Item))
        if n % 3 == 0:
            raise RuntimeError("endpoint failure")
        if n % 3 == 1:
            raise HTTPException(404, "no such item")
        return {"count": int(count or 0)}

    @app.get("/count")
    async def count(session: DbSession) -> dict[str, int]:
        return {"count": int(await session.scalar(select(func.count()).select_from(Item)) or 0)}

    return app


@pytest.fixture(params=["asyncpg", "psycopg"])
def pg_driver(request: pytest.FixtureRequest) -> dict[str, str]:
    """The app's async PostgreSQL driver: each failure answers the same on both."""
    return {"RISO_DB_POSTGRES_ASYNC_DRIVER": request.param}


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_commit_only_when_asked_and_rollback_on_error(
    make_app: Callable[..., FastAPI], db_url: str
) -> None:
    app = build(make_app, db_url)
    async with app.router.lifespan_context(app), client(app) as http:
        created = await http.post("/items", params={"name": "kept"})
        assert created.status_code == 201
        assert created.json()["created_at"].endswith("+00:00")  # timezone-aware
        assert (await http.post("/items", params={"name": "dropped", "commit": "false"})).is_success
        failed = await http.post("/items", params={"name": "boom"})
        assert failed.status_code == 500
        assert (await http.get("/count")).json() == {"count": 1}
        # the unique name is free again: nothing of the failed request remains
        assert (
            await http.post("/items", params={"name": "boom2", "commit": "x"})
        ).status_code == 422
        assert (await http.post("/items", params={"name": "dropped"})).status_code == 201
        db = riso_db.database(app)
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with db.sessionmaker() as session:
            row = (await session.scalars(select(Item).where(Item.name == "kept"))).one()
            assert row.created_at.tzinfo is UTC
            assert row.updated_at >= row.created_at


async def test_thousand_requests_many_failing_leak_no_connection(
    make_app: Callable[..., FastAPI], db_url: str
) -> None:
    app = build(make_app, db_url)
    statuses: dict[int, int] = {}
    async with app.router.lifespan_context(app), client(app) as http:

        async def call(n: int) -> None:
            response = await http.get(f"/items/{n}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code != 500:
                assert "detail" in response.json() or "count" in response.json()

        for start in range(0, 1000, 10):
            async with anyio.create_task_group() as group:
                for n in range(start, start + 10):
                    group.start_soon(call, n)
        pool = riso_db.database(app).engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert statuses == {500: 334, 404: 333, 200: 333}


def _kill_backends(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    return int(killed[0])


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
@pytest.mark.parametrize(
    ("ping_idle", "pause"),
    [
        ("0", 0.0),  # every checkout is tested: the very next request succeeds
        (None, 0.6),  # the default window (0.5 s): a connection idle past it is tested
    ],
)
async def test_next_request_succeeds_after_server_kills_idle_connections(
    make_app: Callable[..., FastAPI],
    pg_url: str,
    driver: str,
    ping_idle: str | None,
    pause: float,
) -> None:
    settings = {"RISO_DB_POSTGRES_ASYNC_DRIVER": driver}
    if ping_idle is not None:
        settings["RISO_DB_POOL_PRE_PING_IDLE"] = ping_idle
    app = make_app(pg_url, **settings)
    async with app.router.lifespan_context(app), client(app) as http:

        @app.get("/one")
        async def one(session: DbSession) -> dict[str, int]:
            return {"one": int(await session.scalar(text("SELECT 1")) or 0)}

        assert (await http.get("/one")).status_code == 200
        assert _kill_backends(pg_url) >= 1
        await anyio.sleep(pause)
        response = await http.get("/one")
        assert response.status_code == 200, response.text


async def test_a_connection_in_use_moments_ago_is_not_pinged(
    make_app: Callable[..., FastAPI], pg_url: str, pg_driver: dict[str, str]
) -> None:
    """Within the window the checkout sends nothing: a killed connection fails one
    request with a 503, and SQLAlchemy's pool invalidation makes the next one succeed."""
    app = make_app(pg_url, RISO_DB_POOL_PRE_PING_IDLE="60", **pg_driver)

    @app.get("/one")
    async def one(session: DbSession) -> dict[str, int]:
        return {"one": int(await session.scalar(text("SELECT 1")) or 0)}

    async with app.router.lifespan_context(app), client(app) as http:
        assert (await http.get("/one")).status_code == 200
        assert _kill_backends(pg_url) >= 1
        assert (await http.get("/one")).status_code == 503
        assert (await http.get("/one")).status_code == 200


async def test_next_request_succeeds_after_server_kills_connections(
    make_app: Callable[..., FastAPI], pg_url: str
) -> None:
    app = build(make_app, pg_url, RISO_DB_POOL_PRE_PING_IDLE="0")
    async with app.router.lifespan_context(app), client(app) as http:
        assert (await http.get("/count")).status_code == 200
        db = riso_db.database(app)
        assert db.engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        response = await http.get("/count")
        assert response.status_code == 200, response.text
        assert response.json() == {"count": 0}


async def test_lifespan_disposes_engines(make_app: Callable[..., FastAPI], db_url: str) -> None:
    app = build(make_app, db_url)
    async with app.router.lifespan_context(app), client(app) as http:
        assert (await http.get("/count")).status_code == 200
        pool = riso_db.database(app).engine.pool
        assert pool.checkedin() == 1  # type: ignore[attr-defined]
    assert riso_db.database(app).engine.pool.checkedin() == 0  # type: ignore[attr-defined]


async def test_health_check_fails_fast_on_a_silent_server(
    make_app: Callable[..., FastAPI],
) -> None:
    """A server that accepts TCP but never answers: the check fails within its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        app = make_app(
            f"postgresql://u:hunter2@127.0.0.1:{port}/x",
            RISO_DB_HEALTH_TIMEOUT="0.5",
            RISO_DB_CONNECT_TIMEOUT="1",
        )
        with pytest.raises(riso_db.DatabaseUnavailableError) as info:
            await riso_db.feature.health_checks[0].func(app)
        assert "hunter2" not in str(info.value)
        await riso_db.database(app).dispose()


async def test_ping_health_check_passes(make_app: Callable[..., FastAPI], db_url: str) -> None:
    app = make_app(db_url)
    await riso_db.feature.health_checks[0].func(app)
    async with riso_db.database(app).engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    await riso_db.database(app).dispose()


async def test_cancelled_request_returns_its_connection(
    make_app: Callable[..., FastAPI], db_url: str
) -> None:
    """A request cancelled while it holds a connection (server shutdown) still returns it."""
    app = build(make_app, db_url)
    holding = anyio.Event()

    @app.get("/hold")
    async def hold(session: DbSession) -> None:
        await session.scalar(select(func.count()).select_from(Item))
        holding.set()
        await anyio.sleep_forever()

    pool = riso_db.database(app).engine.pool
    async with app.router.lifespan_context(app), client(app) as http:
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, "/hold")
            await holding.wait()
            assert pool.checkedout() == 1  # type: ignore[attr-defined]
            group.cancel_scope.cancel()
        assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_value_the_database_refuses_is_a_422_and_stores_nothing(
    make_app: Callable[..., FastAPI], pg_url: str, pg_driver: dict[str, str]
) -> None:
    """Regression (found by the system fuzzer): PostgreSQL refuses NUL in text; that was a 500."""
    app = build(make_app, pg_url, **pg_driver)
    async with app.router.lifespan_context(app), client(app) as http:
        response = await http.post("/items", params={"name": "nul\x00byte"})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert isinstance(detail, list)
        assert {"loc", "msg", "type"} <= set(detail[0])
        assert (await http.get("/count")).json() == {"count": 0}


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_an_unreachable_database_is_a_json_503(
    make_app: Callable[..., FastAPI], kind: str, pg_driver: dict[str, str]
) -> None:
    """Regression (found by the system fault tests): a down database was a 500."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        if kind == "silent":
            server.listen(8)  # accepts TCP, never answers: the connect timeout applies
        app = make_app(
            f"postgresql://u:pw@127.0.0.1:{port}/x", RISO_DB_CONNECT_TIMEOUT="1", **pg_driver
        )

        @app.get("/count")
        async def count(session: DbSession) -> dict[str, int]:
            return {"count": int(await session.scalar(select(func.count()).select_from(Item)) or 0)}

        async with client(app) as http:
            response = await http.get("/count")
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "the database is unavailable; try again later"}
        assert response.headers["retry-after"] == "1"
        await riso_db.database(app).dispose()


async def test_a_paused_server_fails_requests_fast_and_recovers(
    make_app: Callable[..., FastAPI], pg_url: str, pg_driver: dict[str, str]
) -> None:
    """Regression (found by the system fault tests): with the server paused, a request
    on a pooled connection waited forever; with RISO_DB_QUERY_TIMEOUT it is a 503."""
    proxy = TcpProxy(5432)
    try:
        url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        build(make_app, url)  # creates the table
        app = make_app(url, RISO_DB_QUERY_TIMEOUT="0.5", RISO_DB_CONNECT_TIMEOUT="1", **pg_driver)

        @app.get("/count")
        async def count(session: DbSession) -> dict[str, int]:
            return {"count": int(await session.scalar(select(func.count()).select_from(Item)) or 0)}

        async with app.router.lifespan_context(app), client(app) as http:
            assert (await http.get("/count")).status_code == 200  # a pooled connection now
            proxy.pause()
            with anyio.fail_after(10):  # a hang guard, not a timing assertion
                for _ in range(3):
                    response = await http.get("/count")
                    assert response.status_code == 503, response.text
                    assert response.json()["detail"].startswith("the database is unavailable")
            proxy.resume()
            with anyio.fail_after(10):
                assert (await http.get("/count")).json() == {"count": 0}
    finally:
        proxy.resume()
        proxy.close()


@pytest.mark.parametrize("query_timeout", ["0", "5"])
async def test_a_connection_killed_mid_request_is_a_503(
    make_app: Callable[..., FastAPI], pg_url: str, query_timeout: str, pg_driver: dict[str, str]
) -> None:
    """Regression (found by the system fault tests): a backend terminated inside a
    request's transaction was a 500 (with the query timeout: PendingRollbackError)."""
    import psycopg

    app = make_app(pg_url, RISO_DB_QUERY_TIMEOUT=query_timeout, **pg_driver)

    @app.get("/killed")
    async def killed(session: DbSession) -> dict[str, int]:
        pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await session.execute(text("SELECT 1"))
        return {"pid": pid}

    async with app.router.lifespan_context(app), client(app) as http:
        response = await http.get("/killed")
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "the database is unavailable; try again later"}
        assert (await http.get("/killed")).status_code == 503  # a fresh connection, killed again


async def test_a_session_the_endpoint_never_used_is_not_closed(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Closing an untouched session did nothing but cost a greenlet switch per request
    (riso-auth's lookup asks for the session on every protected request, to share it)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    closed: list[bool] = []
    original = AsyncSession.close

    async def counting_close(self: AsyncSession) -> None:
        closed.append(self.in_transaction())
        await original(self)

    monkeypatch.setattr(AsyncSession, "close", counting_close)
    app = make_app(f"sqlite:///{tmp_path / 'untouched.db'}")

    @app.get("/untouched")
    async def untouched(session: DbSession) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/used")
    async def used(session: DbSession) -> dict[str, int]:
        return {"one": int(await session.scalar(text("SELECT 1")) or 0)}

    async with app.router.lifespan_context(app), client(app) as http:
        assert (await http.get("/untouched")).status_code == 200
        assert closed == []
        assert (await http.get("/used")).status_code == 200
        assert closed == [True]
        pool = riso_db.database(app).engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
