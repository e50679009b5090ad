"""Roles: scopes granted through them satisfy ``require_scopes``; managed by admins."""

from __future__ import annotations

import uuid

import pytest
from riso_test_support.auth import (
    AppFactory,
    account,
    bearer,
    fresh_address,
    login,
    new_api_key,
    serve,
)


def _email() -> str:
    return f"role-{uuid.uuid4().hex[:10]}@example.com"


def _role() -> str:
    return f"r{uuid.uuid4().hex[:8]}"


async def test_a_role_grants_its_scopes_on_the_next_token(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, _email(), superuser=True)
        email = _email()
        user_id, before = await account(app, client, email)
        role = _role()
        r = await client.post(
            "/auth/roles",
            json={"name": role, "scopes": ["items:read", "items:write"], "description": "d"},
            headers=bearer(admin),
        )
        assert r.status_code == 201, r.text
        assert r.json() == {
            "name": role,
            "scopes": ["items:read", "items:write"],
            "description": "d",
        }
        r = await client.patch(
            f"/auth/users/{user_id}", json={"roles": [role]}, headers=bearer(admin)
        )
        assert r.status_code == 200
        assert r.json()["roles"] == [role]
        # the token issued before the grant does not carry it ...
        assert (await client.get("/items", headers=bearer(before))).status_code == 403
        # ... the next one does
        pair = await login(client, email)
        assert (await client.get("/items", headers=bearer(pair["access_token"]))).status_code == 200
        assert (
            await client.post("/items", headers=bearer(pair["access_token"]))
        ).status_code == 200
        # asking for fewer scopes at login still works with role scopes
        narrow = await login(client, email, scope="items:read")
        assert (
            await client.post("/items", headers=bearer(narrow["access_token"]))
        ).status_code == 403
        # a key may take a role's scope; taking the role away takes it from the key
        key = (await new_api_key(client, pair["access_token"], ["items:read"]))["key"]
        assert (await client.get("/items", headers=bearer(key))).status_code == 200
        r = await client.patch(f"/auth/users/{user_id}", json={"roles": []}, headers=bearer(admin))
        assert r.status_code == 200
        assert r.json()["roles"] == []
        assert (await client.get("/items", headers=bearer(key))).status_code == 403
        # the refresh after the removal drops the scope too
        refreshed = await client.post(
            "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 200
        token = refreshed.json()["access_token"]
        assert (await client.get("/items", headers=bearer(token))).status_code == 403


async def test_changing_a_roles_scopes_reaches_its_holders(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, _email(), superuser=True)
        email = _email()
        user_id, _ = await account(app, client, email)
        role = _role()
        await client.post(
            "/auth/roles", json={"name": role, "scopes": ["other"]}, headers=bearer(admin)
        )
        await client.patch(f"/auth/users/{user_id}", json={"roles": [role]}, headers=bearer(admin))
        token = (await login(client, email))["access_token"]
        assert (await client.get("/items", headers=bearer(token))).status_code == 403
        r = await client.patch(
            f"/auth/roles/{role}", json={"scopes": ["items:read"]}, headers=bearer(admin)
        )
        assert r.status_code == 200
        assert r.json()["scopes"] == ["items:read"]
        token = (await login(client, email))["access_token"]
        assert (await client.get("/items", headers=bearer(token))).status_code == 200
        # deleting the role: the next token is without it
        assert (
            await client.delete(f"/auth/roles/{role}", headers=bearer(admin))
        ).status_code == 204
        token = (await login(client, email))["access_token"]
        assert (await client.get("/items", headers=bearer(token))).status_code == 403
        view = await client.get(f"/auth/users/{user_id}", headers=bearer(admin))
        assert view.json()["roles"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/auth/roles", {"name": "Bad Name"}, 422),
        ("post", "/auth/roles", {"name": "x" * 65}, 422),
        ("post", "/auth/roles", {"name": "ok", "scopes": ["has space"]}, 422),
        ("post", "/auth/roles", {"name": "ok", "extra": True}, 422),
        ("patch", "/auth/roles/nosuchrole", {"scopes": []}, 404),
        ("delete", "/auth/roles/nosuchrole", None, 404),
        ("patch", "/auth/users/{me}", {"roles": ["nosuchrole"]}, 400),
        ("patch", "/auth/users/{me}", {"roles": ["Bad Name"]}, 422),
    ],
)
async def test_role_refusals(
    app_factory: AppFactory,
    sqlite_url: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        me, admin = await account(app, client, _email(), superuser=True)
        r = await client.request(method, path.format(me=me), json=body, headers=bearer(admin))
        assert r.status_code == status, r.text
        assert isinstance(r.json()["detail"], str | list)
        listed = await client.get("/auth/roles", headers=bearer(admin))
        assert listed.json() == []


async def test_a_role_name_is_unique(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, _email(), superuser=True)
        role = _role()
        first = await client.post("/auth/roles", json={"name": role}, headers=bearer(admin))
        assert first.status_code == 201
        again = await client.post(
            "/auth/roles", json={"name": role, "scopes": ["x"]}, headers=bearer(admin)
        )
        assert again.status_code == 400
        assert "already exists" in again.json()["detail"]
        (only,) = [
            r
            for r in (await client.get("/auth/roles", headers=bearer(admin))).json()
            if r["name"] == role
        ]
        assert only["scopes"] == []


async def test_roles_need_an_admin(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        _, user = await account(app, client, _email())
        for method, path in (("get", "/auth/roles"), ("post", "/auth/roles")):
            r = await client.request(method, path, json={"name": "x"}, headers=bearer(user))
            assert r.status_code == 403
