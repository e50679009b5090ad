"""A validly signed token living longer than riso-auth issues is refused (issue 19, defect 13).

``exp = 10**30`` used to pass ``/auth/me`` and make ``POST /auth/logout``
answer 500 (OverflowError building the denylist row's datetime).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from riso_test_support.auth import AppFactory, bearer, register_and_login, serve
from riso_test_support.forgery import claims

import riso_auth
from riso_auth._exceptions import InvalidTokenError
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService

SECRET = "s" * 40


def _signed(service: TokenService, payload: dict[str, Any]) -> str:
    return service._jwt.encode(payload, service._signing_key, algorithm=service.algorithm)


@pytest.fixture
def hs_app(app_factory: AppFactory, sqlite_url: str) -> FastAPI:
    return app_factory(sqlite_url)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": 10**30},
        {"exp": 2**63},
        {"exp": 1e300},
        {"exp": int(time.time()) + 86400},  # a day: access tokens live 15 minutes
        {"iat": int(time.time()) - 86400, "exp": int(time.time()) + 600},  # lifetime a day
    ],
    ids=["10**30", "2**63", "1e300", "one day ahead", "one day long"],
)
async def test_overlong_access_token_is_refused_over_http(
    hs_app: FastAPI, changes: dict[str, Any]
) -> None:
    service = riso_auth.runtime(hs_app).tokens
    async with serve(hs_app) as client:
        pair = await register_and_login(client, "victim@example.com")
        good = service.decode(pair["access_token"], "access")
        forged = _signed(
            service,
            {
                **claims(service, subject=good["sub"]),
                "sid": good["sid"],
                "stm": good["stm"],
                **changes,
            },
        )
        r = await client.get("/auth/me", headers=bearer(forged))
        assert r.status_code == 401, r.text
        r = await client.post("/auth/logout", headers=bearer(forged))
        assert r.status_code == 401, r.text
        # the real token still works
        r = await client.get("/auth/me", headers=bearer(pair["access_token"]))
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("typ", "lifetime_setting"),
    [
        ("access", "access_token_lifetime"),
        ("refresh", "refresh_token_lifetime"),
        ("reset", "reset_token_lifetime"),
        ("verify", "verify_token_lifetime"),
    ],
)
def test_each_type_is_bounded_by_its_own_lifetime(typ: Any, lifetime_setting: str) -> None:
    settings = AuthSettings()
    service = TokenService(settings, SECRET)
    lifetime = getattr(settings, lifetime_setting)
    now = int(time.time())
    # what riso-auth issues passes
    token, _ = service.issue(typ, "1", lifetime, now=now)
    service.decode(token, typ)
    # an hour longer than it issues: refused, whether measured from iat or from now
    too_long = _signed(
        service, {**claims(service, typ=typ), "iat": now, "nbf": now, "exp": now + lifetime + 3600}
    )
    with pytest.raises(InvalidTokenError):
        service.decode(too_long, typ)
    old_iat = _signed(
        service,
        {
            **claims(service, typ=typ),
            "iat": now - lifetime - 3600,
            "nbf": now - lifetime - 3600,
            "exp": now + 60,
        },
    )
    with pytest.raises(InvalidTokenError):
        service.decode(old_iat, typ)


def test_exp_before_iat_is_refused() -> None:
    service = TokenService(AuthSettings(), SECRET)
    now = int(time.time())
    token = _signed(service, {**claims(service), "iat": now, "exp": now - 1 + 600, "nbf": now})
    service.decode(token, "access")
    backwards = _signed(service, {**claims(service), "iat": now + 30, "exp": now + 20})
    with pytest.raises(InvalidTokenError):
        service.decode(backwards, "access")
