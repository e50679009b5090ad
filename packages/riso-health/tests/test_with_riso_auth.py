"""``RISO_HEALTH_DETAILS=authenticated`` with the real riso-auth (and riso-db on SQLite).

Skipped only when riso-auth or riso-db is not installed; the stand-in feature
of test_endpoints.py covers the same rules without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import riso
import riso_health

pytestmark = pytest.mark.anyio

riso_auth: Any = pytest.importorskip("riso_auth")
riso_db: Any = pytest.importorskip("riso_db")

PASSWORD = "correct horse battery staple"


def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'health.db'}")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", "health-test-secret-" + "x" * 40)
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "authenticated")
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature, riso_health.feature])
    riso_db.upgrade(app)
    return app


async def test_details_only_for_a_user_riso_auth_authenticates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path, monkeypatch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            registered = await c.post(
                "/auth/register", json={"email": "ops@example.com", "password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            token = await c.post(
                "/auth/token", data={"username": "ops@example.com", "password": PASSWORD}
            )
            assert token.status_code == 200, token.text
            access = token.json()["access_token"]

            anonymous = await c.get("/ready")
            forged = await c.get("/ready", headers={"Authorization": "Bearer not.a.jwt"})
            operator = await c.get("/ready", headers={"Authorization": f"Bearer {access}"})

    assert anonymous.status_code == operator.status_code
    assert "checks" not in anonymous.json()
    assert "checks" not in forged.json()
    body = operator.json()
    # riso-db's own checks are served, and pass on a migrated database
    assert {"db:responseTime", "db.migrations:responseTime"} <= set(body["checks"])
    assert body["checks"]["db:responseTime"][0]["status"] == "pass"
    assert access not in operator.text
