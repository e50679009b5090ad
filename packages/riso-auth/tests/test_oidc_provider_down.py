"""A provider that is down or does not answer: a clear 502/504 within the provider's
timeout, while every other endpoint keeps answering."""

from __future__ import annotations

import asyncio
import json

from riso_test_support.auth import AppFactory, serve
from riso_test_support.network import SilentListener, closed_port
from riso_test_support.oidc import CLIENT_ID, CLIENT_SECRET, StandIn, stand_in


def _providers(issuer: str, timeout: float = 5) -> str:
    return json.dumps(
        {
            "local": {
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "timeout": timeout,
            }
        }
    )


async def test_provider_down_is_502(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, oidc_providers=_providers(f"http://127.0.0.1:{closed_port()}"))
    async with serve(app) as client:
        r = await client.get("/auth/oidc/local/authorize")
        assert r.status_code == 502
        assert r.json()["detail"] == "local could not be reached (discovery)"
        assert CLIENT_SECRET not in r.text


async def test_provider_silent_is_504_while_others_answer(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    silent = SilentListener()
    try:
        app = app_factory(
            sqlite_url, oidc_providers=_providers(f"http://127.0.0.1:{silent.port}", timeout=8)
        )
        async with serve(app) as client:
            hanging = asyncio.create_task(client.get("/auth/oidc/local/authorize"))
            for _ in range(1000):  # until the app is waiting on the provider
                if silent.accepted:
                    break
                await asyncio.sleep(0.01)
            assert (await client.get("/plain")).status_code == 200
            assert (
                await client.post(
                    "/auth/register",
                    json={"email": "a@b.example", "password": "correct horse battery"},
                )
            ).status_code == 201
            assert not hanging.done()
            r = await hanging
            assert r.status_code == 504
            assert r.json()["detail"] == "local did not answer in time (discovery)"
    finally:
        silent.close()


async def test_slow_token_endpoint_is_504(app_factory: AppFactory, sqlite_url: str) -> None:
    with stand_in() as provider:
        provider.claims = provider.default_claims("s-1", "slow@example.com")
        provider.token_delay = 3
        app = app_factory(sqlite_url, oidc_providers=_providers(provider.base_url, timeout=1))
        async with serve(app) as client:
            r = await client.get("/auth/oidc/local/authorize")
            back = provider.authorize(r.headers["location"])
            r = await client.get(back.removeprefix("https://testserver"))
            assert r.status_code == 504
            assert r.json()["detail"] == "local did not answer in time (token)"


async def test_provider_comes_back(app_factory: AppFactory, sqlite_url: str) -> None:
    """A failed discovery is not cached: the next sign-in tries again."""
    provider: StandIn
    with stand_in() as provider:
        url = provider.base_url
        provider.close()
        app = app_factory(sqlite_url, oidc_providers=_providers(url))
        async with serve(app) as client:
            assert (await client.get("/auth/oidc/local/authorize")).status_code == 502
            port = int(url.rsplit(":", 1)[1])
            again = StandIn(port=port)
            try:
                r = await client.get("/auth/oidc/local/authorize")
                assert r.status_code == 302
            finally:
                again.close()
