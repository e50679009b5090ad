"""A database connection that goes silent fails the request with a 503, by default.

Regression: with ``RISO_DB_QUERY_TIMEOUT`` off (its old default) a request whose
connection went silent (a paused server, a network black hole) hung for good,
holding a pooled connection. The bound is now on by default on PostgreSQL and
MySQL/MariaDB, and ``riso check --deploy`` warns (db.W002) when it is turned off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

import riso
import riso_db
from riso.testing import TcpProxy
from riso_db import DbSession, DbSettings
from riso_db._health import system_checks

#: the default bound, and the connect timeout of these tests (the reconnect after the cut)
DEFAULT = riso_db.DbSettings.model_fields["query_timeout"].default
CONNECT = 1.0


def test_the_query_timeout_is_on_by_default() -> None:
    assert DbSettings().query_timeout == DEFAULT == 10.0


@pytest.mark.anyio
@pytest.mark.parametrize("db_url", ["postgresql", "mysql"], indirect=True)
async def test_a_paused_server_is_a_503_within_the_default_bound(
    make_app: Callable[..., FastAPI], db_url: str
) -> None:
    server_url = db_url
    port = 5432 if server_url.startswith("postgresql") else 3306
    with TcpProxy(port) as proxy:
        url = server_url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}")
        app = make_app(url, RISO_DB_CONNECT_TIMEOUT=str(CONNECT))  # no RISO_DB_QUERY_TIMEOUT

        @app.get("/one")
        async def one(session: DbSession) -> dict[str, int]:
            return {"one": int(await session.scalar(text("SELECT 1")) or 0)}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        ):
            assert (await http.get("/one")).json() == {"one": 1}  # a pooled connection now
            proxy.pause()
            try:
                started = time.monotonic()
                with anyio.fail_after(DEFAULT + CONNECT + 20):  # was: hung for good
                    answer = await http.get("/one")
                took = time.monotonic() - started
            finally:
                proxy.resume()
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"detail": "the database is unavailable; try again later"}
            assert took < DEFAULT + CONNECT + 3, f"answered after {took:.1f}s"
            with anyio.fail_after(10):  # recovers by itself
                assert (await http.get("/one")).json() == {"one": 1}


@pytest.mark.parametrize(
    ("url", "timeout", "warned"),
    [
        ("postgresql://u@127.0.0.1:1/x", None, False),
        ("postgresql://u@127.0.0.1:1/x", "0", True),
        ("mysql://u@127.0.0.1:1/x", "0", True),
        ("mysql://u@127.0.0.1:1/x", "30", False),
        ("sqlite:///{tmp}/x.db", "0", False),  # a local file never goes silent
    ],
)
def test_deploy_check_warns_when_the_query_timeout_is_off(
    url: str,
    timeout: str | None,
    warned: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("RISO_DB_URL", url.format(tmp=tmp_path))
    if timeout is not None:
        monkeypatch.setenv("RISO_DB_QUERY_TIMEOUT", timeout)
    app = FastAPI()
    reg = riso.include(app, features=[riso_db.feature])
    ctx = riso.CheckContext(app=app, settings=reg.settings, core=reg.core, deploy=True)
    ids = [m.id for m in system_checks(ctx)]
    assert ("db.W002" in ids) is warned, ids
