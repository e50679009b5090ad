"""The providers' side of sign-in, through Authlib's httpx client (riso-auth[oidc]).

``OidcProvider``: any OpenID Connect issuer. Its discovery document is
fetched on first use and cached; its JWKS is cached and fetched again when a
token names an unknown ``kid``, at most once per ``jwks_refresh_interval``.
``GitHubProvider``: GitHub's plain OAuth2 (no ID token): the user's id and
primary verified email from its API. Every call has the provider's timeout;
a provider that does not answer is a ``ProviderUnavailableError`` (502, or 504
for a timeout), never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Protocol

import jwt

from riso_auth._compat import authlib_http, authlib_oauth2_client
from riso_auth._exceptions import AuthConfigError, OidcError, ProviderUnavailableError
from riso_auth._identities import ProviderIdentity
from riso_auth._oidc_flow import FinishedFlow, StartedFlow
from riso_auth._oidc_idtoken import (
    IdTokenError,
    IdTokenVerifier,
    UnknownKeyError,
    parse_jwks,
    unverified_header,
)
from riso_auth._oidc_settings import OidcProviderSettings

EXTRA_HINT = "pip install 'riso-auth[oidc]'"
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def error_code(value: object) -> str:
    """An OAuth2 ``error`` fit to repeat to the client (anything odd is not echoed)."""
    text = str(value)
    return text if _ERROR_CODE.match(text) else "an error"


def require_oidc_extra() -> Any:
    """Authlib's httpx OAuth2 client class; AuthConfigError naming the extra if absent."""
    try:
        return authlib_oauth2_client()
    except ImportError:
        raise AuthConfigError(
            f"RISO_AUTH_OIDC_PROVIDERS is set but Authlib is not installed: {EXTRA_HINT}"
        ) from None


class Provider(Protocol):
    name: str
    settings: OidcProviderSettings

    async def authorization_url(self, flow: StartedFlow, callback_url: str) -> str: ...

    async def identify(self, code: str, flow: FinishedFlow, callback_url: str) -> ProviderIdentity:
        """Exchange the code and say who signed in (every check done)."""
        ...

    async def aclose(self) -> None: ...


class _HttpProvider:
    """What both kinds share: the Authlib client, its timeout and the error mapping."""

    def __init__(self, name: str, settings: OidcProviderSettings, client_class: Any) -> None:
        self.name = name
        self.settings = settings
        self._client_class = client_class
        self._client: Any = None
        #: httpx2 (or httpx): what Authlib's client raises and takes
        self._http = authlib_http()

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_class(
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret.get_secret_value(),
                scope=self.settings.scope,
                code_challenge_method="S256",
                timeout=self._http.Timeout(self.settings.timeout),
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def unavailable(self, exc: Exception, what: str) -> ProviderUnavailableError:
        if isinstance(exc, self._http.TimeoutException):
            return ProviderUnavailableError(
                f"{self.name} did not answer in time ({what})", status_code=504
            )
        return ProviderUnavailableError(f"{self.name} could not be reached ({what})")

    async def get_json(self, url: str, what: str, **kwargs: Any) -> Any:
        try:
            response = await self.client().request("GET", url, withhold_token=True, **kwargs)
        except self._http.HTTPError as exc:
            raise self.unavailable(exc, what) from None
        if response.status_code >= 500:
            raise ProviderUnavailableError(f"{self.name} failed ({what}: {response.status_code})")
        if response.status_code >= 400:
            raise OidcError(f"{self.name} refused the request ({what}: {response.status_code})")
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailableError(f"{self.name} answered without JSON ({what})") from None

    async def exchange(self, url: str, code: str, flow: FinishedFlow, callback_url: str) -> Any:
        """The token endpoint's answer for ``code`` (PKCE verifier and client secret sent)."""
        from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]

        client = self.client()
        try:
            return await client.fetch_token(
                url,
                grant_type="authorization_code",
                code=code,
                code_verifier=flow.code_verifier,
                redirect_uri=callback_url,
            )
        except OAuthError as exc:
            # e.g. invalid_grant: the code is spent, expired or for another client
            raise OidcError(
                f"{self.name} refused the code ({error_code(exc.error)})", status_code=401
            ) from None
        except self._http.HTTPStatusError as exc:
            raise ProviderUnavailableError(
                f"{self.name} failed (token: {exc.response.status_code})"
            ) from None
        except self._http.HTTPError as exc:
            raise self.unavailable(exc, "token") from None
        except ValueError:
            raise ProviderUnavailableError(
                f"{self.name} answered the token request oddly"
            ) from None
        finally:
            # the client is shared by every sign-in: it must not keep this user's token
            client.token = None


class OidcProvider(_HttpProvider):
    """Any OpenID Connect provider, by its issuer."""

    def __init__(
        self, name: str, settings: OidcProviderSettings, client_class: Any, *, leeway: int = 0
    ) -> None:
        super().__init__(name, settings, client_class)
        assert settings.issuer is not None
        self.issuer = settings.issuer
        self.verifier = IdTokenVerifier(
            issuer=settings.issuer,
            client_id=settings.client_id,
            algorithms=settings.algorithms,
            client_secret=settings.client_secret.get_secret_value(),
            leeway=leeway,
        )
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()
        #: how many times the JWKS was fetched (for tests and metrics)
        self.jwks_fetches = 0

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once and checked against the issuer."""
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    url = f"{self.issuer}/.well-known/openid-configuration"
                    document = await self.get_json(url, "discovery")
                    if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                        raise ProviderUnavailableError(
                            f"{self.name}'s discovery document is not for its issuer"
                        )
                    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                        if not isinstance(document.get(field), str):
                            raise ProviderUnavailableError(
                                f"{self.name}'s discovery document has no {field}"
                            )
                    self._metadata = document
        return self._metadata

    async def keys(self, *, refresh: bool = False) -> dict[str, jwt.PyJWK]:
        """The JWKS, cached; ``refresh`` (an unknown ``kid``) refetches it, at most once
        per ``jwks_refresh_interval``, so forged kids cannot make us hammer the provider."""
        if self._keys is None or (refresh and self._refresh_due()):
            await self.metadata()
            async with self._lock:
                if self._keys is None or (refresh and self._refresh_due()):
                    if self._keys is not None:
                        self._refreshed_at = time.monotonic()
                    uri = (await self._metadata_unlocked())["jwks_uri"]
                    document = await self.get_json(uri, "jwks")
                    self.jwks_fetches += 1
                    try:
                        self._keys = parse_jwks(document)
                    except IdTokenError as exc:
                        raise ProviderUnavailableError(f"{self.name}: {exc}") from None
        assert self._keys is not None
        return self._keys

    def _refresh_due(self) -> bool:
        return time.monotonic() - self._refreshed_at >= self.settings.jwks_refresh_interval

    async def _metadata_unlocked(self) -> dict[str, Any]:
        # called under the lock: metadata() would wait for it
        assert self._metadata is not None, "metadata() runs before keys()"
        return self._metadata

    async def authorization_url(self, flow: StartedFlow, callback_url: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        url, _ = self.client().create_authorization_url(
            endpoint,
            state=flow.state,
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
            redirect_uri=callback_url,
        )
        return str(url)

    async def check_id_token(self, token: object, nonce: str | None) -> dict[str, Any]:
        """The claims of a valid ID token; an unknown kid refetches the JWKS once."""
        if not isinstance(token, str):
            raise IdTokenError("the provider returned no ID token")
        header = unverified_header(token)
        await self.metadata()
        try:
            key = self.verifier.key_for(header, await self.keys())
        except UnknownKeyError:
            key = self.verifier.key_for(header, await self.keys(refresh=True))
        return self.verifier.verify(token, key, nonce)

    async def identify(self, code: str, flow: FinishedFlow, callback_url: str) -> ProviderIdentity:
        metadata = await self.metadata()
        answer = await self.exchange(metadata["token_endpoint"], code, flow, callback_url)
        try:
            claims = await self.check_id_token(answer.get("id_token"), flow.nonce)
        except IdTokenError as exc:
            raise OidcError(str(exc), status_code=401) from None
        if "email" not in claims and isinstance(metadata.get("userinfo_endpoint"), str):
            claims = await self._with_userinfo(claims, metadata["userinfo_endpoint"], answer)
        return _identity_of(claims)

    async def _with_userinfo(
        self, claims: dict[str, Any], endpoint: str, answer: Any
    ) -> dict[str, Any]:
        """The email claims from userinfo, used only if its ``sub`` is the ID token's."""
        access = answer.get("access_token")
        if not isinstance(access, str):
            return claims
        info = await self.get_json(
            endpoint, "userinfo", headers={"Authorization": f"Bearer {access}"}
        )
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise OidcError(f"{self.name}'s userinfo is for another subject", status_code=401)
        return {**claims, **{k: info[k] for k in ("email", "email_verified") if k in info}}


def _identity_of(claims: dict[str, Any]) -> ProviderIdentity:
    email = claims.get("email")
    verified = claims.get("email_verified")
    return ProviderIdentity(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        # some providers send "true" as text; anything else is not a verification
        email_verified=verified is True or verified == "true",
    )


class GitHubProvider(_HttpProvider):
    """GitHub's OAuth2 (no ID token): the numeric user id, the primary verified email."""

    async def authorization_url(self, flow: StartedFlow, callback_url: str) -> str:
        url, _ = self.client().create_authorization_url(
            f"{self.settings.github_url}/login/oauth/authorize",
            state=flow.state,
            code_verifier=flow.code_verifier,
            redirect_uri=callback_url,
        )
        return str(url)

    async def identify(self, code: str, flow: FinishedFlow, callback_url: str) -> ProviderIdentity:
        answer = await self.exchange(
            f"{self.settings.github_url}/login/oauth/access_token", code, flow, callback_url
        )
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise OidcError(f"{self.name} returned no access token", status_code=401)
        headers = {
            "Authorization": f"Bearer {access}",
            "Accept": "application/vnd.github+json",
        }
        api = self.settings.github_api_url
        user = await self.get_json(f"{api}/user", "user", headers=headers)
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise ProviderUnavailableError(f"{self.name}'s /user answer has no id")
        emails = await self.get_json(f"{api}/user/emails", "emails", headers=headers)
        primary = next(
            (
                e
                for e in (emails if isinstance(emails, list) else [])
                if isinstance(e, dict) and e.get("primary") is True
            ),
            None,
        )
        email = primary.get("email") if primary else None
        return ProviderIdentity(
            subject=str(user["id"]),
            email=email if isinstance(email, str) and email else None,
            email_verified=bool(primary and primary.get("verified") is True),
        )


def build_providers(
    settings: dict[str, OidcProviderSettings], *, leeway: int = 0
) -> dict[str, Provider]:
    """A client per configured provider (AuthConfigError naming the extra without Authlib)."""
    if not settings:
        return {}
    client_class = require_oidc_extra()
    built: dict[str, Provider] = {}
    for name, provider in settings.items():
        built[name] = (
            GitHubProvider(name, provider, client_class)
            if provider.kind == "github"
            else OidcProvider(name, provider, client_class, leeway=leeway)
        )
    return built
