"""One-time tokens (password reset, email verification): issue them and spend them once.

A token is a signed JWT bound to the account's email and security stamp, and
recorded in ``auth_one_time_tokens`` so that it works exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import update

from riso_auth._accounts import AccountStore
from riso_auth._digests import stamp_tag
from riso_auth._emails import normalize_email
from riso_auth._exceptions import InvalidEmailError, InvalidTokenError
from riso_auth._models import OneTimeToken, User
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService

if TYPE_CHECKING:
    from riso_db import Database

TokenKind = Literal["reset", "verify"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just issued for ``email``, and the link (from the settings' template) holding it."""

    kind: TokenKind
    email: str
    token: str
    link: str


class OneTimeTokens:
    """Reset and verification tokens of ``auth_one_time_tokens``."""

    def __init__(self, database: Database, settings: AuthSettings, tokens: TokenService) -> None:
        self._database = database
        self._settings = settings
        self._tokens = tokens

    async def issue(self, email: str, kind: str) -> IssuedToken | None:
        """A new token for the account of ``email``; None when it gets none.

        (No account, an inactive one, or a verification for a verified one.)
        """
        try:
            email = normalize_email(email)
        except InvalidEmailError:  # no account has such an address
            return None
        async with self._database.sessionmaker() as session:
            user = await AccountStore.by_email(session, email)
            if user is None or not user.is_active or (kind == "verify" and user.is_verified):
                return None
        reset = kind == "reset"
        lifetime = (
            self._settings.reset_token_lifetime if reset else self._settings.verify_token_lifetime
        )
        token, claims = self._tokens.issue(
            "reset" if reset else "verify",
            str(user.id),
            lifetime,
            {"stm": stamp_tag(user.security_stamp), "email": user.email},
        )
        async with self._database.sessionmaker() as session:
            session.add(
                OneTimeToken(
                    jti=claims["jti"],
                    purpose=kind,
                    user_id=user.id,
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                )
            )
            await session.commit()
        template = self._settings.reset_url if reset else self._settings.verify_url
        return IssuedToken(
            kind="reset" if reset else "verify",
            email=email,
            token=token,
            link=template.replace("{token}", token),
        )

    async def consume(self, token: str, kind: str) -> User:
        """Spend a reset or verify token once; the account must be as it was when issued."""
        claims = self._tokens.decode(token, "reset" if kind == "reset" else "verify")
        now = datetime.now(UTC)
        if not claims["sub"].isdigit():
            raise InvalidTokenError("sub is not an account id")
        async with self._database.sessionmaker() as session:
            user = await session.get(User, int(claims["sub"]))
        if (
            user is None
            or not user.is_active
            or stamp_tag(user.security_stamp) != claims.get("stm")
            or user.email != claims.get("email")
        ):
            raise InvalidTokenError("token no longer matches the account")
        async with self._database.sessionmaker() as session:
            spent = await session.execute(
                update(OneTimeToken)
                .where(
                    OneTimeToken.jti == claims["jti"],
                    OneTimeToken.purpose == kind,
                    OneTimeToken.user_id == user.id,
                    OneTimeToken.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise InvalidTokenError("token already used")
            await session.commit()
        return user
