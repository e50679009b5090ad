"""Settings of one sign-in provider (``RISO_AUTH_OIDC_PROVIDERS``): an OIDC issuer or GitHub.

``RISO_AUTH_OIDC_PROVIDERS`` is a JSON object of providers by name, or each
value goes in a variable of its own: ``RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__CLIENT_ID``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: what an ID token may be signed with unless the provider's ``algorithms`` say otherwise
DEFAULT_ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")
ASYMMETRIC_ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: signed with the client secret: accepted only when listed in ``algorithms``
SECRET_ID_TOKEN_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}


class OidcProviderSettings(BaseModel):
    """One provider: an OpenID Connect issuer (``kind: oidc``) or GitHub's OAuth2 preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``oidc`` (any OpenID Connect issuer) or ``github`` (GitHub's OAuth2 preset)
    kind: Literal["oidc", "github"] = "oidc"
    #: the issuer (``kind: oidc``); its discovery document is
    #: ``{issuer}/.well-known/openid-configuration``
    issuer: str | None = None
    #: the client id registered at the provider
    client_id: str = Field(min_length=1, max_length=512)
    #: the client secret registered at the provider (never logged nor echoed)
    client_secret: SecretStr
    #: space-separated; default ``openid email profile`` (GitHub: ``read:user user:email``)
    scopes: str | None = None
    #: frontend URLs the callback may redirect to, compared exactly (never a prefix)
    redirect_to: list[str] = Field(default_factory=list)
    #: the callback URL registered at the provider; default: this app's own, from the request
    callback_url: str | None = None
    #: link a new identity to the account with the same email when the provider says
    #: the email is verified (off: the user signs in and links it)
    auto_link: bool = False
    #: the ID token's signing algorithms accepted; HS* (the client secret) only if listed
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ID_TOKEN_ALGORITHMS))
    #: seconds for each call to the provider
    timeout: float = Field(default=10.0, gt=0, le=120)
    #: an unknown ``kid`` refetches the JWKS at most once per this many seconds
    jwks_refresh_interval: float = Field(default=60.0, ge=0, le=86400)
    #: GitHub preset: where its OAuth pages are (GitHub Enterprise, a stand-in in tests)
    github_url: str = "https://github.com"
    #: GitHub preset: where its REST API is (``/user``, ``/user/emails``)
    github_api_url: str = "https://api.github.com"

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        known = ASYMMETRIC_ID_TOKEN_ALGORITHMS | SECRET_ID_TOKEN_ALGORITHMS
        if not value:
            raise ValueError("needs at least one algorithm, e.g. RS256")
        refused = [alg for alg in value if alg not in known]
        if refused:
            raise ValueError(
                f"unsupported ID token algorithm {', '.join(refused)} "
                f"(alg none is never accepted); use some of {', '.join(sorted(known))}"
            )
        return value

    @field_validator("redirect_to")
    @classmethod
    def _absolute_targets(cls, value: list[str]) -> list[str]:
        for url in value:
            if not _https_or_loopback(url):
                raise ValueError(f"{url!r} must be an absolute https URL (http only on loopback)")
        return value

    @field_validator("issuer", "callback_url", "github_url", "github_api_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is not None and not _https_or_loopback(value):
            raise ValueError(f"{value!r} must be an absolute https URL (http only on loopback)")
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _issuer_for_oidc(self) -> OidcProviderSettings:
        if self.kind == "oidc" and not self.issuer:
            raise ValueError("an OpenID Connect provider (kind oidc) needs its issuer URL")
        return self

    @property
    def scope(self) -> str:
        if self.scopes is not None:
            return self.scopes
        return "read:user user:email" if self.kind == "github" else "openid email profile"


def check_provider_names(providers: dict[str, OidcProviderSettings]) -> None:
    """Names go in URLs (``/auth/oidc/{name}/...``): lower-case letters, digits, ``-``, ``_``."""
    for name in providers:
        if not PROVIDER_NAME.match(name):
            raise ValueError(
                f"provider name {name!r} must be lower-case letters, digits, '-' or '_' "
                "(it is part of the callback URL)"
            )
