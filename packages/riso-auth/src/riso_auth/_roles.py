"""Roles: named sets of scopes held by accounts, and the scopes an account holds through them.

A role's scopes are resolved when a token is issued (login, refresh) and when
an API key is checked, never per request: a role change takes effect on the
account's next token. ``POST /auth/users/{id}/logout`` forces it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from riso_auth._exceptions import RoleError, RoleNotFoundError
from riso_auth._models import Role, User, UserRole
from riso_auth._principals import PrincipalCache

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    from riso_db import Database

#: a role name: what a CLI argument and a URL segment can carry unquoted
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
#: a scope: OAuth2's scope-token characters, without spaces, quotes or backslashes
SCOPE = re.compile(r"^[!#-\[\]-~]{1,128}$")


def check_role_name(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise RoleError(
            f"role name {name!r} must be 1-64 characters: lower-case letters, digits, _ . : -"
        )
    return name


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, sorted and deduplicated; RoleError for one OAuth2 cannot carry."""
    cleaned = sorted(set(scopes))
    bad = [s for s in cleaned if not SCOPE.match(s)]
    if bad:
        raise RoleError(f"not a valid scope: {bad[0][:40]!r}")
    return cleaned


async def role_scopes(session: AsyncSession | AsyncConnection, user_id: int) -> set[str]:
    """Every scope the account holds through its roles."""
    rows = await session.execute(
        select(Role.scopes)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    return {scope for (scopes,) in rows for scope in scopes.split()}


async def account_scopes(session: AsyncSession, user: User) -> set[str]:
    """The account's own scopes and those of its roles."""
    return set(user.scope_list) | await role_scopes(session, user.id)


async def role_names(session: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    """The sorted role names of each account in ``user_ids``."""
    found: dict[int, list[str]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return found
    rows = await session.execute(
        select(UserRole.user_id, Role.name)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(user_ids))
        .order_by(Role.name)
    )
    for user_id, name in rows:
        found[user_id].append(name)
    return found


async def set_user_roles(session: AsyncSession, user_id: int, names: Iterable[str]) -> None:
    """Make ``names`` the account's roles (in ``session``, not committed); RoleError if unknown."""
    wanted = sorted(set(names))
    roles = (
        (await session.execute(select(Role).where(Role.name.in_(wanted)))).scalars().all()
        if wanted
        else []
    )
    unknown = sorted(set(wanted) - {r.name for r in roles})
    if unknown:
        raise RoleError(f"no such role: {', '.join(unknown)}")
    await session.execute(delete(UserRole).where(UserRole.user_id == user_id))
    for role in roles:
        session.add(UserRole(user_id=user_id, role_id=role.id))
    await session.flush()


class RoleStore:
    """The ``auth_roles`` rows."""

    def __init__(self, database: Database, principals: PrincipalCache) -> None:
        self._database = database
        self._principals = principals

    async def list(self) -> list[Role]:
        async with self._database.sessionmaker() as session:
            return list((await session.execute(select(Role).order_by(Role.name))).scalars())

    async def get(self, name: str) -> Role:
        async with self._database.sessionmaker() as session:
            return await self._by_name(session, name)

    async def create(self, name: str, scopes: Iterable[str], description: str = "") -> Role:
        role = Role(
            name=check_role_name(name),
            scopes=" ".join(check_scopes(scopes)),
            description=description,
            created_at=datetime.now(UTC),
        )
        async with self._database.sessionmaker() as session:
            session.add(role)
            try:
                await session.commit()
            except IntegrityError:
                raise RoleError(f"a role named {name!r} already exists") from None
        return role

    async def update(
        self, name: str, *, scopes: Iterable[str] | None = None, description: str | None = None
    ) -> Role:
        async with self._database.sessionmaker() as session:
            role = await self._by_name(session, name)
            if scopes is not None:
                role.scopes = " ".join(check_scopes(scopes))
            if description is not None:
                role.description = description
            await session.commit()
        # API keys resolve role scopes when checked: let this instance check again
        self._principals.clear()
        return role

    async def delete(self, name: str) -> None:
        async with self._database.sessionmaker() as session:
            role = await self._by_name(session, name)
            await session.delete(role)
            await session.commit()
        self._principals.clear()

    async def grant(self, name: str, user_id: int) -> None:
        """Give the role to an account (nothing happens if it has it already)."""
        async with self._database.sessionmaker() as session:
            role = await self._by_name(session, name)
            if await session.get(User, user_id) is None:
                raise RoleError(f"no account with id {user_id}")
            if await session.get(UserRole, (user_id, role.id)) is None:
                session.add(UserRole(user_id=user_id, role_id=role.id))
                try:
                    await session.commit()
                except IntegrityError:  # granted concurrently: the same outcome
                    await session.rollback()
        self._principals.forget_user(user_id)

    async def revoke(self, name: str, user_id: int) -> None:
        async with self._database.sessionmaker() as session:
            role = await self._by_name(session, name)
            await session.execute(
                delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == role.id)
            )
            await session.commit()
        self._principals.forget_user(user_id)

    @staticmethod
    async def _by_name(session: AsyncSession, name: str) -> Role:
        role = (await session.execute(select(Role).where(Role.name == name))).scalar_one_or_none()
        if role is None:
            raise RoleNotFoundError(f"no such role: {name[:64]!r}")
        return role
