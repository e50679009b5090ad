"""Accounts for tests, made through riso-auth's own code, and bearer headers for them."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from riso_pytest import blocking

if TYPE_CHECKING:
    from fastapi import FastAPI

    from riso_auth import User

_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class TestUser:
    """An account ``make_user`` created, with the password it was given."""

    __test__ = False  # not a test class, whatever its name

    id: int
    email: str
    password: str
    is_superuser: bool
    is_verified: bool
    scopes: tuple[str, ...]
    #: the ``riso_auth.User`` row as riso-auth stored it
    user: User


class UserFactory:
    """``make_user(email=..., password=..., is_superuser=..., is_verified=..., scopes=...)``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(
        self,
        email: str | None = None,
        password: str | None = None,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        scopes: str | Iterable[str] = (),
    ) -> TestUser:
        import riso_auth

        email = email or f"user{next(_NUMBERS)}-{secrets.token_hex(4)}@example.com"
        password = password or f"test-{secrets.token_urlsafe(12)}"
        scope_list = tuple(scopes.split() if isinstance(scopes, str) else scopes)
        runtime = riso_auth.runtime(self.app)
        user = blocking(
            lambda: runtime.create_user(
                email,
                password,
                is_superuser=is_superuser,
                is_verified=is_verified,
                scopes=" ".join(scope_list),
            )
        )
        return TestUser(
            id=user.id,
            email=user.email,
            password=password,
            is_superuser=is_superuser,
            is_verified=is_verified,
            scopes=scope_list,
            user=user,
        )


def bearer_headers(app: FastAPI, user: TestUser | User) -> dict[str, str]:
    """``Authorization: Bearer <access token>`` for ``user`` (a new session of it)."""
    import riso_auth

    row = user.user if isinstance(user, TestUser) else user
    pair = blocking(lambda: riso_auth.runtime(app).login(row))
    return {"Authorization": f"Bearer {pair.access_token}"}
