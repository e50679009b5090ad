"""Administration of accounts: list, change flags and roles, delete, log out everywhere.

Whatever removes a superuser (demotion, deactivation, deletion) checks, in
the same transaction and after its write, that an active superuser remains;
on PostgreSQL and MariaDB the superuser rows are locked first, so two admins
demoting each other cannot both succeed (SQLite serialises writers anyway).

Accounts are deleted, not anonymised: riso-auth keeps no history that needs
the row, every row of its own goes with it (foreign keys ``ON DELETE
CASCADE``), the email is free again at once, and nothing personal is left
behind to forget later. Apps keep what they must through ``user_deleted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._accounts import revoke_user_sessions
from riso_auth._exceptions import AccountInUseError, LastSuperuserError
from riso_auth._models import ApiKey, Role, User, UserRole, new_stamp
from riso_auth._principals import PrincipalCache
from riso_auth._roles import check_scopes, role_names, set_user_roles

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from riso_db import Database

#: most accounts one page of ``GET /auth/users`` returns
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class UserFilter:
    """``GET /auth/users`` filters; None means any."""

    email_prefix: str | None = None
    is_active: bool | None = None
    is_verified: bool | None = None
    is_superuser: bool | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class UserChange:
    """What ``PATCH /auth/users/{id}`` changes; None leaves a field as it is."""

    is_active: bool | None = None
    is_verified: bool | None = None
    is_superuser: bool | None = None
    roles: list[str] | None = None
    scopes: list[str] | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account and the names of its roles."""

    user: User
    roles: list[str]


class AccountAdmin:
    """Superuser operations on ``auth_users`` and what they do to sessions and keys."""

    def __init__(self, database: Database, principals: PrincipalCache) -> None:
        self._database = database
        self._principals = principals

    async def list(
        self, filters: UserFilter, after: int | None, limit: int
    ) -> tuple[list[AccountView], int | None]:
        """One page, by id; the second value is the cursor of the next page (None at the end)."""
        stmt = select(User).order_by(User.id).limit(min(limit, MAX_PAGE) + 1)
        if after is not None:
            stmt = stmt.where(User.id > after)
        if filters.email_prefix:
            stmt = stmt.where(User.email.startswith(filters.email_prefix.lower(), autoescape=True))
        for column, wanted in (
            (User.is_active, filters.is_active),
            (User.is_verified, filters.is_verified),
            (User.is_superuser, filters.is_superuser),
        ):
            if wanted is not None:
                stmt = stmt.where(column.is_(wanted))
        if filters.role:
            stmt = stmt.where(
                User.id.in_(
                    select(UserRole.user_id)
                    .join(Role, Role.id == UserRole.role_id)
                    .where(Role.name == filters.role)
                )
            )
        async with self._database.sessionmaker() as session:
            users = list((await session.execute(stmt)).scalars())
            page = users[: min(limit, MAX_PAGE)]
            names = await role_names(session, [u.id for u in page])
        following = page[-1].id if len(users) > len(page) else None
        return [AccountView(u, names[u.id]) for u in page], following

    async def get(self, user_id: int) -> AccountView | None:
        async with self._database.sessionmaker() as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            return AccountView(user, (await role_names(session, [user_id]))[user_id])

    async def update(self, user_id: int, change: UserChange) -> AccountView | None:
        """Apply ``change``; None when there is no such account. Deactivation ends every session."""
        scopes = check_scopes(change.scopes) if change.scopes is not None else None
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            was_superuser = await self._lock_superusers(session, user_id)
            values: dict[str, Any] = {}
            for name in ("is_active", "is_verified", "is_superuser"):
                if getattr(change, name) is not None:
                    values[name] = getattr(change, name)
            if scopes is not None:
                values["scopes"] = " ".join(scopes)
            if change.is_active is False:
                values["security_stamp"] = new_stamp()
            found = await session.execute(
                update(User).where(User.id == user_id).values(**values or {"id": user_id})
            )
            if not found.rowcount:  # type: ignore[attr-defined]
                await session.rollback()
                return None
            if change.is_active is False:
                await revoke_everything(session, user_id, "deactivated", now)
            if change.roles is not None:
                await set_user_roles(session, user_id, change.roles)
            if was_superuser and (change.is_active is False or change.is_superuser is False):
                await self._keep_a_superuser(session)
            await session.commit()
        self._principals.forget_user(user_id)
        return await self.get(user_id)

    async def delete(self, user_id: int) -> User | None:
        """Delete the account and, by cascade, its sessions, keys, roles and identities."""
        async with self._database.sessionmaker() as session:
            was_superuser = await self._lock_superusers(session, user_id)
            user = await session.get(User, user_id)
            if user is None:
                return None
            try:
                await session.execute(delete(User).where(User.id == user_id))
                if was_superuser:
                    await self._keep_a_superuser(session)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise AccountInUseError(
                    "the account is still referenced by the app's own rows; give their "
                    "foreign key ON DELETE CASCADE (or SET NULL) or remove them first"
                ) from None
        self._principals.forget_user(user_id)
        return user

    async def logout(self, user_id: int) -> bool:
        """Revoke every session and API key of the account; False when there is none."""
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            found = await session.execute(
                update(User).where(User.id == user_id).values(security_stamp=new_stamp())
            )
            if not found.rowcount:  # type: ignore[attr-defined]
                await session.rollback()
                return False
            await revoke_everything(session, user_id, "revoked", now)
            await session.commit()
        self._principals.forget_user(user_id)
        return True

    async def _lock_superusers(self, session: AsyncSession, user_id: int) -> bool:
        """Whether the account is an active superuser now; on PostgreSQL and MariaDB the
        superuser rows stay locked until the transaction ends."""
        stmt = select(User.id).where(User.is_superuser.is_(True), User.is_active.is_(True))
        if self._database.dialect != "sqlite":  # SQLite: the write locks the whole database
            stmt = stmt.with_for_update()
        return user_id in set((await session.execute(stmt)).scalars())

    @staticmethod
    async def _keep_a_superuser(session: AsyncSession) -> None:
        """After the write: refuse (roll back) a change that left no active superuser."""
        remaining = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_superuser.is_(True), User.is_active.is_(True))
        )
        if not remaining:
            await session.rollback()
            raise LastSuperuserError(
                "this would leave no active superuser; promote another account first"
            )


async def revoke_everything(
    session: AsyncSession, user_id: int, reason: str, now: datetime
) -> None:
    """Revoke every refresh chain and API key of the account (in ``session``, not committed)."""
    await revoke_user_sessions(session, user_id, reason, now)
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
