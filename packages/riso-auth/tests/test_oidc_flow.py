"""Sign in with a real OpenID provider (panva's oidc-provider on loopback), end to end.

The whole code flow to riso-auth's token pair and ``/auth/me`` on every engine,
returning identities, the flow's one-time state, replayed codes and nonces,
provider errors, redirects to a frontend, linking and unlinking.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import pytest
from riso_test_support.auth import AppFactory, bearer, register_and_login, serve
from riso_test_support.oidc import (
    CLIENT_SECRET,
    path_and_query,
    provider_env,
    query_of,
    sign_in_at_provider,
)

import riso_auth


def _email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def _start(client: httpx.AsyncClient, query: str = "") -> str:
    r = await client.get(f"/auth/oidc/local/authorize{query}")
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def _sign_in(client: httpx.AsyncClient, login: str, query: str = "") -> httpx.Response:
    back = await sign_in_at_provider(await _start(client, query), login)
    return await client.get(path_and_query(back))


async def test_code_flow_to_token_pair_and_me(
    any_db_url: str, app_factory: AppFactory, oidc_issuer: str
) -> None:
    app = app_factory(any_db_url, oidc_providers=provider_env(oidc_issuer))
    email = _email()
    async with serve(app) as client:
        location = await _start(client)
        assert location.startswith(f"{oidc_issuer}/auth?")
        sent = query_of(location)
        assert sent["code_challenge_method"] == "S256"
        assert sent["response_type"] == "code"
        assert len(sent["state"]) >= 32
        assert len(sent["nonce"]) >= 32
        assert "code_verifier" not in sent
        back = await sign_in_at_provider(location, email)
        r = await client.get(path_and_query(back))
        assert r.status_code == 200, r.text
        pair: dict[str, Any] = r.json()
        assert r.headers["cache-control"] == "no-store"
        me = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()
        assert me["email"] == email
        assert me["is_verified"] is True
        assert me["providers"] == ["local"]
        # the account has no password: the password grant refuses it
        r = await client.post("/auth/token", data={"username": email, "password": "!"})
        assert r.status_code == 401
        # a returning identity signs in the same account
        r = await _sign_in(client, email)
        assert r.status_code == 200, r.text
        again = (await client.get("/auth/me", headers=bearer(r.json()["access_token"]))).json()
        assert again["id"] == me["id"]
        # the refresh token is riso-auth's own
        r = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200


async def test_link_and_unlink(any_db_url: str, app_factory: AppFactory, oidc_issuer: str) -> None:
    app = app_factory(any_db_url, oidc_providers=provider_env(oidc_issuer))
    email = _email("linker")
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        headers = bearer(pair["access_token"])
        assert (await client.post("/auth/oidc/local/link")).status_code == 401
        r = await client.post("/auth/oidc/local/link", headers=headers)
        assert r.status_code == 200
        url = r.json()["authorization_url"]
        # the provider's account has another email: linking does not need it to match
        back = await sign_in_at_provider(url, _email("elsewhere"))
        r = await client.get(path_and_query(back))
        assert r.status_code == 200, r.text
        me = (await client.get("/auth/me", headers=headers)).json()
        assert me["providers"] == ["local"]
        assert me["email"] == email
        r = await client.delete("/auth/oidc/local", headers=headers)
        assert r.status_code == 204
        me = (await client.get("/auth/me", headers=headers)).json()
        assert me["providers"] == []
        r = await client.delete("/auth/oidc/local", headers=headers)
        assert r.status_code == 404


async def test_unlink_refused_when_last_way_in(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    app = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    async with serve(app) as client:
        r = await _sign_in(client, _email("only"))
        headers = bearer(r.json()["access_token"])
        r = await client.delete("/auth/oidc/local", headers=headers)
        assert r.status_code == 409
        assert "would leave no way to sign in" in r.json()["detail"]
        me = (await client.get("/auth/me", headers=headers)).json()
        assert me["providers"] == ["local"]


async def test_identity_of_another_user_cannot_be_linked(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    app = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    owner_login = _email("owner")
    async with serve(app) as client:
        assert (await _sign_in(client, owner_login)).status_code == 200
        pair = await register_and_login(client, _email("thief"))
        headers = bearer(pair["access_token"])
        url = (await client.post("/auth/oidc/local/link", headers=headers)).json()
        back = await sign_in_at_provider(url["authorization_url"], owner_login)
        r = await client.get(path_and_query(back))
        assert r.status_code == 409
        assert r.json()["detail"] == "This local account is linked to another user"
        assert (await client.get("/auth/me", headers=headers)).json()["providers"] == []


async def test_unknown_provider_is_404(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    app = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    async with serve(app) as client:
        for path in ("/auth/oidc/nope/authorize", "/auth/oidc/nope/callback?state=x"):
            r = await client.get(path)
            assert r.status_code == 404
            assert r.json()["detail"] == "No provider named 'nope'"


async def test_no_provider_no_endpoints(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    async with serve(app) as client:
        assert (await client.get("/auth/oidc/local/authorize")).status_code == 404
        pair = await register_and_login(client, _email())
        me = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()
        assert me["providers"] == []


async def test_racing_callbacks_with_one_state(
    any_db_url: str, app_factory: AppFactory, oidc_issuer: str
) -> None:
    """Of two callbacks presenting one state at once, exactly one signs in."""
    app = app_factory(any_db_url, oidc_providers=provider_env(oidc_issuer))
    async with serve(app) as client:
        back = await sign_in_at_provider(await _start(client), _email("race"))
        first, second = await asyncio.gather(
            client.get(path_and_query(back)), client.get(path_and_query(back))
        )
        assert sorted([first.status_code, second.status_code]) == [200, 400]
        loser = first if first.status_code == 400 else second
        assert "already used" in loser.json()["detail"]


async def test_no_secret_or_token_in_logs(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    async with serve(app) as client:
        pair = (await _sign_in(client, _email("logs"))).json()
        # and a failing one: a replayed code
        state = query_of(await _start(client))["state"]
        await client.get(f"/auth/oidc/local/callback?code=spent&state={state}")
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert CLIENT_SECRET not in logged
    assert pair["access_token"] not in logged
    assert pair["refresh_token"] not in logged


async def test_provider_sign_in_emits_registered_once_and_signed_in_each_time(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    app = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    seen: list[tuple[str, int, dict[str, object]]] = []

    def record(event: riso_auth.AccountEvent) -> None:
        seen.append((event.name, event.user_id, dict(event.data)))

    riso_auth.on(app, "user_registered", record)
    riso_auth.on(app, "user_signed_in", record)
    async with serve(app) as client:
        login = _email("events")
        first = await _sign_in(client, login)
        assert first.status_code == 200, first.text
        assert (await _sign_in(client, login)).status_code == 200
        me = (await client.get("/auth/me", headers=bearer(first.json()["access_token"]))).json()
    signed_in = {"method": "provider", "provider": "local"}
    assert seen == [
        ("user_registered", me["id"], {"provider": "local"}),
        ("user_signed_in", me["id"], signed_in),
        ("user_signed_in", me["id"], signed_in),
    ]
