"""While 16 logins hash passwords, a plain endpoint on the same uvicorn server keeps answering."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, SECRET, migrate

import riso
import riso_auth
import riso_db
from riso.testing import ServerProcess


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'srv.db'}"
    monkeypatch.setenv("RISO_DB_URL", url)
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    monkeypatch.setenv("RISO_AUTH_RATE_LIMIT_ENABLED", "false")
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    migrate(app)
    riso_db.database(app).sync_engine.dispose()
    (tmp_path / "srvapp.py").write_text(
        textwrap.dedent(
            """
            import riso, riso_db, riso_auth
            from fastapi import FastAPI
            app = FastAPI()
            riso.include(app, features=[riso_db.feature, riso_auth.feature])

            @app.get("/plain")
            async def plain():
                return {"ok": True}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    argv = [sys.executable, "-m", "uvicorn", "srvapp:app"]
    argv += ["--host", "{host}", "--port", "{port}", "--log-level", "warning"]
    with ServerProcess(argv, env=env, cwd=tmp_path, ready_path="/plain", timeout=60) as server:
        yield server.base_url


async def test_plain_endpoint_answers_during_16_logins(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        r = await client.post(
            "/auth/register", json={"email": "load@example.com", "password": PASSWORD}
        )
        assert r.status_code == 201
        form = {"username": "load@example.com", "password": PASSWORD}
        logins = [asyncio.create_task(client.post("/auth/token", data=form)) for _ in range(16)]
        plain_codes: list[int] = []
        answered_while_logging_in = 0
        await asyncio.sleep(0)
        while not all(t.done() for t in logins):
            r = await client.get("/plain")
            plain_codes.append(r.status_code)
            if not all(t.done() for t in logins):
                answered_while_logging_in += 1
        results = await asyncio.gather(*logins)
    assert [r.status_code for r in results] == [200] * 16
    assert plain_codes
    assert set(plain_codes) == {200}
    assert answered_while_logging_in >= 1
