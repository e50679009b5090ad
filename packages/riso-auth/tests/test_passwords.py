"""Passwords: bcrypt truncation, size limits, unicode, rehash on login, policy, enumeration."""

from __future__ import annotations

import unicodedata
from typing import Any

import bcrypt
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from riso_test_support.auth import AppFactory, bearer, login, register_and_login, serve
from sqlalchemy import select

import riso_auth
from riso_auth._passwords import PasswordService
from riso_auth._settings import AuthSettings

LONG = "Z" * 60 + "ab" * 20  # 100 ASCII bytes


@pytest.fixture
def app(app_factory: AppFactory, sqlite_url: str) -> FastAPI:
    return app_factory(sqlite_url)


async def _insert_user(app: FastAPI, email: str, hashed: str) -> None:
    async with riso_auth.runtime(app).database.sessionmaker() as session:
        session.add(riso_auth.User(email=email, hashed_password=hashed, scopes=""))
        await session.commit()


async def _stored_hash(app: FastAPI, email: str) -> str:
    async with riso_auth.runtime(app).database.sessionmaker() as session:
        return (
            await session.execute(
                select(riso_auth.User.hashed_password).where(riso_auth.User.email == email)
            )
        ).scalar_one()


@pytest.mark.parametrize("stored", ["argon2", "bcrypt"])
async def test_100_byte_password_never_matches_its_72_byte_prefix(
    app: FastAPI, stored: str
) -> None:
    assert len(LONG.encode()) == 100
    if stored == "argon2":
        hashed = riso_auth.runtime(app).passwords.context.hash(LONG)
    else:  # an imported bcrypt hash, made by a library that truncated silently
        hashed = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    await _insert_user(app, "long@example.com", hashed)
    async with serve(app) as client:
        for attempt in (LONG[:72] + "something else", LONG[:72] + "Z" * 28, LONG[:72] + "ba" * 14):
            assert len(attempt.encode()) > 72
            assert attempt != LONG
            r = await client.post(
                "/auth/token", data={"username": "long@example.com", "password": attempt}
            )
            assert r.status_code == 401
        full = await client.post(
            "/auth/token", data={"username": "long@example.com", "password": LONG}
        )
        # argon2 sees every byte; for bcrypt riso-auth refuses passwords bcrypt would truncate
        assert full.status_code == (200 if stored == "argon2" else 401)


MEGABYTE = "p" * (1024 * 1024)


@pytest.mark.parametrize(
    ("method", "path", "kind", "body"),
    [
        ("post", "/auth/register", "json", {"email": "big@example.com", "password": MEGABYTE}),
        ("post", "/auth/token", "form", {"username": "big@example.com", "password": MEGABYTE}),
        ("post", "/auth/reset-password", "json", {"token": "x", "password": MEGABYTE}),
    ],
)
async def test_one_megabyte_password_is_a_422(
    app: FastAPI, method: str, path: str, kind: str, body: dict[str, Any]
) -> None:
    calls: list[str] = []
    service = riso_auth.runtime(app).passwords
    original = service._run

    async def counting(func: Any, *args: Any) -> Any:
        calls.append(func.__name__)
        return await original(func, *args)

    service._run = counting  # type: ignore[method-assign]
    async with serve(app) as client:
        calls.clear()
        kwargs = {"json": body} if kind == "json" else {"data": body}
        r = await client.request(method, path, **kwargs)
        assert r.status_code == 422
        assert "detail" in r.json()
        assert calls == []  # the hasher never saw it


async def test_one_megabyte_new_password_on_change_is_a_422(app: FastAPI) -> None:
    async with serve(app) as client:
        pair = await register_and_login(client, "change@example.com")
        r = await client.post(
            "/auth/password",
            json={"current_password": "correct horse battery staple", "new_password": MEGABYTE},
            headers=bearer(pair["access_token"]),
        )
        assert r.status_code == 422


@pytest.mark.parametrize(
    "password",
    [
        "pässwörd ünïcødé",
        "пароль-очень-длинный",
        "密码密码密码密码密码",
        "🔑🔒🗝️ emoji keys",
        "e\u0301te\u0301 cafe\u0301 x",
    ],
)
async def test_unicode_passwords_round_trip(app: FastAPI, password: str) -> None:
    async with serve(app) as client:
        await register_and_login(client, "uni@example.com", password)
        # the same text in another Unicode normal form is the same password
        await login(client, "uni@example.com", unicodedata.normalize("NFD", password))
        await login(client, "uni@example.com", unicodedata.normalize("NFC", password))
        r = await client.post(
            "/auth/token", data={"username": "uni@example.com", "password": password + "x"}
        )
        assert r.status_code == 401


async def test_bcrypt_hash_upgrades_to_argon2id_on_successful_login_only(app: FastAPI) -> None:
    password = "imported from the old system"
    legacy = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    await _insert_user(app, "legacy@example.com", legacy)
    async with serve(app) as client:
        r = await client.post(
            "/auth/token", data={"username": "legacy@example.com", "password": "wrong one"}
        )
        assert r.status_code == 401
        assert await _stored_hash(app, "legacy@example.com") == legacy
        await login(client, "legacy@example.com", password)
        upgraded = await _stored_hash(app, "legacy@example.com")
        assert upgraded.startswith("$argon2id$")
        await login(client, "legacy@example.com", password)
        assert await _stored_hash(app, "legacy@example.com") == upgraded  # no rehash when current


async def test_weaker_argon2_parameters_upgrade_on_login(app: FastAPI) -> None:
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),)).hash(
        "old params here"
    )
    await _insert_user(app, "weak@example.com", weak)
    async with serve(app) as client:
        await login(client, "weak@example.com", "old params here")
    stored = await _stored_hash(app, "weak@example.com")
    assert stored != weak
    assert "m=19456,t=2,p=1" in stored


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8"),
        ("password", "too common"),
        ("Password1", "too common"),
        ("qwertyuiop", "too common"),
        ("policy@example.com", "email"),
        ("policy", "at least 8"),
    ],
)
async def test_policy_refusals_are_422(app: FastAPI, password: str, message: str) -> None:
    async with serve(app) as client:
        r = await client.post(
            "/auth/register", json={"email": "policy@example.com", "password": password}
        )
        assert r.status_code == 422
        assert message in str(r.json()["detail"])
        assert (
            await client.post(
                "/auth/token", data={"username": "policy@example.com", "password": password}
            )
        ).status_code == 401


class CountingArgon2(Argon2Hasher):
    verifies = 0

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        type(self).verifies += 1
        return super().verify(password, hash)


class CountingBcrypt(BcryptHasher):
    verifies = 0

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        type(self).verifies += 1
        return super().verify(password, hash)


def _count(app: FastAPI) -> None:
    service = riso_auth.runtime(app).passwords
    service.context = PasswordHash(
        (CountingArgon2(time_cost=2, memory_cost=19456, parallelism=1), CountingBcrypt())
    )
    CountingArgon2.verifies = CountingBcrypt.verifies = 0


def _verifies() -> int:
    return CountingArgon2.verifies + CountingBcrypt.verifies


@pytest.mark.parametrize(
    "case",
    ["unknown user", "wrong password", "inactive user right password", "bcrypt user too long"],
)
async def test_enumeration_same_answer_and_one_hash(app: FastAPI, case: str) -> None:
    _count(app)
    async with serve(app) as client:
        await register_and_login(client, "known@example.com")
        inactive_password = "an inactive account password"
        await register_and_login(client, "inactive@example.com", inactive_password)
        legacy = bcrypt.hashpw(b"short enough pw", bcrypt.gensalt(rounds=4)).decode()
        await _insert_user(app, "legacy@example.com", legacy)
        user_id = (
            await client.get(
                "/auth/me",
                headers=bearer(
                    (await login(client, "inactive@example.com", inactive_password))["access_token"]
                ),
            )
        ).json()["id"]
        await riso_auth.runtime(app).set_active(user_id, False)
        form = {
            "unknown user": {"username": "nobody@example.com", "password": "whatever it is"},
            "wrong password": {"username": "known@example.com", "password": "whatever it is"},
            "inactive user right password": {
                "username": "inactive@example.com",
                "password": inactive_password,
            },
            "bcrypt user too long": {"username": "legacy@example.com", "password": "x" * 80},
        }[case]
        before = _verifies()
        r = await client.post("/auth/token", data=form)
        assert _verifies() - before == 1
        assert r.status_code == 401
        assert r.json() == {"detail": "Incorrect email or password"}
        assert r.headers["www-authenticate"] == "Bearer"


async def test_dummy_hash_is_ready_after_startup(app: FastAPI) -> None:
    async with serve(app):
        assert riso_auth.runtime(app).passwords._dummy_hash is not None


def test_concurrency_defaults_to_usable_cpus() -> None:
    import os

    assert PasswordService(AuthSettings()).concurrency == len(os.sched_getaffinity(0))
    assert PasswordService(AuthSettings(hash_concurrency=3)).concurrency == 3


async def test_pool_never_runs_more_hashes_than_its_bound() -> None:
    import asyncio
    import threading

    service = PasswordService(AuthSettings(hash_concurrency=2))
    running = peak = 0
    lock = threading.Lock()
    original = service.context.hash

    def tracked(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return original(password)
        finally:
            with lock:
                running -= 1

    service.context.hash = tracked  # type: ignore[method-assign]
    try:
        await asyncio.gather(*(service.hash(f"password number {i}") for i in range(12)))
    finally:
        service.close()
    assert peak == 2
    assert threading.current_thread().name == "MainThread"
