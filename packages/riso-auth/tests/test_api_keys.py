"""API keys (personal access tokens) over HTTP, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from riso_test_support.auth import (
    PASSWORD,
    AppFactory,
    account,
    bearer,
    fresh_address,
    login,
    new_api_key,
    serve,
)
from sqlalchemy import select, update

import riso_auth
import riso_db


def _email() -> str:
    return f"key-{uuid.uuid4().hex[:10]}@example.com"


async def test_a_key_works_where_current_user_does_with_its_scopes(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        user_id, token = await account(app, client, _email(), scopes="items:read items:write")
        made = await new_api_key(client, token, ["items:read"], expires_in_days=30)
        key = made["key"]
        assert key.startswith("riso_pat_")
        assert key.startswith(made["prefix"] + "_")
        assert made["scopes"] == ["items:read"]
        assert made["expires_at"] is not None
        me = await client.get("/auth/me", headers=bearer(key))
        assert me.status_code == 200
        assert me.json()["id"] == user_id
        assert me.json()["scopes"] == ["items:read"]
        assert (await client.get("/items", headers=bearer(key))).status_code == 200
        # the key's scopes, not its owner's
        assert (await client.post("/items", headers=bearer(key))).status_code == 403
        # a key never acts as superuser
        assert (await client.get("/admin", headers=bearer(key))).status_code == 403
        listed = await client.get("/auth/api-keys", headers=bearer(token))
        assert listed.status_code == 200
        (row,) = listed.json()
        assert row["id"] == made["id"]
        assert row["name"] == "ci"
        assert row["last_used_at"] is not None  # recorded on first use
        assert "key" not in row
        assert key not in listed.text
        assert key.rsplit("_", 1)[1] not in listed.text


@pytest.mark.parametrize(
    ("held", "asked", "status"),
    [
        ("items:read", ["items:read"], 201),
        ("items:read", ["items:read", "items:write"], 403),
        ("", ["auth:admin"], 403),
        ("items:read", [], 201),
        ("items:read", ["bad scope"], 422),
        ("items:read", ["x" * 129], 422),
    ],
)
async def test_scopes_outside_the_owners_are_refused_at_creation(
    app_factory: AppFactory, any_db_url: str, held: str, asked: list[str], status: int
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email(), scopes=held)
        r = await client.post(
            "/auth/api-keys", json={"name": "n", "scopes": asked}, headers=bearer(token)
        )
        assert r.status_code == status, r.text
        listed = (await client.get("/auth/api-keys", headers=bearer(token))).json()
        assert len(listed) == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "n", "expires_in_days": 0},
        {"name": "n", "expires_in_days": 100000},
        {"name": "n", "unknown": 1},
        {"scopes": []},
    ],
)
async def test_bad_key_requests_are_422(
    app_factory: AppFactory, sqlite_url: str, body: dict[str, object]
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        r = await client.post("/auth/api-keys", json=body, headers=bearer(token))
        assert r.status_code == 422


async def test_revoked_key_is_refused_at_once_here_and_on_another_instance(
    app_factory: AppFactory, any_db_url: str
) -> None:
    # the default cache time (1 s) on the serving instance; none on the other, which
    # stands for "once the other instance's cache time has passed"
    app = app_factory(any_db_url)
    other = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client, serve(other, fresh_address()) as second:
        _, token = await account(app, client, _email())
        made = await new_api_key(client, token)
        key = made["key"]
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200
        assert (await second.get("/auth/me", headers=bearer(key))).status_code == 200
        r = await client.delete(f"/auth/api-keys/{made['id']}", headers=bearer(token))
        assert r.status_code == 204
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 401
        assert (await second.get("/auth/me", headers=bearer(key))).status_code == 401
        assert (await client.get("/auth/api-keys", headers=bearer(token))).json() == []
        again = await client.delete(f"/auth/api-keys/{made['id']}", headers=bearer(token))
        assert again.status_code == 404


async def test_expired_key_is_refused(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        made = await new_api_key(client, token, expires_in_days=1)
        assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200
        async with riso_db.database(app).sessionmaker() as session:
            await session.execute(
                update(riso_auth.ApiKey)
                .where(riso_auth.ApiKey.id == made["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.commit()
        r = await client.get("/auth/me", headers=bearer(made["key"]))
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


async def test_only_the_owner_revokes_a_key(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, owner = await account(app, client, _email())
        _, stranger = await account(app, client, _email())
        made = await new_api_key(client, owner)
        r = await client.delete(f"/auth/api-keys/{made['id']}", headers=bearer(stranger))
        assert r.status_code == 404
        assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200


@pytest.mark.parametrize(
    "presented",
    [
        "riso_pat_",
        "riso_pat_0123456789abcdef_short",
        "riso_pat_0123456789abcdef_" + "A" * 43,  # well formed, unknown
        "riso_pat_ZZZZ456789abcdef_" + "A" * 43,
        "riso_pat_" + "%" * 60,
        "riso_pat_0123456789abcdef_" + "A" * 10000,
    ],
)
async def test_malformed_or_unknown_keys_are_401(
    app_factory: AppFactory, sqlite_url: str, presented: str
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        r = await client.get("/auth/me", headers={"Authorization": f"Bearer {presented}"})
        assert r.status_code == 401


async def test_a_wrong_secret_for_a_real_key_id_is_401(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        made = await new_api_key(client, token)
        forged = made["prefix"] + "_" + "B" * 43
        assert (await client.get("/auth/me", headers=bearer(forged))).status_code == 401


async def test_a_key_cannot_mint_keys_log_out_or_change_the_account(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        key = (await new_api_key(client, token))["key"]
        r = await client.post("/auth/api-keys", json={"name": "x"}, headers=bearer(key))
        assert r.status_code == 403
        assert (await client.post("/auth/logout", headers=bearer(key))).status_code == 400
        r = await client.patch(
            "/auth/me", json={"email": _email(), "current_password": "x"}, headers=bearer(key)
        )
        assert r.status_code == 403
        assert (await client.delete("/auth/me", headers=bearer(key))).status_code == 403
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200


async def test_keys_are_rate_limited_per_key(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url, rate_api_key="3/1h")
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        first = (await new_api_key(client, token))["key"]
        second = (await new_api_key(client, token))["key"]
        codes = [
            (await client.get("/auth/me", headers=bearer(first))).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        assert (await client.get("/auth/me", headers=bearer(second))).status_code == 200
        # the owner's own token is not limited by its keys
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200


async def test_last_used_is_not_written_on_every_request(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        made = await new_api_key(client, token)
        assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200
        stmt = select(riso_auth.ApiKey.last_used_at).where(riso_auth.ApiKey.id == made["id"])
        async with riso_db.database(app).sessionmaker() as session:
            first = await session.scalar(stmt)
        assert first is not None
        for _ in range(3):
            assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200
        async with riso_db.database(app).sessionmaker() as session:
            assert await session.scalar(stmt) == first


async def test_the_secret_is_in_no_log_line_and_no_later_response(
    app_factory: AppFactory, any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = app_factory(any_db_url, revocation_cache_seconds="0", rate_api_key="2/1h")

    def broken(event: riso_auth.AccountEvent) -> None:
        raise RuntimeError("handler failure")

    riso_auth.on(app, "user_signed_in", broken)
    async with serve(app, fresh_address()) as client:
        email = _email()
        await account(app, client, email)
        token = (await login(client, email))["access_token"]  # the failing handler runs
        made = await new_api_key(client, token)
        key, secret = made["key"], made["key"].rsplit("_", 1)[1]
        answers = [
            await client.get("/auth/me", headers=bearer(key)),
            await client.get("/auth/api-keys", headers=bearer(token)),
            await client.get("/auth/me", headers=bearer(key)),
            await client.get("/auth/me", headers=bearer(key)),  # 429
            await client.delete(f"/auth/api-keys/{made['id']}", headers=bearer(token)),
            await client.get("/auth/me", headers=bearer(key)),  # 401
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 204, 401]
        for answer in answers:
            assert secret not in answer.text
            assert secret not in str(answer.headers)
        async with riso_db.database(app).sessionmaker() as session:
            stored = (await session.execute(select(riso_auth.ApiKey))).scalars().all()
    assert stored
    assert all(secret not in (row.key_hash + row.prefix) for row in stored)
    assert caplog.records  # the logs were captured at all
    assert "handler failure" in caplog.text or "RuntimeError" in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize("how", ["revoke", "delete_account"])
async def test_another_instance_trusts_a_key_no_longer_than_its_cache_time(
    app_factory: AppFactory, postgres_url: str, how: str
) -> None:
    # two apps on one PostgreSQL database, each with the default cache time
    app = app_factory(postgres_url)
    other = app_factory(postgres_url)
    async with serve(app, fresh_address()) as client, serve(other, fresh_address()) as second:
        _, token = await account(app, client, _email())
        made = await new_api_key(client, token)
        key = made["key"]
        assert (await second.get("/auth/me", headers=bearer(key))).status_code == 200
        cache = riso_auth.runtime(other).principal_cache
        _, deadline = cache.entries[key]
        assert deadline - time.monotonic() <= 1.0  # RISO_AUTH_REVOCATION_CACHE_SECONDS
        if how == "revoke":
            r = await client.delete(f"/auth/api-keys/{made['id']}", headers=bearer(token))
        else:
            r = await client.request(
                "DELETE", "/auth/me", json={"current_password": PASSWORD}, headers=bearer(token)
            )
        assert r.status_code == 204
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 401
        # the other instance may still answer from its cache until the deadline ...
        principal, _ = cache.entries[key]
        # ... and once it passes (moved, not waited for) it asks the database again
        cache.entries[key] = (principal, time.monotonic() - 0.001)
        assert (await second.get("/auth/me", headers=bearer(key))).status_code == 401
