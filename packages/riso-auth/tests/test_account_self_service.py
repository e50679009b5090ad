"""Self-service: ``PATCH``/``DELETE /auth/me`` and the email-change confirmation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from riso_test_support.auth import (
    PASSWORD,
    AppFactory,
    account,
    bearer,
    capture_mail,
    fresh_address,
    login,
    new_api_key,
    serve,
)
from sqlalchemy import update

import riso_auth
import riso_db
from riso_auth._passwords import UNUSABLE_PASSWORD


def _email() -> str:
    return f"me-{uuid.uuid4().hex[:10]}@example.com"


def _token_of(message: riso_auth.MailMessage) -> str:
    return message.link.split("token=", 1)[1]


async def test_email_change_waits_for_the_new_address(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        old, new = _email(), _email()
        user_id, token = await account(app, client, old)
        r = await client.patch(
            "/auth/me",
            json={"email": new.upper(), "current_password": PASSWORD},
            headers=bearer(token),
        )
        assert r.status_code == 202, r.text
        (confirm,) = outbox
        assert confirm.to == new
        assert confirm.kind == "email_change"
        # unconfirmed: the old address still signs in, the new one does not
        assert (await client.get("/auth/me", headers=bearer(token))).json()["email"] == old
        await login(client, old)
        refused = await client.post("/auth/token", data={"username": new, "password": PASSWORD})
        assert refused.status_code == 401
        done = await client.post("/auth/verify-email-change", json={"token": _token_of(confirm)})
        assert done.status_code == 200, done.text
        assert done.json()["email"] == new
        assert done.json()["id"] == user_id
        assert done.json()["is_verified"] is True
        # the old address got a notice; the change shows at once on this instance
        notice = outbox[-1]
        assert notice.to == old
        assert notice.kind == "email_changed"
        assert new in notice.body
        assert (await client.get("/auth/me", headers=bearer(token))).json()["email"] == new
        await login(client, new)
        refused = await client.post("/auth/token", data={"username": old, "password": PASSWORD})
        assert refused.status_code == 401
        # the token works once
        again = await client.post("/auth/verify-email-change", json={"token": _token_of(confirm)})
        assert again.status_code == 400


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "new-{n}@example.com"}, 400),  # no password
        ({"email": "new-{n}@example.com", "current_password": "wrong password!"}, 400),
        ({"email": "not an email", "current_password": PASSWORD}, 422),
        ({"email": "new-{n}@example.com", "current_password": PASSWORD, "is_superuser": True}, 422),
        ({"email": "x" * 400 + "@example.com", "current_password": PASSWORD}, 422),
    ],
)
async def test_email_change_refusals_change_nothing(
    app_factory: AppFactory, sqlite_url: str, body: dict[str, object], status: int
) -> None:
    app = app_factory(sqlite_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        old = _email()
        _, token = await account(app, client, old)
        filled = {
            k: v.format(n=uuid.uuid4().hex[:6]) if isinstance(v, str) and k == "email" else v
            for k, v in body.items()
        }
        r = await client.patch("/auth/me", json=filled, headers=bearer(token))
        assert r.status_code == status, r.text
        assert outbox == []
        me = (await client.get("/auth/me", headers=bearer(token))).json()
        assert me["email"] == old
        assert me["is_superuser"] is False


async def test_email_change_to_a_taken_address_is_refused(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        old, taken = _email(), _email()
        _, token = await account(app, client, old)
        await account(app, client, taken)
        r = await client.patch(
            "/auth/me", json={"email": taken, "current_password": PASSWORD}, headers=bearer(token)
        )
        assert r.status_code == 400
        assert "already exists" in r.json()["detail"]
        assert outbox == []


async def test_an_address_taken_before_confirmation_keeps_the_old_one(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        old, new = _email(), _email()
        _, token = await account(app, client, old)
        r = await client.patch(
            "/auth/me", json={"email": new, "current_password": PASSWORD}, headers=bearer(token)
        )
        assert r.status_code == 202
        # someone registers the new address before the owner confirms
        assert (
            await client.post("/auth/register", json={"email": new, "password": PASSWORD})
        ).status_code == 201
        done = await client.post("/auth/verify-email-change", json={"token": _token_of(outbox[0])})
        assert done.status_code == 400
        assert (await client.get("/auth/me", headers=bearer(token))).json()["email"] == old
        await login(client, old)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "a.b.c", "x" * 70000],
)
async def test_bad_email_change_tokens(
    app_factory: AppFactory, sqlite_url: str, token: str
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        r = await client.post("/auth/verify-email-change", json={"token": token})
        assert r.status_code in (400, 422)


async def test_a_verification_token_is_not_an_email_change_token(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        email = _email()
        await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        await client.post("/auth/request-verify", json={"email": email})
        (verify,) = outbox
        r = await client.post("/auth/verify-email-change", json={"token": _token_of(verify)})
        assert r.status_code == 400
        # and the other way round
        _, token = await account(app, client, _email())
        await client.patch(
            "/auth/me",
            json={"email": _email(), "current_password": PASSWORD},
            headers=bearer(token),
        )
        r = await client.post("/auth/verify", json={"token": _token_of(outbox[-1])})
        assert r.status_code == 400


async def test_delete_me_ends_every_session_and_key_and_frees_the_email(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    other = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client, serve(other, fresh_address()) as second:
        email = _email()
        _, token = await account(app, client, email)
        key = (await new_api_key(client, token))["key"]
        pair = await login(client, email)
        wrong = await client.request(
            "DELETE", "/auth/me", json={"current_password": "not it at all"}, headers=bearer(token)
        )
        assert wrong.status_code == 400
        missing = await client.delete("/auth/me", headers=bearer(token))
        assert missing.status_code == 400
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200
        gone = await client.request(
            "DELETE", "/auth/me", json={"current_password": PASSWORD}, headers=bearer(token)
        )
        assert gone.status_code == 204
        for credential in (token, key, pair["access_token"]):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 401
            assert (await second.get("/auth/me", headers=bearer(credential))).status_code == 401
        refresh = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refresh.status_code == 401
        again = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert again.status_code == 201


async def _passwordless(app: object, user_id: int) -> None:
    async with riso_db.database(app).sessionmaker() as session:  # type: ignore[arg-type]
        await session.execute(
            update(riso_auth.User)
            .where(riso_auth.User.id == user_id)
            .values(hashed_password=UNUSABLE_PASSWORD)
        )
        await session.commit()


async def test_without_a_password_a_recent_sign_in_is_the_proof(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        user_id, token = await account(app, client, _email())
        await _passwordless(app, user_id)
        r = await client.patch("/auth/me", json={"email": _email()}, headers=bearer(token))
        assert r.status_code == 202, r.text
        assert len(outbox) == 1
        # the same session, signed in long ago: refused
        async with riso_db.database(app).sessionmaker() as session:
            await session.execute(
                update(riso_auth.AuthSession)
                .where(riso_auth.AuthSession.user_id == user_id)
                .values(created_at=datetime.now(UTC) - timedelta(hours=1))
            )
            await session.commit()
        stale = await client.patch("/auth/me", json={"email": _email()}, headers=bearer(token))
        assert stale.status_code == 403
        assert "Sign in again" in stale.json()["detail"]
        stale_delete = await client.delete("/auth/me", headers=bearer(token))
        assert stale_delete.status_code == 403
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200
        assert len(outbox) == 1


async def test_email_change_requests_are_rate_limited_per_account(
    app_factory: AppFactory, sqlite_url: str
) -> None:
    app = app_factory(sqlite_url, rate_forgot_account="2/1h")
    outbox = capture_mail(app)
    async with serve(app, fresh_address()) as client:
        _, token = await account(app, client, _email())
        codes = [
            (
                await client.patch(
                    "/auth/me",
                    json={"email": _email(), "current_password": PASSWORD},
                    headers=bearer(token),
                )
            ).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
        assert len(outbox) == 2
