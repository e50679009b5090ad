"""Every error riso-auth raises derives from one root, ``AuthError``.

The tree::

    riso.RisoError
    └── AuthError                 root of riso-auth's errors
        ├── AuthConfigError       settings or key files cannot be used
        ├── InvalidTokenError     a token is forged, malformed, expired or of the wrong type
        ├── PasswordPolicyError   a new password is too short, too long or too common
        ├── AccountExistsError    an account with that email already exists
        ├── InvalidEmailError     an email has a refused character (also a ValueError)
        ├── RateLimitedError      too many attempts; carries ``retry_after`` seconds
        ├── OidcError             a provider sign-in failed a check (400/401/403/409)
        │   └── ProviderUnavailableError   the provider is down or slow (502/504)
        ├── RoleError             a role name taken, a bad name or scope
        │   └── RoleNotFoundError no role of that name
        ├── ApiKeyError           an API key cannot be created as asked
        ├── LastSuperuserError    the change would leave no active superuser
        └── AccountInUseError     the app's rows still reference an account being deleted

HTTP handlers turn ``InvalidTokenError`` into a 401 with ``WWW-Authenticate:
Bearer`` ``PasswordPolicyError`` into a 422 and
``RateLimitedError`` into a 429 with ``Retry-After`` and ``OidcError`` into
its ``status_code`` with its message; the others never reach a client.
"""

from __future__ import annotations

import riso


class AuthError(riso.RisoError):
    """Root of every riso-auth error."""


class AuthConfigError(AuthError):
    """The configuration cannot be used (key files, algorithms, secret)."""


class InvalidTokenError(AuthError):
    """A token was rejected; the message is safe to log, never shown to clients in detail."""


class PasswordPolicyError(AuthError):
    """A new password does not meet the policy; the message is shown to the user."""


class AccountExistsError(AuthError):
    """An account with that email already exists."""


class InvalidEmailError(AuthError, ValueError):
    """An email address cannot be normalised; the message says what to fix."""


class RateLimitedError(AuthError):
    """Too many attempts; the client may retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after} seconds")
        self.retry_after = retry_after


class OidcError(AuthError):
    """A sign-in through a provider failed; the message (no token text) is shown to the client."""

    def __init__(self, detail: str, *, status_code: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


class ProviderUnavailableError(OidcError):
    """The provider could not be reached or did not answer in time (502, or 504)."""

    def __init__(self, detail: str, *, status_code: int = 502) -> None:
        super().__init__(detail, status_code=status_code)


class RoleError(AuthError):
    """A role operation cannot be done (unknown role, name taken, bad name or scope)."""


class RoleNotFoundError(RoleError):
    """No role has that name."""


class ApiKeyError(AuthError):
    """An API key cannot be created as asked (scopes the owner lacks, a bad expiry)."""


class LastSuperuserError(AuthError):
    """Demoting, deactivating or deleting this account would leave no active superuser."""


class AccountInUseError(AuthError):
    """The account cannot be deleted: the app's rows still reference it (a foreign key)."""
