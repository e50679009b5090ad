"""Brute-force limits: 429 + Retry-After, per account and address, spoofing, lockout abuse."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, AppFactory, serve
from sqlalchemy import func, select
from starlette.requests import HTTPConnection

import riso_auth
from riso_auth._ratelimit import client_address
from riso_auth._settings import AuthSettings, Rate

#: the HTTP tests use day-long windows, so that none straddles a window boundary
DAY = 86400


async def _attempt(
    client: httpx.AsyncClient, email: str, password: str, **headers: str
) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"username": email, "password": password}, headers=headers
    )


def _assert_429(r: httpx.Response, max_wait: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == {"detail": "Too many attempts; try again later"}
    assert 1 <= int(r.headers["retry-after"]) <= max_wait


async def test_account_address_limit_then_other_address_still_logs_in(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url, rate_login_account_address="3/1d")
    async with serve(app, client="10.0.0.1") as attacker, serve(app, client="10.0.0.2") as victim:
        await attacker.post("/auth/register", json={"email": "v@example.com", "password": PASSWORD})
        for _ in range(3):
            assert (await _attempt(attacker, "v@example.com", "guess guess")).status_code == 401
        _assert_429(await _attempt(attacker, "v@example.com", "guess guess"), DAY)
        # even the right password is refused from the attacker's address now
        _assert_429(await _attempt(attacker, "v@example.com", PASSWORD), DAY)
        assert (await _attempt(victim, "v@example.com", PASSWORD)).status_code == 200


async def test_unknown_accounts_count_too(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, rate_login_account_address="2/1d")
    async with serve(app) as client:
        for _ in range(2):
            assert (await _attempt(client, "ghost@example.com", "guess guess")).status_code == 401
        _assert_429(await _attempt(client, "ghost@example.com", "guess guess"), DAY)
        # the same answer as for a real account: nothing to learn from the 429 either
        _assert_429(await _attempt(client, "GHOST@example.com", "guess guess"), DAY)


async def test_account_wide_limit_cannot_lock_the_victim_out(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url, rate_login_account_address="10/1d", rate_login_account="4/1d")
    async with (
        serve(app, client="10.0.0.1") as a,
        serve(app, client="10.0.0.2") as b,
        serve(app, client="10.0.0.3") as new_attacker,
        serve(app, client="192.168.1.9") as victim,
    ):
        await a.post("/auth/register", json={"email": "v@example.com", "password": PASSWORD})
        for client in (a, b, a, b):
            assert (await _attempt(client, "v@example.com", "guess guess")).status_code == 401
        # past the account-wide limit the addresses that failed are refused...
        _assert_429(await _attempt(a, "v@example.com", "guess guess"), DAY)
        _assert_429(await _attempt(b, "v@example.com", PASSWORD), DAY)
        # ...a fresh address gets one try, then is refused as well...
        assert (await _attempt(new_attacker, "v@example.com", "guess guess")).status_code == 401
        _assert_429(await _attempt(new_attacker, "v@example.com", "guess guess"), DAY)
        # ...while the victim, from an address that never failed, logs in
        assert (await _attempt(victim, "v@example.com", PASSWORD)).status_code == 200


async def test_per_address_limit_across_accounts(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, rate_login_address="4/1d")
    async with serve(app) as client:
        for i in range(4):
            assert (await _attempt(client, f"u{i}@example.com", "guess guess")).status_code == 401
        _assert_429(await _attempt(client, "u9@example.com", "guess guess"), DAY)


async def test_spoofed_forwarded_for_is_ignored(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, rate_login_address="3/1d")
    async with serve(app) as client:
        for i in range(3):
            r = await _attempt(
                client, "x@example.com", "guess guess", **{"X-Forwarded-For": f"203.0.113.{i}"}
            )
            assert r.status_code == 401
        _assert_429(
            await _attempt(client, "x@example.com", "guess", **{"X-Forwarded-For": "203.0.113.77"}),
            DAY,
        )


async def test_forwarded_for_from_a_trusted_proxy(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, rate_login_address="2/1d", trusted_proxies="10.0.0.0/8")
    async with serve(app, client="10.1.2.3") as proxy:
        for _ in range(2):
            r = await _attempt(
                proxy, "x@example.com", "guess guess", **{"X-Forwarded-For": "evil, 198.51.100.1"}
            )
            assert r.status_code == 401
        _assert_429(
            await _attempt(
                proxy, "x@example.com", "guess", **{"X-Forwarded-For": "other, 198.51.100.1"}
            ),
            DAY,
        )
        # another real client behind the same proxy has its own counter
        r = await _attempt(
            proxy, "x@example.com", "guess guess", **{"X-Forwarded-For": "198.51.100.2"}
        )
        assert r.status_code == 401


async def test_counters_are_shared_by_instances(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    one = app_factory(any_db_url, rate_login_account_address="3/1d")
    two = app_factory(any_db_url, rate_login_account_address="3/1d")
    async with serve(one, client="10.9.9.9") as a, serve(two, client="10.9.9.9") as b:
        for client in (a, b, a):
            assert (await _attempt(client, email, "guess guess")).status_code == 401
        _assert_429(await _attempt(b, email, "guess guess"), DAY)


@pytest.mark.parametrize(
    ("path", "setting", "body"),
    [
        (
            "/auth/register",
            "rate_register_address",
            lambda i: {"email": f"r{i}@example.com", "password": "long enough pw"},
        ),
        ("/auth/forgot-password", "rate_forgot_address", lambda i: {"email": f"f{i}@example.com"}),
        ("/auth/forgot-password", "rate_forgot_account", lambda i: {"email": "same@example.com"}),
        ("/auth/request-verify", "rate_forgot_account", lambda i: {"email": "same@example.com"}),
        ("/auth/refresh", "rate_refresh_address", lambda i: {"refresh_token": "nonsense"}),
    ],
)
async def test_other_endpoints_are_limited(
    app_factory: AppFactory, sqlite_url: str, path: str, setting: str, body: object
) -> None:
    app = app_factory(sqlite_url, **{setting: "2/1d"})
    async with serve(app) as client:
        for i in range(2):
            r = await client.post(path, json=body(i))  # type: ignore[operator]
            assert r.status_code in (201, 202, 401), r.text
        _assert_429(await client.post(path, json=body(5)), DAY)  # type: ignore[operator]


async def test_limits_can_be_switched_off(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, rate_limit_enabled="false", rate_login_account_address="1/1d")
    async with serve(app) as client:
        for _ in range(3):
            assert (await _attempt(client, "x@example.com", "guess guess")).status_code == 401


def _conn(peer: str, xff: list[str]) -> HTTPConnection:
    headers = [(b"x-forwarded-for", v.encode()) for v in xff]
    return HTTPConnection({"type": "http", "client": (peer, 1), "headers": headers})


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "expected"),
    [
        ("", "1.1.1.1", ["9.9.9.9"], "1.1.1.1"),
        ("10.0.0.0/8", "1.1.1.1", ["9.9.9.9"], "1.1.1.1"),
        ("10.0.0.0/8", "10.0.0.5", ["9.9.9.9"], "9.9.9.9"),
        ("10.0.0.0/8", "10.0.0.5", ["6.6.6.6, 9.9.9.9"], "9.9.9.9"),
        ("10.0.0.0/8", "10.0.0.5", ["9.9.9.9, 10.0.0.7"], "9.9.9.9"),
        ("10.0.0.0/8", "10.0.0.5", ["6.6.6.6", "9.9.9.9"], "9.9.9.9"),
        ("10.0.0.0/8", "10.0.0.5", ["garbage"], "10.0.0.5"),
        ("10.0.0.0/8", "10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.0/8", "10.0.0.5", ["10.0.0.6"], "10.0.0.6"),
        ("::1", "::1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_address(trusted: str, peer: str, xff: list[str], expected: str) -> None:
    assert client_address(_conn(peer, xff), AuthSettings(trusted_proxies=trusted)) == expected


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("5/15m", Rate(5, 900)),
        ("20/minute", Rate(20, 60)),
        ("100/3600", Rate(100, 3600)),
        ("3/1h", Rate(3, 3600)),
        ("1/d", Rate(1, 86400)),
    ],
)
def test_rate_parsing(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "5", "five/minute", "5/15 fortnights", "0/1m", "5/0"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate.parse(text)


async def test_stored_data_intact_after_limited_attempts(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app: FastAPI = app_factory(sqlite_url, rate_login_account_address="1/1d")
    async with serve(app, client="10.0.0.1") as a, serve(app, client="10.0.0.2") as b:
        await a.post("/auth/register", json={"email": "v@example.com", "password": PASSWORD})
        await _attempt(a, "v@example.com", "guess guess")
        _assert_429(await _attempt(a, "v@example.com", PASSWORD), DAY)
        assert (await _attempt(b, "v@example.com", PASSWORD)).status_code == 200


@pytest.fixture
def redis_counters(redis_url: str) -> str:
    """A Redis database of riso-auth's own (number 11), emptied first."""
    import redis

    url = f"{redis_url}/11"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


async def test_redis_counters_limit_and_are_shared(
    app_factory: AppFactory, sqlite_url: str, redis_counters: str
) -> None:
    import redis

    one = app_factory(sqlite_url, rate_login_account_address="3/1d", redis_url=redis_counters)
    two = app_factory(sqlite_url, rate_login_account_address="3/1d", redis_url=redis_counters)
    async with serve(one, client="10.0.0.1") as a, serve(two, client="10.0.0.1") as b:
        await a.post("/auth/register", json={"email": "v@example.com", "password": PASSWORD})
        for client in (a, b, a):
            assert (await _attempt(client, "v@example.com", "guess guess")).status_code == 401
        _assert_429(await _attempt(b, "v@example.com", PASSWORD), DAY)
    async with serve(one, client="10.0.0.2") as other:
        assert (await _attempt(other, "v@example.com", PASSWORD)).status_code == 200
    keys = redis.Redis.from_url(redis_counters).keys("riso:auth:rl:*")
    assert keys  # the counters are in Redis...
    assert await _db_counter_rows(one) == 0  # ...not in the database


async def _db_counter_rows(app: FastAPI) -> int:
    async with riso_auth.runtime(app).database.sessionmaker() as session:
        query = select(func.count()).select_from(riso_auth.RateCounter)
        return int((await session.execute(query)).scalar_one())
