"""Provider settings: the two shapes pydantic-settings reads, startup errors naming the
variable (never the secret), the one-line error without ``riso-auth[oidc]``, and the
private Authlib API riso-auth relies on (``_compat``)."""

from __future__ import annotations

import inspect
import json
import sys

import pytest
from fastapi import FastAPI
from riso_test_support.auth import SECRET, make_app

import riso
import riso_auth
import riso_db
from riso_auth import AuthConfigError, AuthSettings
from riso_auth._compat import authlib_http, authlib_oauth2_client

CLIENT_SECRET = "very-secret-client-secret-do-not-print"
GOOD = {"issuer": "https://id.example/realms/a", "client_id": "app", "client_secret": CLIENT_SECRET}


def _include(monkeypatch: pytest.MonkeyPatch, providers: object) -> FastAPI:
    monkeypatch.setenv("RISO_DB_URL", "sqlite://")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS", json.dumps(providers))
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    return app


def test_json_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _include(monkeypatch, {"keycloak": GOOD, "gh": {"kind": "github", **GOOD}})
    providers = riso_auth.runtime(app).oidc_providers
    assert sorted(providers) == ["gh", "keycloak"]
    assert providers["keycloak"].settings.scope == "openid email profile"
    assert providers["gh"].settings.scope == "read:user user:email"
    assert providers["keycloak"].settings.algorithms == ["RS256", "PS256", "ES256"]


def test_one_variable_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__ISSUER", GOOD["issuer"])
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__CLIENT_ID", "app")
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(
        "RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__REDIRECT_TO", '["https://app.example/cb"]'
    )
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__AUTO_LINK", "true")
    settings = AuthSettings()
    keycloak = settings.oidc_providers["keycloak"]
    assert keycloak.redirect_to == ["https://app.example/cb"]
    assert keycloak.auto_link is True
    assert keycloak.client_secret.get_secret_value() == CLIENT_SECRET
    assert CLIENT_SECRET not in repr(settings)
    assert CLIENT_SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("providers", "variable", "message"),
    [
        ({"k": {**GOOD, "issuer": None}}, "RISO_AUTH_OIDC_PROVIDERS__K", "needs its issuer URL"),
        (
            {"k": {**GOOD, "issuer": "ftp://id.example"}},
            "RISO_AUTH_OIDC_PROVIDERS__K__ISSUER",
            "must be an absolute https URL",
        ),
        (
            {"k": {**GOOD, "issuer": "http://id.example"}},
            "RISO_AUTH_OIDC_PROVIDERS__K__ISSUER",
            "http only on loopback",
        ),
        (
            {"k": {k: v for k, v in GOOD.items() if k != "client_secret"}},
            "RISO_AUTH_OIDC_PROVIDERS__K__CLIENT_SECRET",
            "required",
        ),
        (
            {"k": {**GOOD, "algorithms": ["none"]}},
            "RISO_AUTH_OIDC_PROVIDERS__K__ALGORITHMS",
            "alg none is never accepted",
        ),
        (
            {"k": {**GOOD, "redirect_to": ["javascript:alert(1)"]}},
            "RISO_AUTH_OIDC_PROVIDERS__K__REDIRECT_TO",
            "must be an absolute https URL",
        ),
        ({"k": {**GOOD, "scope": "x"}}, "RISO_AUTH_OIDC_PROVIDERS__K__SCOPE", "Extra inputs"),
        ({"Bad Name": GOOD}, "RISO_AUTH_OIDC_PROVIDERS", "must be lower-case letters"),
        ({"k": {**GOOD, "timeout": 0}}, "RISO_AUTH_OIDC_PROVIDERS__K__TIMEOUT", "greater than"),
    ],
)
def test_misconfigured_provider_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, providers: object, variable: str, message: str
) -> None:
    with pytest.raises(riso.SettingsError) as caught:
        _include(monkeypatch, providers)
    text = str(caught.value)
    assert variable in [problem[0] for problem in caught.value.problems], text
    assert message in text
    assert CLIENT_SECRET not in text


def test_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_AUTH_OIDC_PROVIDERS", "{not json")
    with pytest.raises(riso.SettingsError) as caught:
        _include_raw(monkeypatch)
    assert "RISO_AUTH_OIDC_PROVIDERS" in str(caught.value)


def _include_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", "sqlite://")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    riso.include(FastAPI(), features=[riso_db.feature, riso_auth.feature])


def test_without_the_extra_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # as if Authlib were not installed: importing it fails
    monkeypatch.setitem(sys.modules, "authlib.integrations.httpx_client", None)
    with pytest.raises(AuthConfigError) as caught:
        _include(monkeypatch, {"k": GOOD})
    message = str(caught.value)
    assert "\n" not in message
    assert "pip install 'riso-auth[oidc]'" in message
    assert CLIENT_SECRET not in message


def test_without_the_extra_and_without_providers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setitem(sys.modules, "authlib.integrations.httpx_client", None)
    app = make_app(f"sqlite:///{tmp_path}/a.db", monkeypatch)
    assert riso_auth.runtime(app).oidc_providers == {}
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/auth/oidc")]


# --- the private Authlib API (riso_auth._compat) -----------------------------------
def test_authlib_http_module_has_what_riso_auth_uses() -> None:
    http = authlib_http()
    for name in ("Timeout", "TimeoutException", "HTTPError", "HTTPStatusError"):
        assert isinstance(getattr(http, name), type), name
    assert issubclass(http.TimeoutException, http.HTTPError)


def test_authlib_client_api() -> None:
    client_class = authlib_oauth2_client()
    assert "withhold_token" in inspect.signature(client_class.request).parameters
    client = client_class(client_id="c", client_secret="s", code_challenge_method="S256")
    url, state = client.create_authorization_url(
        "https://id.example/auth", state="st", code_verifier="v" * 43, nonce="n"
    )
    assert state == "st"
    assert "code_challenge=" in url
    assert "code_challenge_method=S256" in url
    assert "nonce=n" in url
    assert isinstance(client, authlib_http().AsyncClient)
