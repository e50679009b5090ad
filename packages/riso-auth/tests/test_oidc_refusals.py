"""Every refusal of the sign-in flow against the real provider: state, code, nonce,
provider errors, emails that must not take an account over, redirect targets,
inactive accounts, the callback's rate limit. Each ends in a 4xx JSON body that
echoes no token, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from riso_test_support.auth import PASSWORD, AppFactory, bearer, login, serve
from riso_test_support.oidc import (
    CLIENT_SECRET,
    path_and_query,
    provider_env,
    query_of,
    sign_in_at_provider,
)
from sqlalchemy import func, select, update

import riso_auth
from riso_auth._models import Identity, OidcFlow

ALLOWED = "https://allowed.example/cb"


def _email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def _start(client: httpx.AsyncClient, query: str = "") -> str:
    r = await client.get(f"/auth/oidc/local/authorize{query}")
    assert r.status_code == 302, r.text
    return r.headers["location"]


def _no_secrets(response: httpx.Response, *secrets: str) -> None:
    assert response.headers["content-type"].startswith("application/json")
    for secret in (CLIENT_SECRET, *secrets):
        assert secret not in response.text


async def _identities(app: object) -> int:
    database = riso_auth.runtime(app).database  # type: ignore[arg-type]
    async with database.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Identity))).scalar_one()


@pytest.fixture
def app(app_factory: AppFactory, sqlite_url: str, oidc_issuer: str) -> object:
    return app_factory(
        sqlite_url,
        oidc_providers=provider_env(oidc_issuer, redirect_to=[ALLOWED]),
        revocation_cache_seconds="0",
    )


async def test_wrong_state(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), _email())
        sent = query_of(back)
        r = await client.get(
            f"/auth/oidc/local/callback?code={sent['code']}&state=x{sent['state']}"
        )
        assert r.status_code == 400
        assert "Invalid sign-in state" in r.json()["detail"]
        _no_secrets(r, sent["code"])


async def test_replayed_state_and_callback(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), _email())
        assert (await client.get(path_and_query(back))).status_code == 200
        r = await client.get(path_and_query(back))
        assert r.status_code == 400
        assert "already used" in r.json()["detail"]
        _no_secrets(r, query_of(back)["code"])


async def test_code_used_twice(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), _email())
        assert (await client.get(path_and_query(back))).status_code == 200
        # a fresh state of this browser, with the spent code
        state = query_of(await _start(client))["state"]
        code = query_of(back)["code"]
        r = await client.get(f"/auth/oidc/local/callback?code={code}&state={state}")
        assert r.status_code == 401
        assert "refused the code (invalid_grant)" in r.json()["detail"]
        _no_secrets(r, code)


async def test_wrong_nonce(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        location = await _start(client)
        nonce = query_of(location)["nonce"]
        # a code obtained for another request (another nonce) injected into this one
        back = await sign_in_at_provider(location.replace(nonce, "n" * 43), _email())
        r = await client.get(path_and_query(back))
        assert r.status_code == 401
        assert "nonce does not match" in r.json()["detail"]
        _no_secrets(r, query_of(back)["code"])
        assert await _identities(app) == 0


async def test_state_from_another_browser(app: object) -> None:
    async with serve(app) as victim, serve(app) as attacker:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(attacker), _email())
        r = await victim.get(path_and_query(back))  # no flow cookie, or another one
        assert r.status_code == 400
        assert "not started in this browser" in r.json()["detail"]


async def test_flow_cookie_is_host_only_httponly(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        r = await client.get("/auth/oidc/local/authorize")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-riso_oidc=")
        for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
            assert attribute.lower() in cookie.lower()
        assert "domain" not in cookie.lower()


async def test_user_cancels_at_provider(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), _email(), cancel=True)
        assert query_of(back)["error"] == "access_denied"
        r = await client.get(path_and_query(back))
        assert r.status_code == 400
        assert r.json()["detail"] == "local refused the sign-in: access_denied"
        # the state is spent with the refusal
        r = await client.get(path_and_query(back))
        assert r.status_code == 400


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),  # nothing at all
        ("?code=abc", 400),  # no state
        ("?state=abc", 400),  # unknown state
        ("?error=access_denied", 400),
        ("?error=%3Cscript%3E&state=x", 400),  # an odd error code is not echoed
        (f"?code={'a' * 5000}&state=x", 422),
    ],
)
async def test_malformed_callbacks(app: object, query: str, status: int) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        r = await client.get(f"/auth/oidc/local/callback{query}")
        assert r.status_code == status
        assert "<script>" not in r.text


async def test_unverified_email_never_touches_existing_account(app: object) -> None:
    email = _email("unverified")
    async with serve(app) as client:  # type: ignore[arg-type]
        await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        back = await sign_in_at_provider(await _start(client), email)
        r = await client.get(path_and_query(back))
        assert r.status_code == 409
        assert "has not verified this email" in r.json()["detail"]
        assert "access_token" not in r.text
        assert await _identities(app) == 0
        pair = await login(client, email)  # the account is as it was
        me = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()
        assert me["providers"] == []
        assert me["is_verified"] is False


async def test_verified_email_of_existing_account_needs_auto_link(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    email = _email()
    off = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer))
    async with serve(off) as client:
        await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        back = await sign_in_at_provider(await _start(client), email)
        r = await client.get(path_and_query(back))
        assert r.status_code == 409
        assert "sign in to it, then link local" in r.json()["detail"]
        assert await _identities(off) == 0
    on = app_factory(sqlite_url, oidc_providers=provider_env(oidc_issuer, auto_link=True))
    async with serve(on) as client:
        back = await sign_in_at_provider(await _start(client), email)
        r = await client.get(path_and_query(back))
        assert r.status_code == 200, r.text
        me = (await client.get("/auth/me", headers=bearer(r.json()["access_token"]))).json()
        assert me["email"] == email
        assert me["providers"] == ["local"]
        await login(client, email)  # the password still works


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "https://allowed.example.evil.example",
        "https://allowed.example.evil.example/cb",
        "https://allowed.example@evil.example/cb",
        "https://allowed.example/cb/../../evil",
        "https://allowed.example/cb?next=//evil.example",
        "https://allowed.example/cb#x",
        "https://allowed.example/cb/",
        "HTTPS://ALLOWED.EXAMPLE/cb",
        "https%3A%2F%2Fallowed.example%2Fcb",
        "https://allowed.example%2Fcb",
        "https://allowed.example/%63b",
        "%2F%2Fevil.example",
        "/\\evil.example",
        "https:/\\/evil.example",
        "javascript:alert(1)",
        " https://allowed.example/cb",
    ],
)
async def test_redirect_to_outside_allow_list(app: object, target: str) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        r = await client.get("/auth/oidc/local/authorize", params={"redirect_to": target})
        assert r.status_code == 400
        assert "location" not in r.headers
        assert r.json()["detail"] == "redirect_to is not an allowed target for local"


async def test_redirect_to_allowed_target_with_tokens_in_fragment(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        location = await _start(client, f"?redirect_to={ALLOWED}")
        back = await sign_in_at_provider(location, _email())
        r = await client.get(path_and_query(back))
        assert r.status_code == 302
        target, _, fragment = r.headers["location"].partition("#")
        assert target == ALLOWED
        tokens = query_of(f"?{fragment}")
        assert (
            await client.get("/auth/me", headers=bearer(tokens["access_token"]))
        ).status_code == 200
        assert r.headers["referrer-policy"] == "no-referrer"


async def test_redirect_with_cookie_transport_carries_no_token(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    app = app_factory(
        sqlite_url,
        oidc_providers=provider_env(oidc_issuer, redirect_to=[ALLOWED]),
        cookie_transport="true",
    )
    async with serve(app) as client:
        back = await sign_in_at_provider(await _start(client, f"?redirect_to={ALLOWED}"), _email())
        r = await client.get(path_and_query(back))
        assert r.status_code == 302
        assert r.headers["location"] == ALLOWED
        assert "__Host-riso_access=" in "".join(r.headers.get_list("set-cookie"))
        assert (await client.get("/auth/me")).status_code == 200  # by cookie


async def test_closed_registration(
    app_factory: AppFactory, sqlite_url: str, oidc_issuer: str
) -> None:
    email = _email("closed")
    providers = provider_env(oidc_issuer)
    open_app = app_factory(sqlite_url, oidc_providers=providers)
    async with serve(open_app) as client:
        back = await sign_in_at_provider(await _start(client), email)
        assert (await client.get(path_and_query(back))).status_code == 200
    closed = app_factory(sqlite_url, oidc_providers=providers, allow_registration="false")
    async with serve(closed) as client:
        back = await sign_in_at_provider(await _start(client), _email("newcomer"))
        r = await client.get(path_and_query(back))
        assert (r.status_code, r.json()["detail"]) == (403, "Registration is closed")
        # a returning identity still signs in
        back = await sign_in_at_provider(await _start(client), email)
        assert (await client.get(path_and_query(back))).status_code == 200


async def test_inactive_account_cannot_sign_in(app: object) -> None:
    email = _email()
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), email)
        pair = (await client.get(path_and_query(back))).json()
        me = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()
        await riso_auth.runtime(app).set_active(me["id"], False)  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), email)
        r = await client.get(path_and_query(back))
        assert r.status_code == 403
        assert r.json()["detail"] == "This account is inactive"
        assert "access_token" not in r.text


async def test_callback_rate_limited_per_address(app: object) -> None:
    runtime = riso_auth.runtime(app)  # type: ignore[arg-type]
    runtime.settings = runtime.settings.model_copy(
        update={"rate_limit_enabled": True, "rate_oidc_callback_address": "3/1h"}
    )
    async with serve(app) as client, serve(app, client="10.0.0.2") as other:  # type: ignore[arg-type]
        statuses = [
            (await client.get("/auth/oidc/local/callback?state=x")).status_code for _ in range(4)
        ]
        assert statuses == [400, 400, 400, 429]
        assert (await other.get("/auth/oidc/local/callback?state=x")).status_code == 400


async def test_authorize_rate_limited_per_address(app: object) -> None:
    runtime = riso_auth.runtime(app)  # type: ignore[arg-type]
    runtime.settings = runtime.settings.model_copy(
        update={"rate_limit_enabled": True, "rate_oidc_callback_address": "2/1h"}
    )
    async with serve(app) as client:  # type: ignore[arg-type]
        statuses = [(await client.get("/auth/oidc/local/authorize")).status_code for _ in range(3)]
        assert statuses == [302, 302, 429]
        assert await _flows(app) == 2  # the refused start wrote nothing
        # callbacks are counted apart
        assert (await client.get("/auth/oidc/local/callback?state=x")).status_code == 400


async def _expire_flows(app: object) -> None:
    database = riso_auth.runtime(app).database  # type: ignore[arg-type]
    async with database.sessionmaker() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(OidcFlow).values(expires_at=past))
        await session.commit()


async def _flows(app: object) -> int:
    database = riso_auth.runtime(app).database  # type: ignore[arg-type]
    async with database.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(OidcFlow))).scalar_one()


async def test_expired_flow_and_cleanup(app: object) -> None:
    async with serve(app) as client:  # type: ignore[arg-type]
        back = await sign_in_at_provider(await _start(client), _email())
        await _expire_flows(app)
        r = await client.get(path_and_query(back))
        assert r.status_code == 400
        assert "took too long" in r.json()["detail"]
        await _start(client)
        await _start(client)
        assert await _flows(app) == 2
        await _expire_flows(app)
        await _start(client)  # abandoned sign-ins are deleted when a new one starts
        assert await _flows(app) == 1
