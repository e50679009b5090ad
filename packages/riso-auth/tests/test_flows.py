"""Scopes and roles, OpenAPI, forgot/reset, verification, cookie transport, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, AppFactory, bearer, login, register_and_login, serve
from sqlalchemy import select

import riso_auth


@pytest.fixture
def app(app_factory: AppFactory, sqlite_url: str) -> FastAPI:
    return app_factory(sqlite_url, revocation_cache_seconds="0")


@pytest.fixture
def outbox(app: FastAPI) -> list[riso_auth.MailMessage]:
    sent: list[riso_auth.MailMessage] = []

    async def sender(message: riso_auth.MailMessage) -> None:
        sent.append(message)

    riso_auth.set_mail_sender(app, sender)
    return sent


def _token_of(message: riso_auth.MailMessage) -> str:
    return message.link.split("token=", 1)[1]


# --- authorization ------------------------------------------------------------
@pytest.mark.parametrize(
    ("granted", "requested", "get_items", "post_items"),
    [
        ("items:read items:write", "", 200, 200),
        ("items:read items:write", "items:read", 200, 403),
        ("items:read items:write", "items:write", 403, 200),
        ("items:read", "items:read items:write", 200, 403),
        ("", "items:read", 403, 403),
    ],
)
async def test_scopes(
    app: FastAPI, granted: str, requested: str, get_items: int, post_items: int
) -> None:
    await riso_auth.runtime(app).create_user("s@example.com", PASSWORD, scopes=granted)
    async with serve(app) as client:
        pair = await login(client, "s@example.com", scope=requested)
        r = await client.get("/items", headers=bearer(pair["access_token"]))
        assert r.status_code == get_items
        r = await client.post("/items", headers=bearer(pair["access_token"]))
        assert r.status_code == post_items
        if post_items == 403:
            assert "items:write" in r.json()["detail"]
        # scopes survive rotation, never widen
        new = (
            await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).json()
        assert (
            await client.get("/items", headers=bearer(new["access_token"]))
        ).status_code == get_items
        assert (await client.get("/items")).status_code == 401


async def test_superuser_and_verified(app: FastAPI) -> None:
    runtime = riso_auth.runtime(app)
    await runtime.create_user("boss@example.com", PASSWORD, is_superuser=True, is_verified=True)
    await runtime.create_user("pleb@example.com", PASSWORD)
    async with serve(app) as client:
        boss = await login(client, "boss@example.com")
        pleb = await login(client, "pleb@example.com")
        assert (await client.get("/admin", headers=bearer(boss["access_token"]))).status_code == 200
        assert (await client.get("/admin", headers=bearer(pleb["access_token"]))).status_code == 403
        assert (
            await client.get("/verified", headers=bearer(boss["access_token"]))
        ).status_code == 200
        assert (
            await client.get("/verified", headers=bearer(pleb["access_token"]))
        ).status_code == 403
        assert (await client.get("/whoami")).json() == {"id": None}
        assert (await client.get("/whoami", headers=bearer(pleb["access_token"]))).json()["id"] > 0


async def test_deactivation_revokes_sessions(app: FastAPI) -> None:
    async with serve(app) as client:
        pair = await register_and_login(client, "d@example.com")
        user_id = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()["id"]
        await riso_auth.runtime(app).set_active(user_id, False)
        assert (
            await client.get("/auth/me", headers=bearer(pair["access_token"]))
        ).status_code == 401
        assert (
            await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 401
        r = await client.post(
            "/auth/token", data={"username": "d@example.com", "password": PASSWORD}
        )
        assert r.status_code == 401


def test_openapi_shows_the_password_flow_and_scopes(app: FastAPI) -> None:
    schema = app.openapi()
    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
    assert schema["paths"]["/items"]["get"]["security"] == [
        {"OAuth2PasswordBearer": ["items:read"]}
    ]
    assert schema["paths"]["/items"]["post"]["security"] == [
        {"OAuth2PasswordBearer": ["items:write"]}
    ]
    assert schema["paths"]["/auth/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    form = schema["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form
    for path in (
        "/auth/register",
        "/auth/token",
        "/auth/refresh",
        "/auth/logout",
        "/auth/me",
        "/auth/password",
        "/auth/forgot-password",
        "/auth/reset-password",
        "/auth/request-verify",
        "/auth/verify",
    ):
        assert path in schema["paths"], path


# --- forgot / reset -------------------------------------------------------------
async def test_forgot_password_same_answer_whether_account_exists(
    app: FastAPI, outbox: list[riso_auth.MailMessage]
) -> None:
    async with serve(app) as client:
        await register_and_login(client, "known@example.com")
        known = await client.post("/auth/forgot-password", json={"email": "known@example.com"})
        unknown = await client.post("/auth/forgot-password", json={"email": "unknown@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        assert [m.to for m in outbox] == ["known@example.com"]


async def test_reset_password_flow(app: FastAPI, outbox: list[riso_auth.MailMessage]) -> None:
    async with serve(app) as client:
        old = await register_and_login(client, "r@example.com")
        await client.post("/auth/forgot-password", json={"email": "R@Example.com"})
        token = _token_of(outbox[-1])
        # a reset token is no access token
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
        weak = await client.post(
            "/auth/reset-password", json={"token": token, "password": "password"}
        )
        assert weak.status_code == 422
        r = await client.post(
            "/auth/reset-password", json={"token": token, "password": "my new long passphrase"}
        )
        assert r.status_code == 204, r.text
        again = await client.post(
            "/auth/reset-password", json={"token": token, "password": "yet another passphrase"}
        )
        assert again.status_code == 400
        assert (
            await client.get("/auth/me", headers=bearer(old["access_token"]))
        ).status_code == 401
        assert (
            await client.post(
                "/auth/token", data={"username": "r@example.com", "password": PASSWORD}
            )
        ).status_code == 401
        await login(client, "r@example.com", "my new long passphrase")


async def test_reset_token_dies_when_the_account_changes(
    app: FastAPI, outbox: list[riso_auth.MailMessage]
) -> None:
    async with serve(app) as client:
        pair = await register_and_login(client, "c@example.com")
        await client.post("/auth/forgot-password", json={"email": "c@example.com"})
        await client.post("/auth/forgot-password", json={"email": "c@example.com"})
        first, second = _token_of(outbox[0]), _token_of(outbox[1])
        r = await client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "changed the usual way"},
            headers=bearer(pair["access_token"]),
        )
        assert r.status_code == 204
        for token in (first, second):
            r = await client.post(
                "/auth/reset-password", json={"token": token, "password": "attacker chosen pass"}
            )
            assert r.status_code == 400
        await login(client, "c@example.com", "changed the usual way")


# --- verification -----------------------------------------------------------------
async def test_verification_flow(app: FastAPI, outbox: list[riso_auth.MailMessage]) -> None:
    async with serve(app) as client:
        pair = await register_and_login(client, "v@example.com")
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()[
            "is_verified"
        ] is False
        a = await client.post("/auth/request-verify", json={"email": "v@example.com"})
        b = await client.post("/auth/request-verify", json={"email": "nobody@example.com"})
        assert a.status_code == b.status_code == 202
        assert a.json() == b.json()
        assert len(outbox) == 1
        token = _token_of(outbox[0])
        # a verification token cannot reset a password
        assert (
            await client.post(
                "/auth/reset-password", json={"token": token, "password": "sneaky new password"}
            )
        ).status_code == 400
        r = await client.post("/auth/verify", json={"token": token})
        assert r.status_code == 200
        assert r.json()["is_verified"] is True
        assert (await client.post("/auth/verify", json={"token": token})).status_code == 400
        assert (
            await client.get("/verified", headers=bearer(pair["access_token"]))
        ).status_code == 200
        await client.post("/auth/request-verify", json={"email": "v@example.com"})
        assert len(outbox) == 1  # already verified: nothing sent, same answer


async def test_require_verified_login(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, require_verified="true")
    async with serve(app) as client:
        await client.post("/auth/register", json={"email": "n@example.com", "password": PASSWORD})
        r = await client.post(
            "/auth/token", data={"username": "n@example.com", "password": PASSWORD}
        )
        assert r.status_code == 403


async def test_default_sender_logs(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="riso.auth")
    async with serve(app) as client:
        await register_and_login(client, "log@example.com")
        await client.post("/auth/forgot-password", json={"email": "log@example.com"})
    assert any("reset-password?token=" in r.getMessage() for r in caplog.records)


async def test_a_failing_sender_never_reaches_the_client(app: FastAPI) -> None:
    def broken(message: riso_auth.MailMessage) -> None:
        raise RuntimeError("smtp down")

    riso_auth.set_mail_sender(app, broken)
    async with serve(app) as client:
        await register_and_login(client, "b@example.com")
        r = await client.post("/auth/forgot-password", json={"email": "b@example.com"})
        assert r.status_code == 202


# --- cookie transport --------------------------------------------------------------
async def test_cookie_transport_with_csrf(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, cookie_transport="true", revocation_cache_seconds="0")
    async with serve(app) as client:
        await client.post("/auth/register", json={"email": "c@example.com", "password": PASSWORD})
        r = await client.post(
            "/auth/token", data={"username": "c@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200
        cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
        assert set(cookies) == {"__Host-riso_access", "__Host-riso_refresh", "__Host-riso_csrf"}
        for name, text in cookies.items():
            assert "secure" in text
            assert "path=/" in text
            assert "samesite=lax" in text
            assert "domain=" not in text
            assert ("httponly" in text) == (name != "__Host-riso_csrf")
        csrf = client.cookies["__Host-riso_csrf"]
        # reads work by cookie alone
        assert (await client.get("/auth/me")).status_code == 200
        # state-changing requests need the double-submitted token
        assert (await client.post("/auth/refresh")).status_code == 403
        assert (await client.post("/items", headers={"X-CSRF-Token": "wrong"})).status_code == 403
        r = await client.post("/auth/refresh", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        csrf = client.cookies["__Host-riso_csrf"]
        assert (await client.post("/auth/logout")).status_code == 403
        assert (
            await client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        ).status_code == 204
        assert (await client.get("/auth/me")).status_code == 401


async def test_cookies_ignored_when_transport_is_off(app: FastAPI) -> None:
    async with serve(app) as client:
        pair = await register_and_login(client, "o@example.com")
        assert (
            "set-cookie"
            not in (
                await client.post(
                    "/auth/token", data={"username": "o@example.com", "password": PASSWORD}
                )
            ).headers
        )
        client.cookies.set("__Host-riso_access", pair["access_token"])
        assert (await client.get("/auth/me")).status_code == 401


# --- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/auth/register", {"json": {"email": "not-an-email", "password": PASSWORD}}, 422),
        ("/auth/register", {"json": {"email": "a@b", "password": PASSWORD}}, 422),
        (
            "/auth/register",
            {"json": {"email": "x" * 400 + "@example.com", "password": PASSWORD}},
            422,
        ),
        ("/auth/register", {"json": {"email": "a@example.com"}}, 422),
        (
            "/auth/register",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        ("/auth/register", {"json": ["a", "b"]}, 422),
        ("/auth/token", {"data": {"username": "a@example.com"}}, 422),
        (
            "/auth/token",
            {
                "data": {
                    "username": "a@example.com",
                    "password": "x",
                    "grant_type": "client_credentials",
                }
            },
            422,
        ),
        ("/auth/token", {"json": {"username": "a@example.com", "password": "x"}}, 422),
        ("/auth/refresh", {"json": {"refresh_token": 5}}, 422),
        ("/auth/refresh", {"json": {}}, 401),
        ("/auth/refresh", {"json": {"refresh_token": "x" * 70000}}, 422),
        ("/auth/verify", {"json": {"token": "garbage"}}, 400),
        (
            "/auth/reset-password",
            {"json": {"token": "garbage", "password": "a fine new password"}},
            400,
        ),
        ("/auth/forgot-password", {"json": {"email": 12}}, 422),
        ("/auth/password", {"json": {"current_password": "a", "new_password": "b"}}, 401),
    ],
)
async def test_bad_input_is_a_4xx_with_detail(
    app: FastAPI, path: str, kwargs: dict[str, Any], status: int
) -> None:
    async with serve(app) as client:
        await register_and_login(client, "keep@example.com")
        r = await client.post(path, **kwargs)
        assert r.status_code == status, r.text
        assert "detail" in r.json()
        # stored data intact
        await login(client, "keep@example.com")


async def test_duplicate_email_any_case(app: FastAPI) -> None:
    async with serve(app) as client:
        await register_and_login(client, "dup@example.com")
        r = await client.post(
            "/auth/register", json={"email": " DUP@Example.COM ", "password": "another password"}
        )
        assert r.status_code == 400
        assert r.json() == {"detail": "an account with this email already exists"}
        await login(client, "dup@example.com")
        async with riso_auth.runtime(app).database.sessionmaker() as session:
            emails = (await session.execute(select(riso_auth.User.email))).scalars().all()
        assert emails == ["dup@example.com"]


async def test_registration_can_be_closed(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url, allow_registration="false")
    async with serve(app) as client:
        r = await client.post(
            "/auth/register", json={"email": "x@example.com", "password": PASSWORD}
        )
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/register", {"email": "not-an-email", "password": PASSWORD}),
        ("/auth/register", {"email": "v@example.com", "password": "short"}),
        ("/auth/reset-password", {"token": "x"}),
    ],
)
async def test_every_422_matches_the_declared_schema(
    app: FastAPI, path: str, body: dict[str, Any]
) -> None:
    """Regression (found by the system fuzzer): the 422s were declared as
    ``{"detail": str}``, while a validation error answers a list."""
    schema = app.openapi()
    declared = schema["paths"][path]["post"]["responses"]["422"]["content"]["application/json"]
    ref = declared["schema"]["$ref"].rsplit("/", 1)[1]
    detail = schema["components"]["schemas"][ref]["properties"]["detail"]
    kinds = {option.get("type") for option in detail["anyOf"]}
    assert kinds == {"string", "array"}
    async with serve(app) as client:
        response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str | list)


def test_email_fields_document_what_the_validator_accepts(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for name in ("RegisterIn", "EmailIn"):
        email = schemas[name]["properties"]["email"]
        assert email["format"] == "email"
        assert email["pattern"] == r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
