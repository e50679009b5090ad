"""How many pooled connections one authenticated request takes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from riso_test_support.auth import AppFactory, bearer, register_and_login, serve
from sqlalchemy import event, func, select, update

import riso_auth
import riso_db
from riso_auth._deps import _LOOKUPS
from riso_auth._session_sharing import uses_request_session


@dataclass
class PoolUse:
    checkouts: int = 0
    held: int = 0
    most_held: int = 0


@contextmanager
def pool_use(app: FastAPI) -> Iterator[PoolUse]:
    """Count checkouts of the app's async pool, and the most connections held at once."""
    engine = riso_db.database(app).engine.sync_engine
    use = PoolUse()

    def checkout(*_: Any) -> None:
        use.checkouts += 1
        use.held += 1
        use.most_held = max(use.most_held, use.held)

    def checkin(*_: Any) -> None:
        use.held -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield use
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


def add_endpoints(app: FastAPI) -> None:
    @app.get("/accounts")
    async def accounts(user: riso_auth.CurrentUser, session: riso_db.DbSession) -> dict[str, int]:
        count = await session.scalar(select(func.count()).select_from(riso_auth.User))
        return {"by": user.id, "accounts": int(count or 0)}

    @app.post("/touch")
    async def touch(user: riso_auth.CurrentUser, session: riso_db.DbSession) -> dict[str, int]:
        # a write after the caller's lookup, in the request's session
        await session.execute(
            update(riso_auth.User)
            .where(riso_auth.User.id == user.id)
            .values(scopes=riso_auth.User.scopes)
        )
        await session.commit()
        return {"by": user.id}

    @app.get("/scoped")
    async def scoped(
        user: Annotated[riso_auth.Principal, riso_auth.require_scopes()],
        session: riso_db.DbSession,
    ) -> dict[str, int]:
        await session.scalar(select(func.count()).select_from(riso_auth.User))
        return {"by": user.id}

    @app.get("/held")
    async def held(user: riso_auth.CurrentUser) -> dict[str, int]:
        return {"checked_out": riso_db.database(app).engine.sync_engine.pool.checkedout()}  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_url")
    return url


async def test_current_user_and_db_session_share_one_connection(
    app_factory: AppFactory, db_url: str, email: str
) -> None:
    # a cold revocation cache: every request looks its caller up in the database
    app = app_factory(db_url, revocation_cache_seconds="0")
    add_endpoints(app)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        with pool_use(app) as use:
            r = await client.get("/accounts", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text
        assert r.json()["accounts"] >= 1
        assert use.checkouts == 1
        with pool_use(app) as use:
            r = await client.post("/touch", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text
        assert use.checkouts == 1
        with pool_use(app) as use:
            r = await client.get("/scoped", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text
        assert use.checkouts == 1


async def test_current_user_alone_holds_no_connection_in_the_endpoint(
    app_factory: AppFactory, db_url: str, email: str
) -> None:
    app = app_factory(db_url, revocation_cache_seconds="0")
    add_endpoints(app)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        with pool_use(app) as use:
            r = await client.get("/held", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text
        assert r.json() == {"checked_out": 0}
        assert use.checkouts == 1


async def test_auth_endpoints_hold_one_connection_at_a_time(
    app_factory: AppFactory, db_url: str, email: str
) -> None:
    app = app_factory(db_url, revocation_cache_seconds="0")
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        with pool_use(app) as use:
            r = await client.post("/auth/logout", headers=bearer(pair["access_token"]))
        assert r.status_code == 204, r.text
        assert use.most_held == 1


async def test_sqlite_writes_after_the_lookup_do_not_collide(
    app_factory: AppFactory, sqlite_url: str, email: str
) -> None:
    # SQLite cannot upgrade a read transaction to a write one once another
    # connection has written since it read: the lookup's read must not stay open
    app = app_factory(sqlite_url, revocation_cache_seconds="0")
    add_endpoints(app)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        answers = await asyncio.gather(
            *(client.post("/touch", headers=bearer(pair["access_token"])) for _ in range(12))
        )
    assert [r.status_code for r in answers] == [200] * 12


async def repository(session: riso_db.DbSession) -> object:
    """A dependency of the app's built on the request's session."""
    return session


def test_which_routes_share_the_request_session() -> None:
    # reads FastAPI's dependency tree: this fails the day its shape changes
    def route(endpoint: Any) -> APIRoute:
        return APIRoute("/x", endpoint)

    async def with_db_session(user: riso_auth.CurrentUser, session: riso_db.DbSession) -> None: ...
    async def alone(user: riso_auth.CurrentUser) -> None: ...
    async def optional(user: riso_auth.OptionalUser, session: riso_db.DbSession) -> None: ...
    async def superuser(
        user: riso_auth.SuperUser, repo: Annotated[object, Depends(repository)]
    ) -> None: ...
    async def uncached(
        user: riso_auth.CurrentUser,
        session: Annotated[object, Depends(riso_db.get_session, use_cache=False)],
    ) -> None: ...
    async def function_scoped(
        user: riso_auth.CurrentUser,
        session: Annotated[object, Depends(riso_db.get_session, scope="function")],
    ) -> None: ...

    shares = {
        f.__name__: uses_request_session(route(f).dependant, _LOOKUPS)
        for f in (with_db_session, alone, optional, superuser, uncached, function_scoped)
    }
    assert shares == {
        "with_db_session": True,
        "alone": False,
        "optional": True,
        "superuser": True,
        "uncached": False,
        "function_scoped": False,
    }
