"""The request and response bodies of the ``/auth`` endpoints, with their size limits."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Form
from pydantic import AfterValidator, BaseModel, Field

from riso_auth._emails import normalize_email
from riso_auth._models import User
from riso_auth._principals import Principal

#: characters; longer passwords are a 422 before anything else happens
MAX_PASSWORD_CHARS = 4096
MAX_TOKEN_CHARS = 65536
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _valid_email(value: str) -> str:
    value = normalize_email(value)
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


#: the schema documents what the validator accepts (format and pattern are not
#: enforced by pydantic: the validator is), so generated clients and fuzzers
#: send valid addresses
Email = Annotated[
    str,
    Field(
        max_length=320,
        json_schema_extra={"format": "email", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"},
    ),
    AfterValidator(_valid_email),
]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class RegisterIn(BaseModel):
    email: Email
    password: Password


class UserOut(BaseModel):
    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    scopes: list[str]
    #: the providers linked to the account (sign in with a provider), by name
    providers: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, user: User | Principal, scopes: list[str] | None = None) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            is_active=user.is_active,
            is_verified=user.is_verified,
            is_superuser=user.is_superuser,
            scopes=scopes
            if scopes is not None
            else sorted(user.scopes.split())
            if isinstance(user, User)
            else sorted(user.scopes),
        )


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class RefreshIn(BaseModel):
    refresh_token: Annotated[str | None, Field(max_length=MAX_TOKEN_CHARS)] = None


class PasswordChangeIn(BaseModel):
    current_password: Password
    new_password: Password


class EmailIn(BaseModel):
    email: Email


class ResetIn(BaseModel):
    token: Annotated[str, Field(max_length=MAX_TOKEN_CHARS)]
    password: Password


class TokenIn(BaseModel):
    token: Annotated[str, Field(max_length=MAX_TOKEN_CHARS)]


class Message(BaseModel):
    detail: str


class ValidationMessage(BaseModel):
    """A 422: FastAPI's list of validation errors, or one message (password policy)."""

    detail: str | list[dict[str, Any]]


class PasswordForm:
    """OAuth2's password grant form (``username`` is the email), with size limits."""

    def __init__(
        self,
        username: Annotated[str, Form(max_length=320)],
        password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(max_length=2048)] = "",
        client_id: Annotated[str | None, Form(max_length=256)] = None,
        client_secret: Annotated[str | None, Form(max_length=256)] = None,
    ) -> None:
        self.username = username
        self.password = password
        self.grant_type = grant_type
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret
