"""Changing an account's email: a signed one-time token carries the new address.

The token is a ``verify`` JWT with ``act: email_change`` and the new address,
bound to the current address and security stamp, and recorded in
``auth_one_time_tokens`` (purpose ``email_change``) so it works once. No
column holds a pending address: until the token is spent the account, and its
old address, are exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._digests import stamp_tag
from riso_auth._exceptions import AccountExistsError, InvalidTokenError
from riso_auth._models import AuthSession, OneTimeToken, User
from riso_auth._principals import PrincipalCache
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService

if TYPE_CHECKING:
    from riso_db import Database

PURPOSE = "email_change"
TAKEN = "an account with this email already exists"


@dataclass(frozen=True, slots=True)
class EmailChange:
    """A change requested (``link`` holds the token) or done."""

    user_id: int
    old_email: str
    new_email: str
    link: str = ""


class EmailChanges:
    """Issue and spend email-change tokens; check a recent sign-in."""

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

    async def request(self, user_id: int, new_email: str) -> EmailChange:
        """A token moving the account to ``new_email`` (normalised); AccountExistsError if taken."""
        async with self._database.sessionmaker() as session:
            user = await session.get(User, user_id)
            taken = await session.scalar(select(User.id).where(User.email == new_email))
        if user is None:
            raise InvalidTokenError("no such account")
        if taken is not None:
            raise AccountExistsError(TAKEN)
        token, claims = self._tokens.issue(
            "verify",
            str(user.id),
            self._settings.verify_token_lifetime,
            {
                "act": PURPOSE,
                "stm": stamp_tag(user.security_stamp),
                "email": user.email,
                "new_email": new_email,
            },
        )
        async with self._database.sessionmaker() as session:
            session.add(
                OneTimeToken(
                    jti=claims["jti"],
                    purpose=PURPOSE,
                    user_id=user.id,
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                )
            )
            await session.commit()
        link = self._settings.email_change_url.replace("{token}", token)
        return EmailChange(user.id, user.email, new_email, link)

    async def confirm(self, token: str) -> EmailChange:
        """Spend the token and move the account; the new address counts as verified."""
        claims = self._tokens.decode(token, "verify")
        new_email = claims.get("new_email")
        if claims.get("act") != PURPOSE or not isinstance(new_email, str):
            raise InvalidTokenError("not an email-change token")
        if not claims["sub"].isdigit():
            raise InvalidTokenError("sub is not an account id")
        user_id = int(claims["sub"])
        async with self._database.sessionmaker() as session:
            spent = await session.execute(
                update(OneTimeToken)
                .where(
                    OneTimeToken.jti == claims["jti"],
                    OneTimeToken.purpose == PURPOSE,
                    OneTimeToken.user_id == user_id,
                    OneTimeToken.used_at.is_(None),
                )
                .values(used_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise InvalidTokenError("token already used")
            user = await session.get(User, user_id)
            if (
                user is None
                or not user.is_active
                or stamp_tag(user.security_stamp) != claims.get("stm")
                or user.email != claims.get("email")
            ):
                await session.rollback()
                raise InvalidTokenError("token no longer matches the account")
            old_email = user.email
            user.email = new_email
            user.is_verified = True
            try:
                await session.commit()
            except IntegrityError:  # taken since the request
                await session.rollback()
                raise AccountExistsError(TAKEN) from None
        self._principals.forget_user(user_id)
        return EmailChange(user_id, old_email, new_email)

    async def signed_in_since(self, session_id: str, seconds: int) -> bool:
        """Whether the refresh chain ``session_id`` began (a sign-in) in the last ``seconds``."""
        if not session_id:
            return False
        async with self._database.sessionmaker() as session:
            created = await session.scalar(
                select(AuthSession.created_at).where(AuthSession.id == session_id)
            )
        return created is not None and created >= datetime.now(UTC) - timedelta(seconds=seconds)
