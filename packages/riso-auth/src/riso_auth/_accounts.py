"""Accounts: create, check a password, change it, (de)activate, revoke everything, verify.

Every change that must end the account's tokens rotates its security stamp,
revokes its refresh chains and tells the principal cache to forget it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._emails import normalize_email
from riso_auth._exceptions import AccountExistsError, InvalidEmailError
from riso_auth._models import AuthSession, User, new_stamp
from riso_auth._passwords import PasswordService
from riso_auth._principals import PrincipalCache

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from riso_db import Database


class AccountStore:
    """The ``auth_users`` rows and what changing one does to its sessions."""

    def __init__(
        self, database: Database, passwords: PasswordService, principals: PrincipalCache
    ) -> None:
        self._database = database
        self._passwords = passwords
        self._principals = principals

    async def create_user(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        scopes: str = "",
    ) -> User:
        email = normalize_email(email)
        self._passwords.check_policy(password, email=email)
        hashed = await self._passwords.hash(password)
        user = new_account(
            email, hashed, is_superuser=is_superuser, is_verified=is_verified, scopes=scopes
        )
        async with self._database.sessionmaker() as session:
            session.add(user)
            try:
                await session.commit()
            except IntegrityError:
                raise AccountExistsError("an account with this email already exists") from None
        return user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The account if the password matches; the hasher runs exactly once either way.

        No connection is held while hashing, and every write transaction starts
        with its write (SQLite cannot upgrade a read transaction under contention).
        """
        try:
            email = normalize_email(email)
        except InvalidEmailError:  # no account has such an address: hash anyway
            user = None
        else:
            async with self._database.sessionmaker() as session:
                user = await self.by_email(session, email)
        ok, new_hash = await self._passwords.verify_and_update(
            password, user.hashed_password if user is not None else None
        )
        if not ok or user is None:
            return None
        if new_hash is not None:
            # the stored hash is not the current default: upgrade it now
            async with self._database.sessionmaker() as session:
                await session.execute(
                    update(User)
                    .where(User.id == user.id, User.hashed_password == user.hashed_password)
                    .values(hashed_password=new_hash)
                )
                await session.commit()
            user.hashed_password = new_hash
        return user

    @staticmethod
    async def by_email(session: AsyncSession, email: str) -> User | None:
        """The account of a normalised email, in ``session``."""
        found = await session.execute(select(User).where(User.email == email))
        return found.scalar_one_or_none()

    async def set_password(self, user_id: int, new_password: str, email: str) -> None:
        """Change the password, rotate the security stamp and revoke every session."""
        self._passwords.check_policy(new_password, email=email)
        hashed = await self._passwords.hash(new_password)
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(hashed_password=hashed, security_stamp=new_stamp(), password_changed_at=now)
            )
            await revoke_user_sessions(session, user_id, "password", now)
            await session.commit()
        self._principals.forget_user(user_id)

    async def set_active(self, user_id: int, active: bool) -> None:
        """(De)activate an account; deactivation revokes every session."""
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            values: dict[str, Any] = {"is_active": active}
            if not active:
                values["security_stamp"] = new_stamp()
                await revoke_user_sessions(session, user_id, "deactivated", now)
            await session.execute(update(User).where(User.id == user_id).values(**values))
            await session.commit()
        self._principals.forget_user(user_id)

    async def revoke_all_sessions(self, user_id: int) -> None:
        """Log the account out everywhere (its access tokens included)."""
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(security_stamp=new_stamp())
            )
            await revoke_user_sessions(session, user_id, "revoked", now)
            await session.commit()
        self._principals.forget_user(user_id)

    async def mark_verified(self, user_id: int) -> None:
        async with self._database.sessionmaker() as session:
            await session.execute(update(User).where(User.id == user_id).values(is_verified=True))
            await session.commit()
        self._principals.forget_user(user_id)


async def revoke_user_sessions(
    session: AsyncSession, user_id: int, reason: str, now: datetime
) -> None:
    """Revoke every open refresh chain of the account (in ``session``, not committed)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def new_account(
    email: str, hashed_password: str, *, is_superuser: bool, is_verified: bool, scopes: str
) -> User:
    """An active account row with a fresh security stamp (not added to any session)."""
    return User(
        email=email,
        hashed_password=hashed_password,
        is_active=True,
        is_superuser=is_superuser,
        is_verified=is_verified,
        scopes=scopes,
        security_stamp=new_stamp(),
    )
