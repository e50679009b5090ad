"""Apps with riso-db + riso-auth on a real database, and an HTTP client through the ASGI stack."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI

import riso
import riso_auth
import riso_db
from riso_test_support.asgi import serving

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"
AppFactory = Callable[..., FastAPI]


def migrate(app: FastAPI) -> None:
    """Create riso-auth's tables through riso-db's migrations."""
    upgrade = getattr(riso_db, "upgrade", None)
    if upgrade is None:  # riso-db without the public name yet
        from riso_db._migrations._runner import upgrade
    upgrade(app)


def make_app(db_url: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> FastAPI:
    """An app with db + auth and a few endpoints of its own; tables migrated."""
    monkeypatch.setenv("RISO_DB_URL", db_url)
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    for key, value in env.items():
        monkeypatch.setenv(f"RISO_AUTH_{key.upper()}", value)
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/whoami")
    async def whoami(user: riso_auth.OptionalUser) -> dict[str, Any]:
        return {"id": user.id if user else None}

    @app.get("/items", dependencies=[riso_auth.require_scopes("items:read")])
    async def items() -> list[str]:
        return ["a"]

    @app.post("/items")
    async def add_item(
        user: Annotated[riso_auth.Principal, riso_auth.require_scopes("items:write")],
    ) -> dict[str, int]:
        return {"by": user.id}

    @app.get("/admin")
    async def admin(user: riso_auth.SuperUser) -> dict[str, int]:
        return {"id": user.id}

    @app.get("/verified")
    async def verified(user: riso_auth.VerifiedUser) -> dict[str, int]:
        return {"id": user.id}

    migrate(app)
    return app


@asynccontextmanager
async def serve(app: FastAPI, client: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk HTTPS to it through the ASGI stack, from ``client``.

    By default from an address of its own: the database limiter's counters are
    shared by every test on one server, and a test must not meet the register
    or login limit because others registered from the same address before it.
    """
    address = client or fresh_address()
    async with serving(app, base_url="https://testserver", client=(address, 1234)) as http:
        yield http


async def register_and_login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, scope: str = ""
) -> dict[str, Any]:
    r = await client.post("/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    return await login(client, email, password, scope)


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, scope: str = ""
) -> dict[str, Any]:
    r = await client.post(
        "/auth/token", data={"username": email, "password": password, "scope": scope}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def capture_mail(app: FastAPI) -> list[riso_auth.MailMessage]:
    """Every mail riso-auth sends for ``app`` from now on, in order."""
    sent: list[riso_auth.MailMessage] = []

    async def sender(message: riso_auth.MailMessage) -> None:
        sent.append(message)

    riso_auth.set_mail_sender(app, sender)
    return sent


async def account(
    app: FastAPI,
    client: httpx.AsyncClient,
    email: str,
    *,
    scopes: str = "",
    superuser: bool = False,
    password: str = PASSWORD,
) -> tuple[int, str]:
    """A verified account made through the runtime, and an access token of a new session.

    The session is started by the runtime, not ``POST /auth/token``, so tests
    making many accounts do not meet the login rate limit of their address.
    """
    runtime = riso_auth.runtime(app)
    user = await runtime.create_user(
        email, password, scopes=scopes, is_superuser=superuser, is_verified=True
    )
    return user.id, (await runtime.login(user)).access_token


async def new_api_key(
    client: httpx.AsyncClient, token: str, scopes: list[str] | None = None, **body: Any
) -> dict[str, Any]:
    """``POST /auth/api-keys`` as ``token``; the answer (with ``key``) as JSON."""
    r = await client.post(
        "/auth/api-keys",
        json={"name": "ci", "scopes": scopes or [], **body},
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def fresh_address() -> str:
    """A client address no other test used: the per-address rate limits of a database
    shared by a whole test session (PostgreSQL, MariaDB) start at zero for it."""
    return f"10.{secrets.randbelow(250) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
