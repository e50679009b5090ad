"""ID tokens the real provider would never issue, forged by the test and served by a
stand-in token endpoint: another key, ``alg: none``, HS256 with the client secret,
another audience or issuer, expired, no nonce, an unknown ``kid`` (one JWKS refresh,
then a refusal), and a rotated key that the refresh finds."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from riso_test_support.auth import AppFactory, bearer, serve
from riso_test_support.oidc import (
    APP_ORIGIN,
    CLIENT_SECRET,
    StandIn,
    new_rsa_key,
    public_jwk,
    stand_in,
)

import riso_auth


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with stand_in() as server:
        yield server


def _providers(provider: StandIn, **extra: Any) -> str:
    return json.dumps(
        {
            "local": {
                "issuer": provider.base_url,
                "client_id": "riso-test-client",
                "client_secret": CLIENT_SECRET,
                "timeout": 5,
                **extra,
            }
        }
    )


@pytest.fixture
def app(app_factory: AppFactory, sqlite_url: str, provider: StandIn) -> FastAPI:
    return app_factory(sqlite_url, oidc_providers=_providers(provider))


async def _callback(app: FastAPI, provider: StandIn) -> tuple[int, dict[str, Any]]:
    async with serve(app) as client:
        r = await client.get("/auth/oidc/local/authorize")
        assert r.status_code == 302, r.text
        r = await client.get(provider.authorize(r.headers["location"]).removeprefix(APP_ORIGIN))
        body: dict[str, Any] = r.json()
        assert CLIENT_SECRET not in r.text
        if r.status_code == 200:
            me = await client.get("/auth/me", headers=bearer(body["access_token"]))
            body["me"] = me.json()
        return r.status_code, body


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _other_key(claims: dict[str, Any], nonce: str) -> str:
    return jwt.encode(
        {"nonce": nonce, **claims}, new_rsa_key(), algorithm="RS256", headers={"kid": "standin-1"}
    )


def _alg_none(claims: dict[str, Any], nonce: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": "standin-1"}
    return f"{_b64(header)}.{_b64({'nonce': nonce, **claims})}."


def _hs256_client_secret(claims: dict[str, Any], nonce: str) -> str:
    return jwt.encode({"nonce": nonce, **claims}, CLIENT_SECRET, algorithm="HS256")


def _claims(**changes: Any) -> Callable[[StandIn], dict[str, Any]]:
    def build(provider: StandIn) -> dict[str, Any]:
        claims = provider.default_claims("sub-1", "forged@example.com")
        for key, value in changes.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    return build


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "forge", "detail"),
    [
        (_claims(), _other_key, "the ID token's signature does not verify"),
        (_claims(), _alg_none, "the ID token's algorithm 'none' is not allowed"),
        (_claims(), _hs256_client_secret, "the ID token's algorithm 'HS256' is not allowed"),
        (_claims(aud="someone-else"), None, "the ID token is for another audience"),
        (_claims(aud=["riso-test-client", "x"]), None, "several audiences and azp"),
        (_claims(iss="https://evil.example"), None, "the ID token comes from another issuer"),
        (_claims(exp=NOW - 60, iat=NOW - 360), None, "the ID token has expired"),
        (_claims(iat=None), None, "the ID token has no iat claim"),
        (_claims(iat=NOW + 3600, exp=NOW + 3900), None, "the ID token is not valid yet"),
        (_claims(sub=None), None, "the ID token has no sub claim"),
        (_claims(iat=NOW, exp=NOW + 10**9), None, "lives longer than accepted"),
    ],
)
async def test_forged_id_tokens_refused(
    app: FastAPI,
    provider: StandIn,
    claims: Callable[[StandIn], dict[str, Any]],
    forge: Callable[[dict[str, Any], str], str] | None,
    detail: str,
) -> None:
    provider.claims = claims(provider)
    provider.forge = forge
    status, body = await _callback(app, provider)
    assert status == 401
    assert detail in body["detail"]


async def test_wrong_nonce_refused(app: FastAPI, provider: StandIn) -> None:
    provider.claims = provider.default_claims("sub-1", "n@example.com")
    provider.forge = lambda claims, nonce: jwt.encode(
        {**claims, "nonce": "other-nonce"},
        provider.key,
        algorithm="RS256",
        headers={"kid": provider.kid},
    )
    status, body = await _callback(app, provider)
    assert (status, body["detail"]) == (401, "the ID token's nonce does not match this sign-in")
    provider.forge = lambda claims, nonce: jwt.encode(
        claims, provider.key, algorithm="RS256", headers={"kid": provider.kid}
    )
    status, body = await _callback(app, provider)  # no nonce at all
    assert (status, body["detail"]) == (401, "the ID token's nonce does not match this sign-in")


async def test_hs256_accepted_only_when_configured(
    app_factory: AppFactory, sqlite_url: str, provider: StandIn
) -> None:
    app = app_factory(sqlite_url, oidc_providers=_providers(provider, algorithms=["HS256"]))
    provider.claims = provider.default_claims("sub-hs", "hs@example.com")
    provider.forge = _hs256_client_secret
    status, body = await _callback(app, provider)
    assert status == 200, body
    # and then an RS256 token (not in this provider's list) is refused
    provider.forge = None
    status, body = await _callback(app, provider)
    assert (status, body["detail"]) == (401, "the ID token's algorithm 'RS256' is not allowed")


async def test_unknown_kid_refreshes_jwks_once_then_fails(app: FastAPI, provider: StandIn) -> None:
    provider.claims = provider.default_claims("sub-k", "k@example.com")
    stranger = new_rsa_key()
    provider.forge = lambda claims, nonce: jwt.encode(
        {"nonce": nonce, **claims}, stranger, algorithm="RS256", headers={"kid": "unknown"}
    )
    status, body = await _callback(app, provider)
    assert status == 401
    assert "signed with a key the provider does not list" in body["detail"]
    assert provider.jwks_hits == 2  # the first fetch, and one refresh for the unknown kid
    # again right away: the refresh is rate-limited, the JWKS is not fetched again
    status, _ = await _callback(app, provider)
    assert status == 401
    assert provider.jwks_hits == 2


async def test_rotated_key_found_by_one_refresh(app: FastAPI, provider: StandIn) -> None:
    provider.claims = provider.default_claims("sub-r", "r@example.com")
    status, _ = await _callback(app, provider)
    assert status == 200
    assert provider.jwks_hits == 1
    rotated = new_rsa_key()
    provider.jwks.append(public_jwk(rotated, "standin-2"))
    provider.forge = lambda claims, nonce: jwt.encode(
        {"nonce": nonce, **claims}, rotated, algorithm="RS256", headers={"kid": "standin-2"}
    )
    status, body = await _callback(app, provider)
    assert status == 200, body
    assert provider.jwks_hits == 2
    assert body["me"]["email"] == "r@example.com"


async def test_garbage_from_token_endpoint(app: FastAPI, provider: StandIn) -> None:
    provider.claims = {}
    provider.forge = lambda claims, nonce: "not-a-jwt"
    status, body = await _callback(app, provider)
    assert (status, body["detail"]) == (401, "the ID token is malformed")


async def test_pkce_verifier_and_secret_sent_to_token_endpoint(
    app: FastAPI, provider: StandIn
) -> None:
    provider.claims = provider.default_claims("sub-p", "p@example.com")
    status, _ = await _callback(app, provider)
    assert status == 200
    (form,) = provider.token_requests
    assert form["grant_type"] == "authorization_code"
    assert 43 <= len(form["code_verifier"]) <= 128
    assert form["redirect_uri"] == f"{APP_ORIGIN}/auth/oidc/local/callback"
    assert riso_auth.runtime(app).oidc_providers["local"].settings.client_id == "riso-test-client"
