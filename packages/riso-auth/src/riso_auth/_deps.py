"""FastAPI dependencies: who is calling, and may they?"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

import riso
from riso_auth._exceptions import AuthError, InvalidTokenError
from riso_auth._runtime import AuthRuntime, Principal

logger = logging.getLogger("riso.auth")

#: the scheme /docs uses: its "Authorize" button posts the form to /auth/token
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_BEARER = {"WWW-Authenticate": "Bearer"}


def runtime_of(app: FastAPI) -> AuthRuntime:
    try:
        found = riso.registry(app).extensions.get("auth")
    except riso.RisoError:
        found = None
    if not isinstance(found, AuthRuntime):
        raise AuthError("riso-auth is not included in this app: riso.include(app)")
    return found


def unauthorized(detail: str = "Not authenticated") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=_BEARER)


def _token_from(connection: HTTPConnection, bearer: str | None, runtime: AuthRuntime) -> str | None:
    """The bearer token, or with cookie transport the access cookie (CSRF-checked)."""
    if bearer:
        return bearer
    settings = runtime.settings
    if not settings.cookie_transport:
        return None
    cookie = connection.cookies.get(settings.cookie_name)
    if not cookie:
        return None
    method = connection.scope.get("method", "GET")
    if method not in _SAFE_METHODS:
        check_csrf(connection, runtime)
    return cookie


def check_csrf(connection: HTTPConnection, runtime: AuthRuntime) -> None:
    """Double submit: the header must repeat the CSRF cookie on state-changing requests."""
    settings = runtime.settings
    cookie = connection.cookies.get(settings.csrf_cookie_name, "")
    header = connection.headers.get(settings.csrf_header_name, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="CSRF token missing or wrong")


async def _optional_principal(
    request: Request, bearer: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    runtime = runtime_of(request.app)
    token = _token_from(request, bearer, runtime)
    if token is None:
        return None
    try:
        return await runtime.principal(token)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired token") from None


async def _current_principal(
    request: Request, bearer: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    # the same as _optional_principal, flattened: this is every protected request's path
    runtime = runtime_of(request.app)
    token = _token_from(request, bearer, runtime)
    if token is None:
        raise unauthorized()
    try:
        return await runtime.principal(token)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired token") from None


async def _verified_principal(
    principal: Annotated[Principal, Depends(_current_principal)],
) -> Principal:
    if not principal.is_verified:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Email address not verified")
    return principal


async def _superuser_principal(
    principal: Annotated[Principal, Depends(_current_principal)],
) -> Principal:
    if not principal.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Not enough privileges")
    return principal


async def _scoped_principal(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal, Depends(_current_principal)],
) -> Principal:
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Missing scope: {' '.join(missing)}",
            headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'},
        )
    return principal


#: the authenticated, active caller (401 otherwise)
CurrentUser = Annotated[Principal, Depends(_current_principal)]
#: the caller if a valid token came with the request, else None (a bad token is still a 401)
OptionalUser = Annotated[Principal | None, Depends(_optional_principal)]
#: an active caller whose email address is verified (403 otherwise)
VerifiedUser = Annotated[Principal, Depends(_verified_principal)]
#: an active superuser (403 otherwise)
SuperUser = Annotated[Principal, Depends(_superuser_principal)]


def require_scopes(*scopes: str) -> Any:
    """A dependency requiring every scope; OpenAPI lists them on the operation.

    ``@app.post("/items", dependencies=[require_scopes("items:write")])`` or
    ``user: Annotated[Principal, require_scopes("items:write")]``.
    """
    return Security(_scoped_principal, scopes=list(scopes))


async def authenticate_request(request: HTTPConnection) -> Principal | None:
    """The caller of ``request``, or None; never raises for a missing or bad token.

    Nor when the database cannot be reached (it logs a warning): riso-health
    calls it while reporting that very problem.
    """
    try:
        runtime = runtime_of(request.app)
    except AuthError:
        return None
    authorization = request.headers.get("authorization", "")
    scheme, _, bearer = authorization.partition(" ")
    token: str | None = bearer.strip() if scheme.lower() == "bearer" and bearer.strip() else None
    try:
        token = _token_from(request, token, runtime)
        if token is None:
            return None
        return await runtime.principal(token)
    except (InvalidTokenError, HTTPException):
        return None
    except (SQLAlchemyError, OSError) as exc:  # the database is down: nobody is authenticated
        logger.warning("authenticate_request: cannot check the token (%s)", type(exc).__name__)
        return None
