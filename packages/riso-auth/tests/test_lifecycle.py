"""Sessions end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from riso_test_support.auth import PASSWORD, AppFactory, bearer, login, register_and_login, serve


async def test_register_login_me_refresh_logout(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == 900
        me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 200
        assert me.json()["email"] == email
        # rotation: the new pair works, the old refresh token is spent
        r = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200, r.text
        new = r.json()
        assert new["refresh_token"] != pair["refresh_token"]
        assert (
            await client.get("/auth/me", headers=bearer(new["access_token"]))
        ).status_code == 200
        # logout revokes the chain and the access token
        out = await client.post("/auth/logout", headers=bearer(new["access_token"]))
        assert out.status_code == 204
        after = await client.get("/auth/me", headers=bearer(new["access_token"]))
        assert after.status_code == 401
        assert after.headers["www-authenticate"] == "Bearer"
        again = await client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})
        assert again.status_code == 401


async def test_reuse_revokes_the_whole_chain(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    app = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app) as client:
        first = await register_and_login(client, email)
        second = (
            await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        ).json()
        # the thief replays the first (spent) token
        replay = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        # ... and the legitimate, newer tokens of that chain die with it
        r = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert r.status_code == 401
        me = await client.get("/auth/me", headers=bearer(second["access_token"]))
        assert me.status_code == 401
        # another login (another chain) is unaffected
        other = await login(client, email)
        assert (
            await client.get("/auth/me", headers=bearer(other["access_token"]))
        ).status_code == 200


async def test_concurrent_refresh_only_one_wins(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        results = await asyncio.gather(
            *(
                client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
                for _ in range(5)
            )
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 401, 401, 401, 401]
        assert all(r.status_code != 500 for r in results)


async def test_logout_effective_on_second_instance(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    one = app_factory(any_db_url, revocation_cache_seconds="0")
    two = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(one) as a, serve(two) as b:
        pair = await register_and_login(a, email)
        assert (await b.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200
        assert (
            await a.post("/auth/logout", headers=bearer(pair["access_token"]))
        ).status_code == 204
        assert (await b.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        r = await b.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 401


async def test_password_change_revokes_every_session(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    app = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app) as client:
        s1 = await register_and_login(client, email)
        s2 = await login(client, email)
        wrong = await client.post(
            "/auth/password",
            json={"current_password": "not it at all", "new_password": "a brand new passphrase"},
            headers=bearer(s1["access_token"]),
        )
        assert wrong.status_code == 400
        assert (await client.get("/auth/me", headers=bearer(s1["access_token"]))).status_code == 200
        r = await client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers=bearer(s1["access_token"]),
        )
        assert r.status_code == 204, r.text
        for s in (s1, s2):
            assert (
                await client.get("/auth/me", headers=bearer(s["access_token"]))
            ).status_code == 401
            assert (
                await client.post("/auth/refresh", json={"refresh_token": s["refresh_token"]})
            ).status_code == 401
        fail = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert fail.status_code == 401
        await login(client, email, "a brand new passphrase")


async def test_chain_absolute_lifetime(
    app_factory: AppFactory, any_db_url: str, email: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    import riso_auth

    app = app_factory(any_db_url)
    async with serve(app) as client:
        pair = await register_and_login(client, email)
        sid = riso_auth.runtime(app).tokens.decode(pair["refresh_token"], "refresh")["sid"]
        async with riso_auth.runtime(app).database.sessionmaker() as session:
            await session.execute(
                update(riso_auth.AuthSession)
                .where(riso_auth.AuthSession.id == sid)
                .values(absolute_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.commit()
        r = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 401


async def test_instances_trust_a_checked_token_for_at_most_one_second(
    app_factory: AppFactory, sqlite_url: str, email: str
) -> None:
    import time

    import riso_auth

    one, two = app_factory(sqlite_url), app_factory(sqlite_url)
    async with serve(one) as a, serve(two) as b:
        pair = await register_and_login(a, email)
        assert (await b.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200
        after = time.monotonic()
        cache = riso_auth.runtime(two)._cache
        assert len(cache) == 1
        # trusted until at most one second after it was checked
        assert all(deadline <= after + 1.0 for _, deadline in cache.values())
        assert (
            await a.post("/auth/logout", headers=bearer(pair["access_token"]))
        ).status_code == 204
        # the instance that served the logout forgets at once
        assert (await a.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        # once the other instance's entry lapses (simulated: no sleeping), it refuses too
        for token, (principal, _) in list(cache.items()):
            cache[token] = (principal, 0.0)
        assert (await b.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
