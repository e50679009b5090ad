"""Every forged or malformed token is a 401 with WWW-Authenticate: Bearer, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from riso_test_support.auth import AppFactory, bearer, register_and_login, serve
from riso_test_support.forgery import HS_CASES, RS_CASES, Keys, claims, make_keys
from starlette.requests import Request

import riso_auth


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


def _request(app: FastAPI, token: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "app": app,
    }
    return Request(scope)


async def _assert_refused(app: FastAPI, token: str) -> None:
    async with serve(app) as client:
        for path in ("/auth/me", "/whoami"):
            r = await client.get(path, headers=bearer(token))
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert "detail" in r.json()
        r = await client.post("/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401
        r = await client.post("/auth/logout", headers=bearer(token))
        assert r.status_code == 401
        assert await riso_auth.authenticate_request(_request(app, token)) is None


@pytest.fixture
def hs_app(app_factory: AppFactory, sqlite_url: str) -> FastAPI:
    return app_factory(sqlite_url)


@pytest.fixture
def rs_app(app_factory: AppFactory, sqlite_url: str, keys: Keys, tmp_path: Path) -> FastAPI:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(keys.rsa_private_pem)
    public.write_bytes(keys.rsa_public_pem)
    return app_factory(
        sqlite_url, algorithms="RS256", private_key_file=str(private), public_key_file=str(public)
    )


@pytest.mark.parametrize("case", sorted(HS_CASES))
async def test_forged_hs256_over_http(hs_app: FastAPI, keys: Keys, case: str) -> None:
    service = riso_auth.runtime(hs_app).tokens
    # the forged tokens name a real account and session, so only the forgery is refused
    async with serve(hs_app) as client:
        pair = await register_and_login(client, "victim@example.com")
    good = service.decode(pair["access_token"], "access")
    forged_claims = {**claims(service, subject=good["sub"]), "sid": good["sid"], "stm": good["stm"]}
    await _assert_refused(hs_app, HS_CASES[case](service, forged_claims, keys))


@pytest.mark.parametrize("case", sorted(RS_CASES))
async def test_forged_rs256_over_http(rs_app: FastAPI, keys: Keys, case: str) -> None:
    service = riso_auth.runtime(rs_app).tokens
    async with serve(rs_app) as client:
        pair = await register_and_login(client, "victim@example.com")
        assert (
            await client.get("/auth/me", headers=bearer(pair["access_token"]))
        ).status_code == 200
    good = service.decode(pair["access_token"], "access")
    forged_claims = {**claims(service, subject=good["sub"]), "sid": good["sid"], "stm": good["stm"]}
    await _assert_refused(rs_app, RS_CASES[case](service, forged_claims, keys))


async def test_control_a_correctly_signed_copy_is_accepted(hs_app: FastAPI, keys: Keys) -> None:
    """The forged tables would pass for the wrong reason if a good token failed too."""
    service = riso_auth.runtime(hs_app).tokens
    async with serve(hs_app) as client:
        pair = await register_and_login(client, "victim@example.com")
        good = service.decode(pair["access_token"], "access")
        copy = {**claims(service, subject=good["sub"]), "sid": good["sid"], "stm": good["stm"]}
        token = service._jwt.encode(copy, service._signing_key, algorithm="HS256")
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200
        assert (await riso_auth.authenticate_request(_request(hs_app, token))) is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bearer a.b.c",
        "Bearer " + "a" * 100_000,
        "Token x",
    ],
)
async def test_odd_authorization_headers(hs_app: FastAPI, header: str) -> None:
    async with serve(hs_app) as client:
        r = await client.get("/auth/me", headers={"Authorization": header})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


async def test_access_token_of_deleted_account(hs_app: FastAPI) -> None:
    from sqlalchemy import delete

    async with serve(hs_app) as client:
        pair = await register_and_login(client, "gone@example.com")
        async with riso_auth.runtime(hs_app).database.sessionmaker() as session:
            await session.execute(
                delete(riso_auth.User).where(riso_auth.User.email == "gone@example.com")
            )
            await session.commit()
        riso_auth.runtime(hs_app)._cache.clear()
        assert (
            await client.get("/auth/me", headers=bearer(pair["access_token"]))
        ).status_code == 401


async def test_authenticate_request_without_a_database(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    app = app_factory(f"sqlite:///{tmp_path / 'gone.db'}")
    async with serve(app) as client:
        pair = await register_and_login(client, "someone@example.com")
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # now it cannot even be opened
    riso_auth.runtime(app)._cache.clear()
    await riso_auth.runtime(app).database.dispose()
    assert await riso_auth.authenticate_request(_request(app, pair["access_token"])) is None
