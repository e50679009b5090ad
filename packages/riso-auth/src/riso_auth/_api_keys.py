"""API keys (personal access tokens): their format, their keyed hash, the store and the check.

A key reads ``riso_pat_<id>_<secret>``: the fixed prefix lets secret scanners
(GitHub's, gitleaks, trufflehog) recognise a leaked key, ``<id>`` (16 hex) is
the row's public primary key and ``<secret>`` 32 random bytes (base64url).

Only an HMAC-SHA256 of the secret is stored, keyed with a key derived from the
app's secret. A password needs a slow hash (argon2id) because people choose
guessable ones; a 256-bit random secret cannot be guessed however fast the
hash, so a slow one would only cost CPU on every check. The HMAC key means
a stolen database alone does not even let one test candidate keys.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select, update

from riso_auth._exceptions import ApiKeyError, InvalidTokenError
from riso_auth._models import ApiKey, User
from riso_auth._principals import API_KEY_PREFIX, Principal
from riso_auth._roles import account_scopes, role_scopes

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.sql import Select

    from riso_db import Database

logger = logging.getLogger("riso.auth")

KEY_PREFIX = API_KEY_PREFIX
_KEY = re.compile(r"^riso_pat_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
#: ``last_used_at`` is written at most once per this many seconds per key (and instance)
LAST_USED_EVERY = 60


def derive_key(material: bytes) -> bytes:
    """The HMAC key of API-key hashes, derived from the app's secret (never the secret itself)."""
    return hmac.new(material, b"riso-auth api-key hash v1", hashlib.sha256).digest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: ``key`` is its full text, shown once and never stored."""

    row: ApiKey
    key: str


class ApiKeyStore:
    """The ``auth_api_keys`` rows: create, list, revoke; and the check of a presented key."""

    def __init__(self, database: Database, hash_key: bytes) -> None:
        self._database = database
        self._hash_key = hash_key

    def _digest(self, secret: str) -> str:
        return hmac.new(self._hash_key, secret.encode(), hashlib.sha256).hexdigest()

    # --- management -------------------------------------------------------------
    async def create(
        self, user_id: int, name: str, scopes: list[str], expires_in_days: int | None = None
    ) -> NewKey:
        """A new key for the account; ApiKeyError when it asks for scopes the account lacks."""
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = ApiKey(
            id=key_id,
            user_id=user_id,
            name=name,
            prefix=f"{KEY_PREFIX}{key_id}",
            key_hash=self._digest(secret),
            scopes=" ".join(sorted(set(scopes))),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        async with self._database.sessionmaker() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise ApiKeyError("no such account")
            missing = sorted(set(scopes) - await account_scopes(session, user))
            if missing:
                raise ApiKeyError(f"scopes the account does not hold: {' '.join(missing)}")
            session.add(row)
            await session.commit()
        return NewKey(row, f"{KEY_PREFIX}{key_id}_{secret}")

    async def list(self, user_id: int) -> list[ApiKey]:
        """The account's keys that are not revoked, newest first."""
        async with self._database.sessionmaker() as session:
            found = await session.execute(
                select(ApiKey)
                .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
                .order_by(ApiKey.created_at.desc(), ApiKey.id)
            )
            return list(found.scalars())

    async def revoke(self, user_id: int, key_id: str) -> bool:
        """Revoke one key of the account; False when it has no such key (or revoked already)."""
        async with self._database.sessionmaker() as session:
            done = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return bool(done.rowcount)  # type: ignore[attr-defined]

    # --- the check ------------------------------------------------------------------
    async def check(
        self, token: str, session: AsyncSession | None, revocation_seconds: float
    ) -> tuple[Principal, float]:
        """The caller behind a key and how long it may be trusted; InvalidTokenError if none."""
        match = _KEY.match(token)
        if match is None:
            raise InvalidTokenError("malformed API key")
        key_id, secret = match.groups()
        if session is None:
            async with self._database.engine.connect() as conn:
                row, extra = await self._row(conn, key_id)
        else:
            row, extra = await self._row(await session.connection(), key_id)
        if row is None or not hmac.compare_digest(row.key_hash, self._digest(secret)):
            raise InvalidTokenError("unknown API key")
        now = datetime.now(UTC)
        if row.revoked_at is not None:
            raise InvalidTokenError("API key revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise InvalidTokenError("API key expired")
        if not row.is_active:
            raise InvalidTokenError("account inactive")
        if row.last_used_at is None or row.last_used_at < now - timedelta(seconds=LAST_USED_EVERY):
            await self._touch(key_id, now)
        # the key keeps only what its owner still holds (a scope or role taken away)
        scopes = set(row.key_scopes.split()) & (set(row.user_scopes.split()) | extra)
        ttl = revocation_seconds
        if row.expires_at is not None:
            ttl = min(ttl, (row.expires_at - now).total_seconds())
        principal = Principal(
            id=row.id,
            email=row.email,
            is_active=row.is_active,
            is_verified=row.is_verified,
            # a key never carries superuser rights: give it the scope auth:admin instead
            is_superuser=False,
            scopes=frozenset(scopes),
            jti=f"key:{key_id}",
            session_id="",
            expires_at=int(row.expires_at.timestamp()) if row.expires_at else 0,
            api_key_id=key_id,
        )
        return principal, ttl

    async def _row(self, conn: AsyncConnection, key_id: str) -> tuple[Any, set[str]]:
        row = (await conn.execute(LOOKUP, {"key_id": key_id})).first()
        extra: set[str] = set()
        if row is not None and set(row.key_scopes.split()) - set(row.user_scopes.split()):
            # some scope may come from a role: one more query, only for such keys
            extra = await role_scopes(conn, row.id)
        return row, extra

    async def _touch(self, key_id: str, now: datetime) -> None:
        """Record the use, at most once a minute: a conditional UPDATE, never a failed request."""
        cutoff = now - timedelta(seconds=LAST_USED_EVERY)
        try:
            async with self._database.engine.begin() as conn:
                await conn.execute(
                    update(ApiKey)
                    .where(
                        ApiKey.id == key_id,
                        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < cutoff),
                    )
                    .values(last_used_at=now)
                )
        except Exception as exc:  # the key was valid: a bookkeeping failure must not refuse it
            logger.warning("could not record an API key's last use (%s)", type(exc).__name__)


def _lookup_statement() -> Select[Any]:
    """One round trip: the key's row and its owner's."""
    return (
        select(
            User.id,
            User.email,
            User.is_active,
            User.is_verified,
            User.scopes.label("user_scopes"),
            ApiKey.key_hash,
            ApiKey.scopes.label("key_scopes"),
            ApiKey.expires_at,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
        )
        .select_from(ApiKey)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.id == bindparam("key_id"))
    )


#: built once, like the access-token check's statement
LOOKUP = _lookup_statement()
