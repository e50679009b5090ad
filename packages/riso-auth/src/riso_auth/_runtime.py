"""``AuthRuntime``: riso-auth for one app, the object that builds and holds its stores.

``riso.include`` builds it (riso's registry, ``extensions["auth"]``); the
endpoints, the dependencies, the CLI and ``authenticate_request`` use it. Each
job is a store of its own, given its collaborators when built:

* ``accounts`` (``AccountStore``): create, authenticate, change passwords, (de)activate
* ``sessions`` (``SessionStore``): login, refresh chains, logout, the denylist
* ``principals`` (``PrincipalStore``): who is behind an access token, cached briefly
* ``one_time`` (``OneTimeTokens``): reset and verification tokens
* ``limits`` (``RateLimits``) on ``limiter`` (database or Redis counters)
* ``identities`` (``IdentityStore``), ``oidc_flows`` (``FlowStore``) and
  ``oidc_providers`` (built at include from ``RISO_AUTH_OIDC_PROVIDERS``): provider sign-in
* ``api_keys`` (``ApiKeyStore``): personal access tokens, and their check
* ``roles`` (``RoleStore``), ``admin`` (``AccountAdmin``), ``email_changes``
  (``EmailChanges``) and ``events`` (``EventRegistry``, handlers run after commit)

The methods below the stores are the runtime's public API of 0.1 and
delegate to them.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING

from riso_auth._account_admin import AccountAdmin
from riso_auth._accounts import AccountStore
from riso_auth._api_keys import ApiKeyStore, derive_key
from riso_auth._email_change import EmailChanges
from riso_auth._events import AccountEvent, EventName, EventRegistry
from riso_auth._exceptions import AuthConfigError
from riso_auth._identities import IdentityStore
from riso_auth._mail import LogMailSender, MailMessage, MailSender, load_sender, token_mail
from riso_auth._models import User
from riso_auth._oidc_flow import FlowStore
from riso_auth._one_time import OneTimeTokens
from riso_auth._passwords import PasswordService
from riso_auth._principals import Principal, PrincipalCache, PrincipalStore
from riso_auth._ratelimit import RateLimiter, RateLimits, make_limiter
from riso_auth._roles import RoleStore
from riso_auth._sessions import SessionStore, TokenPair
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService, generate_secret

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

    from riso_auth._oidc_providers import Provider
    from riso_db import Database


logger = logging.getLogger("riso.auth")
_announced = threading.Event()


def announce_generated_secret() -> None:
    """Say once per process, as a log line, that tokens are signed with a generated secret.

    Said when the app starts serving, not when it is included: the CLI's
    commands (``riso db upgrade``) include the app but sign no token, and
    ``riso check`` reports auth.W001 instead.
    """
    if _announced.is_set():
        return
    _announced.set()
    logger.warning(
        "RISO_AUTH_SECRET_KEY is not set: riso-auth generated one for this process, so tokens "
        "stop working when it restarts and are not shared between processes; set "
        "RISO_AUTH_SECRET_KEY (at least 32 characters)"
    )


class AuthRuntime:
    """riso-auth for one app: settings, token and password services, and the stores."""

    def __init__(self, app: FastAPI | None, settings: AuthSettings, *, production: bool) -> None:
        self.app = app
        self.settings = settings
        self.production = production
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.secret_generated = False
        if secret is None and not settings.is_asymmetric:
            secret = generate_secret()
            self.secret_generated = True
        self.tokens = TokenService(settings, secret)
        self._key_material = (
            secret.encode()
            if secret is not None
            else settings.private_key_file.read_bytes()
            if settings.private_key_file is not None
            else generate_secret().encode()
        )
        #: handlers of account events (``riso_auth.on``)
        self.events = EventRegistry()
        self.passwords = PasswordService(settings)
        self._mail: MailSender = (
            load_sender(settings.mail_sender)
            if settings.mail_sender
            else LogMailSender(production=production)
        )
        #: False once the app set its own sender object (a worker could not rebuild it)
        self.mail_from_settings = True
        #: told by the accounts and sessions to forget what they revoke
        self.principal_cache = PrincipalCache()
        self._database: Database | None = None
        self._limits: RateLimits | None = None
        #: the sign-in providers by name (``riso_auth._oidc_providers``, riso-auth[oidc])
        self.oidc_providers: dict[str, Provider] = {}

    # --- wiring -------------------------------------------------------------
    @property
    def mail(self) -> MailSender:
        return self._mail

    @mail.setter
    def mail(self, sender: MailSender) -> None:
        self._mail = sender
        self.mail_from_settings = False

    @property
    def database(self) -> Database:
        if self._database is None:
            if self.app is None:
                raise AuthConfigError("riso-auth is not attached to an app")
            from riso_db import database

            self._database = database(self.app)
        return self._database

    @cached_property
    def accounts(self) -> AccountStore:
        return AccountStore(self.database, self.passwords, self.principal_cache)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.database, self.settings, self.tokens, self.principal_cache)

    @cached_property
    def principals(self) -> PrincipalStore:
        return PrincipalStore(
            self.database,
            self.settings,
            self.tokens,
            self.principal_cache,
            keys=self.api_keys,
            # no per-key counting at all when limits are off: a cached key costs what a JWT does
            limit=self.limit if self.settings.rate_limit_enabled else None,
        )

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        # keyed from the signing secret (or private key): rotating it retires every API key
        return ApiKeyStore(self.database, derive_key(self._key_material))

    @cached_property
    def roles(self) -> RoleStore:
        return RoleStore(self.database, self.principal_cache)

    @cached_property
    def admin(self) -> AccountAdmin:
        return AccountAdmin(self.database, self.principal_cache)

    @cached_property
    def email_changes(self) -> EmailChanges:
        return EmailChanges(self.database, self.settings, self.tokens, self.principal_cache)

    async def emit(self, name: EventName, user_id: int, email: str, **data: object) -> None:
        """Run the handlers of an account event (after the change committed)."""
        await self.events.emit(AccountEvent(name, user_id, email, dict(data)))

    @cached_property
    def one_time(self) -> OneTimeTokens:
        return OneTimeTokens(self.database, self.settings, self.tokens)

    @cached_property
    def identities(self) -> IdentityStore:
        return IdentityStore(self.database, self.principal_cache)

    @cached_property
    def oidc_flows(self) -> FlowStore:
        return FlowStore(self.database, self.settings.oidc_flow_lifetime)

    @property
    def limits(self) -> RateLimits:
        """The rate limits, on a limiter built on first use (again after ``close``)."""
        if self._limits is None:
            self._limits = RateLimits(self.settings, make_limiter(self.settings, self.database))
        return self._limits

    @property
    def limiter(self) -> RateLimiter:
        return self.limits.limiter

    def check_startable(self) -> None:
        if self.secret_generated and self.production:
            raise AuthConfigError(
                "RISO_AUTH_SECRET_KEY is required under RISO_ENV=production "
                "(riso check --deploy reports auth.E001)"
            )
        if self.secret_generated:
            announce_generated_secret()

    async def close(self) -> None:
        self.passwords.close()
        self.principal_cache.clear()
        limits, self._limits = self._limits, None
        if limits is not None:
            await limits.limiter.close()
        for provider in self.oidc_providers.values():
            await provider.aclose()

    # --- rate limits (RateLimits) ---------------------------------------------
    async def limit(self, bucket: str, rate_name: str) -> None:
        await self.limits.limit(bucket, rate_name)

    async def check_login_allowed(self, email: str, address: str) -> None:
        await self.limits.check_login_allowed(email, address)

    async def record_login_failure(self, email: str, address: str) -> None:
        await self.limits.record_login_failure(email, address)

    # --- accounts (AccountStore) ------------------------------------------------
    async def create_user(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        scopes: str = "",
    ) -> User:
        return await self.accounts.create_user(
            email, password, is_superuser=is_superuser, is_verified=is_verified, scopes=scopes
        )

    async def authenticate(self, email: str, password: str) -> User | None:
        return await self.accounts.authenticate(email, password)

    async def set_password(self, user_id: int, new_password: str, email: str) -> None:
        await self.accounts.set_password(user_id, new_password, email)

    async def set_active(self, user_id: int, active: bool) -> None:
        await self.accounts.set_active(user_id, active)

    async def revoke_all_sessions(self, user_id: int) -> None:
        await self.accounts.revoke_all_sessions(user_id)

    async def mark_verified(self, user_id: int) -> None:
        await self.accounts.mark_verified(user_id)

    # --- sessions (SessionStore) ------------------------------------------------
    async def login(self, user: User, requested_scopes: list[str] | None = None) -> TokenPair:
        return await self.sessions.login(user, requested_scopes)

    async def refresh(self, refresh_token: str) -> TokenPair:
        return await self.sessions.refresh(refresh_token)

    async def logout(self, principal: Principal) -> None:
        await self.sessions.logout(principal)

    # --- access tokens (PrincipalStore) -----------------------------------------
    async def principal(self, token: str, session: AsyncSession | None = None) -> Principal:
        return await self.principals.lookup(token, session)

    # --- one-time tokens (OneTimeTokens) and their mail ----------------------------
    async def request_token_mail(self, email: str, kind: str) -> MailMessage | None:
        """Prepare a reset or verification mail; None when there is nothing to send.

        The caller answers the same either way; sending happens after the response.
        """
        issued = await self.one_time.issue(email, kind)
        return None if issued is None else token_mail(issued.kind, issued.email, issued.link)

    async def consume_token(self, token: str, kind: str) -> User:
        return await self.one_time.consume(token, kind)
