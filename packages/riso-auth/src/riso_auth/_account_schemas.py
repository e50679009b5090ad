"""The bodies of the self-service, API-key and administration endpoints, with their limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from riso_auth._models import ApiKey, Role
from riso_auth._schemas import MAX_TOKEN_CHARS, Email, Password

Scope = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!#-\[\]-~]+$")]
Scopes = Annotated[list[Scope], Field(max_length=64)]
RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]


class _Strict(BaseModel):
    # strict: "no" or 0 is not a boolean, "5" not a number
    model_config = ConfigDict(extra="forbid", strict=True)


class MeUpdateIn(_Strict):
    """``PATCH /auth/me``: the fields the user owns (the email), and the proof it is them."""

    email: Email | None = None
    #: required for an account with a password; without one, a recent sign-in is
    current_password: Password | None = None


class ConfirmIn(_Strict):
    """``DELETE /auth/me``: the current password (or a recent sign-in without one)."""

    current_password: Password | None = None


class EmailChangeTokenIn(_Strict):
    token: Annotated[str, Field(max_length=MAX_TOKEN_CHARS)]


class ApiKeyIn(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Scopes = []
    #: days until the key stops working; None for a key that never expires
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=row.scopes.split(),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
        )


class NewApiKeyOut(ApiKeyOut):
    """The answer to ``POST /auth/api-keys``: the only time ``key`` is shown."""

    key: str


class AdminUserOut(BaseModel):
    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    #: the account's own scopes (its roles grant more)
    scopes: list[str]
    roles: list[str]
    has_password: bool
    created_at: datetime | None


class UserPage(BaseModel):
    items: list[AdminUserOut]
    #: pass as ``cursor`` for the next page; null on the last one
    next_cursor: str | None


class AdminUserPatch(_Strict):
    is_active: bool | None = None
    is_verified: bool | None = None
    is_superuser: bool | None = None
    roles: Annotated[list[RoleName] | None, Field(max_length=64)] = None
    scopes: Scopes | None = None


class RoleIn(_Strict):
    name: RoleName
    scopes: Scopes = []
    description: Annotated[str, Field(max_length=255)] = ""


class RolePatch(_Strict):
    scopes: Scopes | None = None
    description: Annotated[str | None, Field(max_length=255)] = None


class RoleOut(BaseModel):
    name: str
    scopes: list[str]
    description: str

    @classmethod
    def of(cls, role: Role) -> RoleOut:
        return cls(name=role.name, scopes=role.scope_list, description=role.description)
