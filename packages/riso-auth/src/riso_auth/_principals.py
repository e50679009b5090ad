"""Who is behind an access token: the checked ``Principal``, and the cache of recent checks.

An instance trusts an access token it fully checked (signature, claims,
revocation) for at most ``RISO_AUTH_REVOCATION_CACHE_SECONDS``; whatever
revokes a token or changes an account tells the ``PrincipalCache`` to forget
the entries it affects, so the instance that served the change honours it at
once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, exists, select

from riso_auth._digests import stamp_tag
from riso_auth._exceptions import InvalidTokenError
from riso_auth._models import AuthSession, DeniedToken, User
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService
from riso_db import DirectQuery

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Select

    from riso_db import Database

#: what every API key starts with (``riso_auth._api_keys`` builds them)
API_KEY_PREFIX = "riso_pat_"
#: cached principals kept at most (the cache is emptied when it grows past this)
CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a snapshot of the account and the access token's claims.

    To change the account, load the row: ``await session.get(riso_auth.User, user.id)``.
    """

    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    #: scopes granted to this token (the account's scopes the login asked for)
    scopes: frozenset[str]
    #: the access token's id, its session (refresh chain) id and its expiry (epoch)
    jti: str = field(repr=False)
    session_id: str = field(repr=False)
    expires_at: int = field(repr=False)
    #: set when the caller authenticated with an API key (then ``session_id`` is empty,
    #: ``expires_at`` the key's expiry or 0, and ``is_superuser`` always False)
    api_key_id: str | None = field(default=None, repr=False)

    @property
    def via_api_key(self) -> bool:
        return self.api_key_id is not None


class PrincipalCache:
    """Access tokens this instance checked recently, each trusted until its deadline.

    ``entries`` maps the exact token text to its principal and the
    ``time.monotonic()`` deadline; an entry never outlives the token's ``exp``.
    """

    def __init__(self, max_entries: int = CACHE_MAX) -> None:
        self.max_entries = max_entries
        self.entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str, now: float) -> Principal | None:
        cached = self.entries.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        return None

    def put(self, token: str, principal: Principal, deadline: float) -> None:
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[token] = (principal, deadline)

    def forget_user(self, user_id: int) -> None:
        """Every token of the account (password change, deactivation, revocation)."""
        self._forget(lambda p: p.id == user_id)

    def forget_key(self, key_id: str) -> None:
        """One API key (revoked)."""
        self._forget(lambda p: p.api_key_id == key_id)

    def forget_token(self, jti: str) -> None:
        """One access token (logout)."""
        self._forget(lambda p: p.jti == jti)

    def clear(self) -> None:
        self.entries.clear()

    def _forget(self, match: Callable[[Principal], bool]) -> None:
        for token in [t for t, (p, _) in self.entries.items() if match(p)]:
            self.entries.pop(token, None)


class KeyChecker(Protocol):
    """What checks API keys (``riso_auth._api_keys.ApiKeyStore``)."""

    async def check(
        self, token: str, session: AsyncSession | None, revocation_seconds: float
    ) -> tuple[Principal, float]: ...


class PrincipalStore:
    """Checks access tokens against the account, its session and the denylist.

    With ``keys``, a bearer token with the API-key prefix is checked by it
    instead, and with ``limit`` each use of a key is counted in its own bucket.
    """

    def __init__(
        self,
        database: Database,
        settings: AuthSettings,
        tokens: TokenService,
        cache: PrincipalCache,
        keys: KeyChecker | None = None,
        limit: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._tokens = tokens
        self.cache = cache
        self._keys = keys
        self._limit = limit

    async def lookup(self, token: str, session: AsyncSession | None = None) -> Principal:
        """The caller behind an access token; InvalidTokenError when it is not valid now.

        With ``session`` (the request's), the database is asked on its
        connection instead of one of its own.
        """
        now = time.monotonic()
        cached = self.cache.get(token, now)
        if cached is not None:
            if cached.api_key_id is not None and self._limit is not None:
                await self._limit(f"apikey:{cached.api_key_id}", "api_key")
            return cached
        if self._keys is not None and token.startswith(API_KEY_PREFIX):
            return await self._lookup_key(token, session, now)
        claims = self._tokens.decode(token, "access")
        jti = claims["jti"]
        try:
            user_id = int(claims["sub"])
        except ValueError:
            raise InvalidTokenError("sub is not an account id") from None
        session_id = claims.get("sid")
        if not isinstance(session_id, str):
            raise InvalidTokenError("access token without a session")
        params = {"user_id": user_id, "session_id": session_id, "jti": jti}
        row = await LOOKUP.first(self._database if session is None else session, params)
        if row is None:
            raise InvalidTokenError("unknown account or session")
        if row["revoked_at"] is not None or row["denied"]:
            raise InvalidTokenError("token revoked")
        if stamp_tag(row["security_stamp"]) != claims.get("stm"):
            raise InvalidTokenError("token issued before a password change")
        if not row["is_active"]:
            raise InvalidTokenError("account inactive")
        principal = Principal(
            id=row["id"],
            email=row["email"],
            is_active=row["is_active"],
            is_verified=row["is_verified"],
            is_superuser=row["is_superuser"],
            scopes=frozenset(str(claims.get("scp", "")).split()),
            jti=jti,
            session_id=session_id,
            expires_at=int(claims["exp"]),
        )
        ttl = min(self._settings.revocation_cache_seconds, claims["exp"] - time.time())
        if ttl > 0:
            self.cache.put(token, principal, now + ttl)
        return principal

    async def _lookup_key(self, token: str, session: AsyncSession | None, now: float) -> Principal:
        assert self._keys is not None
        principal, ttl = await self._keys.check(
            token, session, self._settings.revocation_cache_seconds
        )
        if ttl > 0:
            self.cache.put(token, principal, now + ttl)
        assert principal.api_key_id is not None
        await self._count_key_use(principal.api_key_id)
        return principal

    async def _count_key_use(self, key_id: str) -> None:
        if self._limit is not None:
            await self._limit(f"apikey:{key_id}", "api_key")


def _lookup_statement() -> Select[Any]:
    """One round trip: the account, its session's revocation and the denylist entry."""
    return (
        select(
            User.id,
            User.email,
            User.is_active,
            User.is_verified,
            User.is_superuser,
            User.security_stamp,
            AuthSession.revoked_at,
            exists().where(DeniedToken.jti == bindparam("jti")).label("denied"),
        )
        .select_from(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == bindparam("user_id"),
            AuthSession.id == bindparam("session_id"),
        )
    )


#: built once and compiled once per dialect; on PostgreSQL sent on the driver
#: connection directly (riso_db.DirectQuery), so a check only binds ``user_id``,
#: ``session_id`` and ``jti``. On SQLite the endpoint may write after this read:
#: riso-db ends a read-only transaction and takes the write lock at its first
#: write (riso_db._sqlite)
LOOKUP = DirectQuery(_lookup_statement())
