"""riso-auth: accounts, argon2id passwords, rotating JWT sessions, scopes and rate limits.

``riso.include(app)`` adds the ``/auth`` endpoints; endpoints of the app use
``CurrentUser``, ``OptionalUser``, ``VerifiedUser``, ``SuperUser`` and
``require_scopes(...)``. With ``RISO_AUTH_OIDC_PROVIDERS`` (riso-auth[oidc]) users
also sign in with OpenID Connect providers and GitHub under ``/auth/oidc``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from riso_auth._deps import (
    CurrentUser,
    OptionalUser,
    SuperUser,
    VerifiedUser,
    authenticate_request,
    oauth2_scheme,
    require_scopes,
)
from riso_auth._exceptions import (
    AccountExistsError,
    AuthConfigError,
    AuthError,
    InvalidEmailError,
    InvalidTokenError,
    OidcError,
    PasswordPolicyError,
    ProviderUnavailableError,
    RateLimitedError,
)
from riso_auth._feature import feature
from riso_auth._mail import LogMailSender, MailMessage, MailSender
from riso_auth._models import (
    AuthSession,
    DeniedToken,
    Identity,
    OneTimeToken,
    RateCounter,
    RefreshToken,
    User,
)
from riso_auth._oidc_settings import OidcProviderSettings
from riso_auth._principals import Principal
from riso_auth._runtime import AuthRuntime
from riso_auth._sessions import TokenPair
from riso_auth._settings import AuthSettings

if _TYPE_CHECKING:
    from fastapi import FastAPI

__version__ = "0.1.2"

#: an alias: ``CurrentUser`` already requires an active account
ActiveUser = CurrentUser


def runtime(app: "FastAPI") -> AuthRuntime:
    """riso-auth's state for ``app`` (token and password services, account operations)."""
    from riso_auth._deps import runtime_of

    return runtime_of(app)


def set_mail_sender(app: "FastAPI", sender: object) -> None:
    """Replace the mail sender of ``app``: an object with ``send(message)`` or a callable."""
    from riso_auth._mail import as_sender

    runtime(app).mail = as_sender(sender)


__all__ = [
    "AccountExistsError",
    "ActiveUser",
    "AuthConfigError",
    "AuthError",
    "AuthRuntime",
    "AuthSession",
    "AuthSettings",
    "CurrentUser",
    "DeniedToken",
    "Identity",
    "InvalidEmailError",
    "InvalidTokenError",
    "LogMailSender",
    "MailMessage",
    "MailSender",
    "OidcError",
    "OidcProviderSettings",
    "OneTimeToken",
    "OptionalUser",
    "PasswordPolicyError",
    "Principal",
    "ProviderUnavailableError",
    "RateCounter",
    "RateLimitedError",
    "RefreshToken",
    "SuperUser",
    "TokenPair",
    "User",
    "VerifiedUser",
    "authenticate_request",
    "feature",
    "oauth2_scheme",
    "require_scopes",
    "runtime",
    "set_mail_sender",
]
