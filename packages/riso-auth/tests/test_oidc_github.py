"""GitHub's preset (plain OAuth2, no ID token) against a local stand-in of
``/login/oauth/access_token``, ``/user`` and ``/user/emails``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, AppFactory, bearer, serve
from riso_test_support.oidc import APP_ORIGIN, CLIENT_SECRET, StandIn, query_of, stand_in


@pytest.fixture
def github() -> Iterator[StandIn]:
    with stand_in() as server:
        yield server


@pytest.fixture
def app(app_factory: AppFactory, sqlite_url: str, github: StandIn) -> FastAPI:
    providers = {
        "github": {
            "kind": "github",
            "client_id": "gh-client",
            "client_secret": CLIENT_SECRET,
            "github_url": github.base_url,
            "github_api_url": github.base_url,
        }
    }
    return app_factory(sqlite_url, oidc_providers=json.dumps(providers))


async def _sign_in(app: FastAPI, github: StandIn) -> tuple[int, dict[str, Any]]:
    async with serve(app) as client:
        r = await client.get("/auth/oidc/github/authorize")
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith(f"{github.base_url}/login/oauth/authorize?")
        sent = query_of(location)
        assert sent["code_challenge_method"] == "S256"
        assert sent["scope"] == "read:user user:email"
        assert "nonce" not in sent
        r = await client.get(github.authorize(location).removeprefix(APP_ORIGIN))
        body: dict[str, Any] = r.json()
        assert CLIENT_SECRET not in r.text
        assert "gho_standin" not in r.text
        if r.status_code == 200:
            body["me"] = (await client.get("/auth/me", headers=bearer(body["access_token"]))).json()
        return r.status_code, body


async def test_primary_verified_email_signs_up(app: FastAPI, github: StandIn) -> None:
    github.github_emails = [
        {"email": "other@example.com", "primary": False, "verified": True},
        {"email": "Octo@Example.com", "primary": True, "verified": True},
    ]
    status, body = await _sign_in(app, github)
    assert status == 200, body
    assert body["me"]["email"] == "octo@example.com"
    assert body["me"]["is_verified"] is True
    assert body["me"]["providers"] == ["github"]
    (form,) = github.token_requests
    assert form["code_verifier"]
    # the numeric id is the subject: the same GitHub account signs in again
    status, again = await _sign_in(app, github)
    assert again["me"]["id"] == body["me"]["id"]


async def test_unverified_primary_email_of_existing_account(app: FastAPI, github: StandIn) -> None:
    async with serve(app) as client:
        r = await client.post(
            "/auth/register", json={"email": "taken@example.com", "password": PASSWORD}
        )
        assert r.status_code == 201
    github.github_emails = [{"email": "taken@example.com", "primary": True, "verified": False}]
    status, body = await _sign_in(app, github)
    assert status == 409
    assert "has not verified this email" in body["detail"]


@pytest.mark.parametrize(
    "emails",
    [[], [{"email": "x@example.com", "primary": False, "verified": True}], {"message": "odd"}],
)
async def test_no_primary_email(app: FastAPI, github: StandIn, emails: Any) -> None:
    github.github_emails = emails
    status, body = await _sign_in(app, github)
    assert (status, body["detail"]) == (400, "github did not give an email address")


async def test_user_without_id_is_502(app: FastAPI, github: StandIn) -> None:
    github.github_user = {"login": "nobody"}
    status, body = await _sign_in(app, github)
    assert (status, body["detail"]) == (502, "github's /user answer has no id")
