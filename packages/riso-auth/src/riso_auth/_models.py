"""The tables riso-auth owns (created by its own migrations: ``riso db upgrade``).

============================  =====================================================
table                         holds
============================  =====================================================
``auth_users``                accounts: email (lower-cased, unique), password hash,
                              flags, scopes, the security stamp
``auth_sessions``             one refresh chain per login: absolute expiry, revocation
``auth_refresh_tokens``       every refresh token issued in a chain, spent or not
``auth_denylist``             access tokens revoked before they expire (by ``jti``)
``auth_one_time_tokens``      reset / verification tokens, each usable once
``auth_rate_limits``          fixed-window counters shared by every instance
``auth_identities``           accounts of OpenID Connect / OAuth2 providers linked to
                              a user, unique per (provider, subject)
``auth_oidc_flows``           provider sign-ins in progress (state, nonce, PKCE
                              verifier), each consumed once by its callback
``auth_roles``                named roles, each granting scopes
``auth_user_roles``           which account has which role
``auth_api_keys``             personal access tokens: public id, keyed hash, scopes,
                              expiry, last use, revocation
============================  =====================================================
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riso_db import Model, PrimaryKeyMixin, TimestampMixin, UtcDateTime


def new_stamp() -> str:
    return secrets.token_hex(16)


class User(PrimaryKeyMixin, TimestampMixin, Model):
    """An account. ``email`` is stored lower-cased, so uniqueness ignores case."""

    __tablename__ = "auth_users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    #: space-separated OAuth2 scopes granted to the account
    scopes: Mapped[str] = mapped_column(String(1024), default="")
    #: changes on password change/reset and deactivation: every token bound
    #: to the old value stops working
    security_stamp: Mapped[str] = mapped_column(String(32), default=new_stamp)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class AuthSession(Model):
    """A refresh chain: every token rotated from one login."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    absolute_expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RefreshToken(Model):
    """One refresh token; ``used_at`` is set once, when it is exchanged."""

    __tablename__ = "auth_refresh_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: SHA-256 of the token text: the database never holds a usable token
    token_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DeniedToken(Model):
    """An access token revoked before its expiry; the row may go once it expires."""

    __tablename__ = "auth_denylist"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class OneTimeToken(Model):
    """A password-reset or email-verification token, spent on first use."""

    __tablename__ = "auth_one_time_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class RateCounter(Model):
    """Events counted for one bucket (what is limited) in one fixed window."""

    __tablename__ = "auth_rate_limits"

    bucket: Mapped[str] = mapped_column(String(191), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    #: epoch seconds after which the row can be deleted
    expires: Mapped[int] = mapped_column(Integer, index=True)


class Identity(PrimaryKeyMixin, Model):
    """An account at an OpenID Connect / OAuth2 provider, linked to a user."""

    __tablename__ = "auth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    #: the provider's name in the settings (``RISO_AUTH_OIDC_PROVIDERS``)
    provider: Mapped[str] = mapped_column(String(64))
    #: the provider's ``sub`` (or GitHub's numeric id), as text
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    #: the email the provider gave when the identity was linked, and whether it said
    #: the email was verified then
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class OidcFlow(Model):
    """A provider sign-in in progress: what its callback checks, deleted when it is used."""

    __tablename__ = "auth_oidc_flows"

    #: SHA-256 of the ``state`` sent to the provider
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the random value in the browser's flow cookie
    binding_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_to: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    #: set when a signed-in user links this provider to the account
    link_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=True
    )
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Role(PrimaryKeyMixin, Model):
    """A named set of scopes; an account with the role is granted them at its next token."""

    __tablename__ = "auth_roles"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    #: space-separated scopes the role grants
    scopes: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class UserRole(Model):
    """One account holding one role."""

    __tablename__ = "auth_user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("auth_roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ApiKey(Model):
    """A personal access token: only its public id and a keyed hash of its secret are stored."""

    __tablename__ = "auth_api_keys"

    #: the public part of the key (``riso_pat_<id>_...``), shown in listings
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    #: what listings show of the key: ``riso_pat_<id>``
    prefix: Mapped[str] = mapped_column(String(48))
    #: HMAC-SHA256 (hex) of the secret part, keyed from the app's secret
    key_hash: Mapped[str] = mapped_column(String(64))
    #: space-separated scopes the key carries (a subset of its owner's at creation)
    scopes: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


def tables() -> list[Table]:
    """The tables riso-auth owns, for its migrations."""
    return [
        m.__table__  # type: ignore[misc]
        for m in (
            User,
            AuthSession,
            RefreshToken,
            DeniedToken,
            OneTimeToken,
            RateCounter,
            Identity,
            OidcFlow,
            Role,
            UserRole,
            ApiKey,
        )
    ]
