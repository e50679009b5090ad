"""Linked provider identities (``auth_identities``) and the rules that link them.

* a known (provider, subject) signs in its user;
* a signed-in user linking a provider gets the identity, whatever its email;
* a new identity whose email the provider verified, for an email that has an
  account, is linked to it only with the provider's ``auto_link``; otherwise a
  409 that says to sign in and link;
* a new identity with an unverified email never touches an existing account;
* otherwise a new account, verified if the provider verified the email, with
  no usable password (a reset sets one).

Inactive accounts never sign in this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._accounts import new_account
from riso_auth._emails import normalize_email
from riso_auth._exceptions import InvalidEmailError, OidcError
from riso_auth._models import Identity, User
from riso_auth._passwords import UNUSABLE_PASSWORD, has_usable_password
from riso_auth._principals import PrincipalCache

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from riso_db import Database

INACTIVE = "This account is inactive"


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says signed in (after every check of its answer)."""

    subject: str
    email: str | None
    email_verified: bool


@dataclass(frozen=True, slots=True)
class ProviderSignIn:
    """The account a provider's identity signed in to, and whether it was just created."""

    user: User
    registered: bool


class IdentityStore:
    """Finds, links and unlinks the identities of users at providers."""

    def __init__(self, database: Database, principals: PrincipalCache) -> None:
        self._database = database
        self._principals = principals

    async def providers_of(self, user_id: int, session: AsyncSession | None = None) -> list[str]:
        query = select(Identity.provider).where(Identity.user_id == user_id)
        if session is not None:
            found = await session.execute(query)
            return sorted(set(found.scalars()))
        async with self._database.sessionmaker() as own:
            return sorted(set((await own.execute(query)).scalars()))

    async def sign_in(
        self,
        provider: str,
        identity: ProviderIdentity,
        *,
        auto_link: bool,
        allow_registration: bool,
        link_user_id: int | None = None,
    ) -> ProviderSignIn:
        """The account ``identity`` signs in to (linked or created as the rules say)."""
        email = _normalized(identity.email)
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            known = (
                await session.execute(
                    select(Identity).where(
                        Identity.provider == provider, Identity.subject == identity.subject
                    )
                )
            ).scalar_one_or_none()
            if known is not None:
                if link_user_id is not None and known.user_id != link_user_id:
                    raise OidcError(
                        f"This {provider} account is linked to another user", status_code=409
                    )
                user = await session.get(User, known.user_id)
                assert user is not None  # the foreign key cascades
                _check_active(user)
                await session.execute(
                    update(Identity).where(Identity.id == known.id).values(last_used_at=now)
                )
                await session.commit()
                return ProviderSignIn(user, registered=False)
            registered = False
            if link_user_id is not None:
                user = await session.get(User, link_user_id)
                if user is None:
                    raise OidcError("The account to link no longer exists", status_code=409)
            else:
                user, registered = await self._account_for(
                    session, provider, email, identity.email_verified, auto_link, allow_registration
                )
            _check_active(user)
            session.add(
                Identity(
                    provider=provider,
                    subject=identity.subject,
                    user_id=user.id,
                    email=email,
                    email_verified=identity.email_verified,
                    created_at=now,
                    last_used_at=now,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                # the same identity linked by a concurrent callback, or the
                # account's email taken meanwhile: nothing of this one was kept
                raise OidcError(
                    "This sign-in raced with another one; try again", status_code=409
                ) from None
            await session.refresh(user)
            return ProviderSignIn(user, registered=registered)

    async def _account_for(
        self,
        session: AsyncSession,
        provider: str,
        email: str | None,
        verified: bool,
        auto_link: bool,
        allow_registration: bool,
    ) -> tuple[User, bool]:
        """The account to link the new identity to, and whether it was created for it."""
        if email is None:
            raise OidcError(f"{provider} did not give an email address", status_code=400)
        existing = (
            await session.execute(select(User).where(User.email == email))
        ).scalar_one_or_none()
        if existing is not None:
            if verified and auto_link:
                return existing, False
            if verified:
                raise OidcError(
                    f"An account with this email exists: sign in to it, then link {provider} "
                    f"(POST /auth/oidc/{provider}/link)",
                    status_code=409,
                )
            # an unverified email proves nothing about who owns the account
            raise OidcError(
                f"{provider} has not verified this email and an account with it exists: "
                f"sign in to that account, then link {provider}",
                status_code=409,
            )
        if not allow_registration:
            raise OidcError("Registration is closed", status_code=403)
        user = new_account(
            email, UNUSABLE_PASSWORD, is_superuser=False, is_verified=verified, scopes=""
        )
        session.add(user)
        await session.flush()  # the id, for the identity
        return user, True

    async def unlink(self, user: User | int, provider: str) -> None:
        """Remove the user's identity at ``provider``; refused if it is the last way in."""
        user_id = user if isinstance(user, int) else user.id
        async with self._database.sessionmaker() as session:
            # the write first: the row lock (or SQLite's write lock) serialises two unlinks
            removed = await session.execute(
                delete(Identity).where(Identity.user_id == user_id, Identity.provider == provider)
            )
            if getattr(removed, "rowcount", 0) == 0:
                await session.rollback()
                raise OidcError(f"{provider} is not linked to this account", status_code=404)
            account = await session.get(User, user_id)
            if account is None:
                await session.rollback()
                raise OidcError("The account no longer exists", status_code=404)
            remaining = (
                await session.execute(
                    select(func.count()).select_from(Identity).where(Identity.user_id == user_id)
                )
            ).scalar_one()
            if account is None or (
                remaining == 0 and not has_usable_password(account.hashed_password)
            ):
                await session.rollback()
                raise OidcError(
                    f"Unlinking {provider} would leave no way to sign in: set a password "
                    "(forgot-password) or link another provider first",
                    status_code=409,
                )
            await session.commit()
        self._principals.forget_user(user_id)


def _normalized(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return normalize_email(email)
    except InvalidEmailError:
        raise OidcError("The provider's email address cannot be used", status_code=400) from None


def _check_active(user: User) -> None:
    if not user.is_active:
        raise OidcError(INACTIVE, status_code=403)
