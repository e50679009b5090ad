"""The administration API ``/auth/users`` on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid

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


def _prefix() -> str:
    return f"adm-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/auth/users", None),
        ("get", "/auth/users/{id}", None),
        ("patch", "/auth/users/{id}", {"is_active": False}),
        ("delete", "/auth/users/{id}", None),
        ("post", "/auth/users/{id}/logout", None),
        ("get", "/auth/roles", None),
        ("post", "/auth/roles", {"name": "r"}),
        ("patch", "/auth/roles/r", {"scopes": []}),
        ("delete", "/auth/roles/r", None),
    ],
)
async def test_a_non_admin_caller_is_refused(
    app_factory: AppFactory,
    any_db_url: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        victim_email = f"{_prefix()}@example.com"
        victim, _ = await account(app, client, victim_email)
        # scopes of its own, just not auth:admin
        _, caller = await account(app, client, f"{_prefix()}@example.com", scopes="items:read")
        r = await client.request(method, path.format(id=victim), json=body, headers=bearer(caller))
        assert r.status_code == 403
        assert r.json() == {"detail": "Not enough privileges"}
        anonymous = await client.request(method, path.format(id=victim), json=body)
        assert anonymous.status_code == 401
        # nothing happened to the account
        assert (await login(client, victim_email))["access_token"]


async def test_list_pages_and_filters(app_factory: AppFactory, any_db_url: str) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        prefix = _prefix()
        ids = [(await account(app, client, f"{prefix}-{i}@example.com"))[0] for i in range(5)]
        seen: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"email": prefix, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = await client.get("/auth/users", params=params, headers=bearer(admin))
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 2
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        await client.patch(
            f"/auth/users/{ids[1]}", json={"is_active": False}, headers=bearer(admin)
        )
        await client.patch(
            f"/auth/users/{ids[2]}", json={"is_superuser": True}, headers=bearer(admin)
        )
        inactive = await client.get(
            "/auth/users", params={"email": prefix, "is_active": "false"}, headers=bearer(admin)
        )
        assert [u["id"] for u in inactive.json()["items"]] == [ids[1]]
        supers = await client.get(
            "/auth/users", params={"email": prefix, "is_superuser": "true"}, headers=bearer(admin)
        )
        assert [u["id"] for u in supers.json()["items"]] == [ids[2]]
        role = f"r{uuid.uuid4().hex[:8]}"
        await client.post("/auth/roles", json={"name": role}, headers=bearer(admin))
        await client.patch(f"/auth/users/{ids[3]}", json={"roles": [role]}, headers=bearer(admin))
        by_role = await client.get("/auth/users", params={"role": role}, headers=bearer(admin))
        assert [u["id"] for u in by_role.json()["items"]] == [ids[3]]
        assert by_role.json()["items"][0]["roles"] == [role]
        # LIKE wildcards in the prefix are matched literally
        wild = await client.get("/auth/users", params={"email": "%"}, headers=bearer(admin))
        assert wild.json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"cursor": "abc"}, {"limit": 0}, {"limit": 201}, {"is_active": "maybe"}, {"email": "x" * 321}],
)
async def test_bad_list_parameters_are_422(
    app_factory: AppFactory, sqlite_url: str, params: dict[str, object]
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        r = await client.get("/auth/users", params=params, headers=bearer(admin))
        assert r.status_code == 422


async def test_unknown_account_is_404(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        for method, path, body in (
            ("get", "/auth/users/999999", None),
            ("patch", "/auth/users/999999", {"is_verified": True}),
            ("delete", "/auth/users/999999", None),
            ("post", "/auth/users/999999/logout", None),
        ):
            r = await client.request(method, path, json=body, headers=bearer(admin))
            assert r.status_code == 404, (method, path)
        assert (await client.get("/auth/users/abc", headers=bearer(admin))).status_code == 422


async def test_deactivation_ends_tokens_and_keys_here_and_on_another_instance(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    other = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client, serve(other, fresh_address()) as second:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        email = f"{_prefix()}@example.com"
        user_id, token = await account(app, client, email)
        key = (await new_api_key(client, token))["key"]
        for credential in (token, key):  # cached on the serving instance
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 200
            assert (await second.get("/auth/me", headers=bearer(credential))).status_code == 200
        r = await client.patch(
            f"/auth/users/{user_id}", json={"is_active": False}, headers=bearer(admin)
        )
        assert r.status_code == 200
        assert r.json()["is_active"] is False
        for credential in (token, key):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 401
            assert (await second.get("/auth/me", headers=bearer(credential))).status_code == 401
        refused = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert refused.status_code == 401
        # reactivated: a new login works, the old token and key stay dead
        await client.patch(
            f"/auth/users/{user_id}", json={"is_active": True}, headers=bearer(admin)
        )
        fresh = await login(client, email)
        assert (
            await client.get("/auth/me", headers=bearer(fresh["access_token"]))
        ).status_code == 200
        assert (await client.get("/auth/me", headers=bearer(key))).status_code == 401


async def test_deleted_users_tokens_and_keys_are_401_here_and_on_another_instance(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    other = app_factory(any_db_url, revocation_cache_seconds="0")
    async with serve(app, fresh_address()) as client, serve(other, fresh_address()) as second:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        email = f"{_prefix()}@example.com"
        user_id, token = await account(app, client, email)
        key = (await new_api_key(client, token))["key"]
        for credential in (token, key):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 200
        assert (
            await client.delete(f"/auth/users/{user_id}", headers=bearer(admin))
        ).status_code == 204
        for credential in (token, key):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 401
            assert (await second.get("/auth/me", headers=bearer(credential))).status_code == 401
        assert (
            await client.get(f"/auth/users/{user_id}", headers=bearer(admin))
        ).status_code == 404
        # the email is free again
        again = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert again.status_code == 201
        # SQLite may give the new account the same id: the old credentials stay dead
        for credential in (token, key):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 401


async def test_admin_logout_revokes_every_session_and_key(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        email = f"{_prefix()}@example.com"
        user_id, token = await account(app, client, email)
        pair = await login(client, email)
        key = (await new_api_key(client, token))["key"]
        r = await client.post(f"/auth/users/{user_id}/logout", headers=bearer(admin))
        assert r.status_code == 204
        for credential in (token, pair["access_token"], key):
            assert (await client.get("/auth/me", headers=bearer(credential))).status_code == 401
        refresh = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refresh.status_code == 401
        # the account itself is fine
        assert (await login(client, email))["access_token"]


async def test_patch_changes_flags_scopes_and_verification(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        r = await client.post(
            "/auth/register", json={"email": f"{_prefix()}@example.com", "password": PASSWORD}
        )
        user_id = r.json()["id"]
        r = await client.patch(
            f"/auth/users/{user_id}",
            json={"is_verified": True, "scopes": ["items:read", "b"]},
            headers=bearer(admin),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_verified"] is True
        assert body["scopes"] == ["b", "items:read"]
        assert body["has_password"] is True
        assert body["is_superuser"] is False
        for bad in ({"is_active": "no"}, {"scopes": ["a b"]}, {"email": "x@example.com"}):
            refused = await client.patch(f"/auth/users/{user_id}", json=bad, headers=bearer(admin))
            assert refused.status_code == 422, bad
        assert (await client.get(f"/auth/users/{user_id}", headers=bearer(admin))).json() == body


async def test_auth_admin_scope_administers_but_cannot_grant_superuser(
    app_factory: AppFactory, any_db_url: str
) -> None:
    app = app_factory(any_db_url)
    async with serve(app, fresh_address()) as client:
        admin_id, admin = await account(
            app, client, f"{_prefix()}@example.com", scopes="auth:admin"
        )
        user_id, _ = await account(app, client, f"{_prefix()}@example.com")
        listed = await client.get("/auth/users", params={"limit": 1}, headers=bearer(admin))
        assert listed.status_code == 200
        r = await client.patch(
            f"/auth/users/{user_id}", json={"is_verified": False}, headers=bearer(admin)
        )
        assert r.status_code == 200
        for target in (user_id, admin_id):
            r = await client.patch(
                f"/auth/users/{target}", json={"is_superuser": True}, headers=bearer(admin)
            )
            assert r.status_code == 403
            view = await client.get(f"/auth/users/{target}", headers=bearer(admin))
            assert view.json()["is_superuser"] is False


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"is_superuser": False}),
        ("patch", "", {"is_active": False}),
        ("delete", "", None),
    ],
)
async def test_the_last_superuser_cannot_be_removed(
    app_factory: AppFactory,
    empty_db_url: str,
    method: str,
    suffix: str,
    body: dict[str, object] | None,
) -> None:
    app = app_factory(empty_db_url)
    async with serve(app, fresh_address()) as client:
        email = f"{_prefix()}@example.com"
        root_id, root = await account(app, client, email, superuser=True)
        r = await client.request(
            method, f"/auth/users/{root_id}{suffix}", json=body, headers=bearer(root)
        )
        assert r.status_code == 409
        assert "superuser" in r.json()["detail"]
        view = (await client.get(f"/auth/users/{root_id}", headers=bearer(root))).json()
        assert view["is_superuser"] is True
        assert view["is_active"] is True
        assert (await client.get("/auth/me", headers=bearer(root))).status_code == 200
        # also through DELETE /auth/me
        gone = await client.request(
            "DELETE", "/auth/me", json={"current_password": PASSWORD}, headers=bearer(root)
        )
        assert gone.status_code == 409
        # with a second superuser the first may go
        other_id, other = await account(app, client, f"{_prefix()}@example.com", superuser=True)
        r = await client.request(
            method, f"/auth/users/{root_id}{suffix}", json=body, headers=bearer(other)
        )
        assert r.status_code in (200, 204), r.text
        # ... and now the other is the last one
        r = await client.patch(
            f"/auth/users/{other_id}", json={"is_superuser": False}, headers=bearer(other)
        )
        assert r.status_code == 409


async def test_deactivating_users_is_fine_without_any_superuser(
    app_factory: AppFactory, empty_db_url: str
) -> None:
    app = app_factory(empty_db_url)
    async with serve(app, fresh_address()) as client:
        _, admin = await account(app, client, f"{_prefix()}@example.com", scopes="auth:admin")
        user_id, _ = await account(app, client, f"{_prefix()}@example.com")
        r = await client.patch(
            f"/auth/users/{user_id}", json={"is_active": False}, headers=bearer(admin)
        )
        assert r.status_code == 200
        assert (
            await client.delete(f"/auth/users/{user_id}", headers=bearer(admin))
        ).status_code == 204
