"""Sessions: login, rotating refresh chains with reuse detection, logout and the denylist.

All session state (refresh chains, spent tokens, the denylist) is in the
database, so it holds across every instance sharing it.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._digests import stamp_tag, token_hash
from riso_auth._exceptions import InvalidTokenError
from riso_auth._models import AuthSession, DeniedToken, RefreshToken, User
from riso_auth._principals import Principal, PrincipalCache
from riso_auth._roles import role_scopes
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from riso_db import Database

logger = logging.getLogger("riso.auth")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


class SessionStore:
    """The ``auth_sessions`` chains, their refresh tokens and the access-token denylist."""

    def __init__(
        self,
        database: Database,
        settings: AuthSettings,
        tokens: TokenService,
        principals: PrincipalCache,
    ) -> None:
        self._database = database
        self._settings = settings
        self._tokens = tokens
        self._principals = principals

    async def login(self, user: User, requested_scopes: list[str] | None = None) -> TokenPair:
        """Start a refresh chain for ``user`` and issue its first token pair.

        The token carries the account's scopes and its roles' (those asked for,
        when the login asks for some).
        """
        async with self._database.sessionmaker() as session:
            held = set(user.scope_list) | await role_scopes(session, user.id)
        granted = sorted(held if not requested_scopes else set(requested_scopes) & held)
        now = datetime.now(UTC)
        session_id = uuid.uuid4().hex
        absolute = now + timedelta(seconds=self._settings.session_absolute_lifetime)
        async with self._database.sessionmaker() as session:
            session.add(
                AuthSession(
                    id=session_id, user_id=user.id, created_at=now, absolute_expires_at=absolute
                )
            )
            await session.flush()
            pair = self._issue_pair(
                session, user.id, user.security_stamp, session_id, granted, None, now, absolute
            )
            await session.commit()
        return pair

    def _issue_pair(
        self,
        session: AsyncSession,
        user_id: int,
        stamp: str,
        session_id: str,
        scopes: list[str],
        parent_id: str | None,
        now: datetime,
        absolute: datetime,
    ) -> TokenPair:
        settings = self._settings
        tag = stamp_tag(stamp)
        issued = int(now.timestamp())
        access_lifetime = settings.access_token_lifetime
        access, _ = self._tokens.issue(
            "access",
            str(user_id),
            access_lifetime,
            {"sid": session_id, "scp": " ".join(scopes), "stm": tag},
            now=issued,
        )
        refresh_expires = min(now + timedelta(seconds=settings.refresh_token_lifetime), absolute)
        refresh_id = uuid.uuid4().hex
        refresh, _ = self._tokens.issue(
            "refresh",
            str(user_id),
            max(1, int((refresh_expires - now).total_seconds())),
            {"sid": session_id, "scp": " ".join(scopes), "stm": tag},
            jti=refresh_id,
            now=issued,
        )
        session.add(
            RefreshToken(
                id=refresh_id,
                session_id=session_id,
                parent_id=parent_id,
                token_hash=token_hash(refresh),
                issued_at=now,
                expires_at=refresh_expires,
            )
        )
        return TokenPair(access, refresh, access_lifetime, session_id)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; it is spent, whatever happens next.

        The exchange is one conditional UPDATE (``used_at IS NULL``): of two
        requests racing with the same token, exactly one changes the row. The
        other, like any later use of a spent token, is treated as theft and
        revokes the whole chain.
        """
        claims = self._tokens.decode(refresh_token, "refresh")
        jti, session_id = claims["jti"], claims.get("sid")
        if not isinstance(session_id, str):
            raise InvalidTokenError("refresh token without a session")
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            spent = await session.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.id == jti,
                    RefreshToken.session_id == session_id,
                    RefreshToken.token_hash == token_hash(refresh_token),
                    RefreshToken.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                await self._on_reuse(jti, session_id, refresh_token, now)
                raise InvalidTokenError("refresh token already used or unknown")
            row = (
                await session.execute(
                    select(AuthSession, User)
                    .join(User, User.id == AuthSession.user_id)
                    .where(AuthSession.id == session_id)
                )
            ).one_or_none()
            if row is None:
                await session.commit()
                raise InvalidTokenError("unknown session")
            chain, user = row
            if (
                chain.revoked_at is not None
                or chain.absolute_expires_at <= now
                or not user.is_active
                or str(user.id) != claims["sub"]
                or stamp_tag(user.security_stamp) != claims.get("stm")
            ):
                await session.commit()  # the token stays spent
                raise InvalidTokenError("session revoked or expired")
            # a scope or role taken away since the last token is dropped now
            held = set(user.scope_list) | await role_scopes(session, user.id)
            scopes = [s for s in str(claims.get("scp", "")).split() if s in held]
            pair = self._issue_pair(
                session,
                user.id,
                user.security_stamp,
                session_id,
                scopes,
                jti,
                now,
                chain.absolute_expires_at,
            )
            await session.commit()
        return pair

    async def _on_reuse(self, jti: str, session_id: str, token: str, now: datetime) -> None:
        # one statement, write first: revoke the chain if this token was already spent
        spent = (
            select(RefreshToken.id)
            .where(
                RefreshToken.id == jti,
                RefreshToken.session_id == session_id,
                RefreshToken.token_hash == token_hash(token),
                RefreshToken.used_at.is_not(None),
            )
            .exists()
        )
        async with self._database.sessionmaker() as session:
            result = await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None), spent)
                .values(revoked_at=now, revoked_reason="reuse")
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        if result.rowcount:  # type: ignore[attr-defined]
            logger.warning("a spent refresh token was presented again: its chain is revoked")

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's refresh chain and deny its access token until it expires."""
        now = datetime.now(UTC)
        expires = datetime.fromtimestamp(principal.expires_at, UTC)
        async with self._database.sessionmaker() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == principal.session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason="logout")
            )
            exists_already = await session.get(DeniedToken, principal.jti)
            if exists_already is None:
                session.add(DeniedToken(jti=principal.jti, expires_at=expires))
            if random.randrange(20) == 0:  # noqa: S311 - housekeeping, not security
                await session.execute(delete(DeniedToken).where(DeniedToken.expires_at < now))
            try:
                await session.commit()
            except IntegrityError:  # a concurrent logout with the same token
                await session.rollback()
        self._principals.forget_token(principal.jti)
