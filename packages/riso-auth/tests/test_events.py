"""Account events: handlers run after commit, sync or async; a failing one undoes nothing."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from riso_test_support.auth import (
    PASSWORD,
    AppFactory,
    account,
    bearer,
    capture_mail,
    fresh_address,
    serve,
)
from sqlalchemy import select

import riso_auth
import riso_db


def _email() -> str:
    return f"ev-{uuid.uuid4().hex[:10]}@example.com"


def _token_of(message: riso_auth.MailMessage) -> str:
    return message.link.split("token=", 1)[1]


async def _stored_email(app: FastAPI, user_id: int) -> str | None:
    """What another connection sees: only committed data."""
    async with riso_db.database(app).engine.connect() as conn:
        found = await conn.execute(select(riso_auth.User.email).where(riso_auth.User.id == user_id))
        return found.scalar_one_or_none()


async def test_every_event_runs_after_commit(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url)
    outbox = capture_mail(app)
    seen: list[tuple[str, int, str, dict[str, Any], str | None]] = []

    async def record(event: riso_auth.AccountEvent) -> None:
        seen.append(
            (
                event.name,
                event.user_id,
                event.email,
                event.data,
                await _stored_email(app, event.user_id),
            )
        )

    names = (
        "user_registered",
        "user_verified",
        "user_signed_in",
        "user_email_changed",
        "user_deleted",
    )
    for name in names:
        riso_auth.on(app, name, record)  # type: ignore[arg-type]
    async with serve(app, fresh_address()) as client:
        email, new = _email(), _email()
        r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        user_id = r.json()["id"]
        await client.post("/auth/request-verify", json={"email": email})
        await client.post("/auth/verify", json={"token": _token_of(outbox[-1])})
        token = (
            await client.post("/auth/token", data={"username": email, "password": PASSWORD})
        ).json()["access_token"]
        await client.patch(
            "/auth/me", json={"email": new, "current_password": PASSWORD}, headers=bearer(token)
        )
        await client.post("/auth/verify-email-change", json={"token": _token_of(outbox[-1])})
        await client.request(
            "DELETE", "/auth/me", json={"current_password": PASSWORD}, headers=bearer(token)
        )
    assert seen == [
        ("user_registered", user_id, email, {}, email),
        ("user_verified", user_id, email, {"by": "self"}, email),
        ("user_signed_in", user_id, email, {"method": "password"}, email),
        ("user_email_changed", user_id, new, {"old_email": email}, new),
        # the row is gone when the handler runs: the deletion was committed
        ("user_deleted", user_id, new, {"by": "self"}, None),
    ]


async def test_a_failing_handler_is_logged_and_undoes_nothing(
    app_factory: AppFactory, any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(any_db_url)
    calls: list[str] = []

    def broken(event: riso_auth.AccountEvent) -> None:  # sync: run in a thread
        calls.append("broken")
        raise ValueError("the app's own bug")

    @riso_auth.on(app, "user_registered")
    async def after(event: riso_auth.AccountEvent) -> None:
        calls.append("after")

    riso_auth.on(app, "user_registered", broken)
    riso_auth.on(app, "user_deleted", broken)
    async with serve(app, fresh_address()) as client:
        email = _email()
        with caplog.at_level(logging.ERROR, logger="riso.auth"):
            r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201
        assert await _stored_email(app, r.json()["id"]) == email
        assert calls == ["after", "broken"]
        (record,) = [rec for rec in caplog.records if "user_registered" in rec.getMessage()]
        assert "ValueError" in record.getMessage()
        assert email not in record.getMessage()
        # an admin deletion stands too
        _, admin = await account(app, client, _email(), superuser=True)
        deleted = await client.delete(f"/auth/users/{r.json()['id']}", headers=bearer(admin))
        assert deleted.status_code == 204
        assert await _stored_email(app, r.json()["id"]) is None
        assert calls[-1] == "broken"


@pytest.mark.parametrize("name", ["user_created", "", "USER_DELETED"])
def test_unknown_events_are_refused(app_factory: AppFactory, sqlite_url: str, name: str) -> None:
    app = app_factory(sqlite_url)
    with pytest.raises(riso_auth.AuthError, match="unknown riso-auth event"):
        riso_auth.on(app, name, print)  # type: ignore[arg-type]


def test_a_handler_must_be_callable(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    with pytest.raises(riso_auth.AuthError, match="callable"):
        riso_auth.on(app, "user_deleted", "not callable")  # type: ignore[arg-type]
