"""Past the per-account limit, fresh addresses share a bounded number of tries (issue 19, Also).

Each address that never failed for the account keeps one try, so an attacker
cannot lock the owner out; without a cap, 60 addresses made 100 guesses in a
window whose account limit is 50.
"""

from __future__ import annotations

import httpx
from riso_test_support.auth import PASSWORD, AppFactory, serve

from riso_auth._settings import AuthSettings, Rate

EMAIL = "victim@example.com"


async def _guesses(client: httpx.AsyncClient, addresses: int) -> int:
    """Wrong passwords that reached the password check (401) from ``addresses`` addresses."""
    await client.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
    checked = 0
    for n in range(addresses):
        address = f"198.51.100.{n + 1}"
        while True:
            r = await client.post(
                "/auth/token",
                data={"username": EMAIL, "password": f"guess number {checked}"},
                headers={"X-Forwarded-For": address},
            )
            if r.status_code != 401:
                assert r.status_code == 429, r.text
                break
            checked += 1
    return checked


async def test_sixty_addresses_get_account_limit_plus_the_cap(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(
        sqlite_url,
        trusted_proxies="10.0.0.1",
        rate_login_address="1000/1d",
        rate_login_account_address="5/1d",
        rate_login_account="50/1d",
        rate_login_account_fresh_address="10/1d",
    )
    async with serve(app, client="10.0.0.1") as client:
        # 10 addresses x 5 reach the account limit, then 10 fresh tries in all (not 50)
        assert await _guesses(client, 60) == 50 + 10


async def test_the_owner_keeps_a_try_below_the_cap(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(
        sqlite_url,
        trusted_proxies="10.0.0.1",
        rate_login_account_address="5/1d",
        rate_login_account="10/1d",
        rate_login_account_fresh_address="3/1d",
    )
    async with serve(app, client="10.0.0.1") as client:
        assert await _guesses(client, 2) == 10
        r = await client.post(
            "/auth/token",
            data={"username": EMAIL, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert r.status_code == 200, r.text


def test_the_default_cap_bounds_guesses_per_window() -> None:
    settings = AuthSettings()
    cap = settings.rate("login_account_fresh_address")
    account = settings.rate("login_account")
    assert cap == Rate(20, 15 * 60)
    assert cap.period == account.period
