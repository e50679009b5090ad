"""riso-auth: accounts, argon2id passwords, rotating JWT sessions, scopes and rate limits.

``riso.include(app)`` adds the ``/auth`` endpoints; endpoints of the app use
``CurrentUser``, ``OptionalUser``, ``VerifiedUser``, ``SuperUser`` and
``require_scopes(...)``. With ``RISO_AUTH_OIDC_PROVIDERS`` (riso-auth[oidc]) users
also sign in with OpenID Connect providers and GitHub under ``/auth/oidc``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from riso_auth._deps import (
    CurrentUser,
    OptionalUser,
    SuperUser,
    VerifiedUser,
    authenticate_request,
    oauth2_scheme,
    require_scopes,
)
from riso_auth._events import AccountEvent
from riso_auth._exceptions import (
    AccountExistsError,
    AccountInUseError,
    ApiKeyError,
    AuthConfigError,
    AuthError,
    InvalidEmailError,
    InvalidTokenError,
    LastSuperuserError,
    OidcError,
    PasswordPolicyError,
    ProviderUnavailableError,
    RateLimitedError,
    RoleError,
    RoleNotFoundError,
)
from riso_auth._feature import feature
from riso_auth._mail import LogMailSender, MailMessage, MailSender
from riso_auth._models import (
    ApiKey,
    AuthSession,
    DeniedToken,
    Identity,
    OneTimeToken,
    RateCounter,
    RefreshToken,
    Role,
    User,
    UserRole,
)
from riso_auth._oidc_settings import OidcProviderSettings
from riso_auth._principals import Principal
from riso_auth._runtime import AuthRuntime
from riso_auth._sessions import TokenPair
from riso_auth._settings import AuthSettings

if _TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from riso_auth._events import EventName, Handler

__version__ = "0.2.2"

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


def on(app: "FastAPI", event: "EventName", handler: "Handler | None" = None) -> _Any:
    """Run ``handler(event)`` after each account event of ``app`` commits.

    ``riso_auth.on(app, "user_deleted", cleanup)``, or as a decorator
    ``@riso_auth.on(app, "user_deleted")``. Events: ``user_registered``,
    ``user_verified``, ``user_email_changed``, ``user_deleted``,
    ``user_signed_in``. A handler may be sync or async; one that raises is
    logged and never undoes the change.
    """
    registry = runtime(app).events
    if handler is not None:
        registry.add(event, handler)
        return handler

    def decorate(func: "Callable[[AccountEvent], _Any]") -> "Callable[[AccountEvent], _Any]":
        registry.add(event, func)
        return func

    return decorate


__all__ = [
    "AccountEvent",
    "AccountExistsError",
    "AccountInUseError",
    "ActiveUser",
    "ApiKey",
    "ApiKeyError",
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
    "LastSuperuserError",
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
    "Role",
    "RoleError",
    "RoleNotFoundError",
    "SuperUser",
    "TokenPair",
    "User",
    "UserRole",
    "VerifiedUser",
    "authenticate_request",
    "feature",
    "oauth2_scheme",
    "on",
    "require_scopes",
    "runtime",
    "set_mail_sender",
]
