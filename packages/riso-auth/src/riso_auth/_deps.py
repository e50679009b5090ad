"""FastAPI dependencies: the runtime, who is calling, and may they?

The caller's lookup asks for ``riso_db.get_session``: when the endpoint uses
``DbSession`` too, the lookup runs on that session's connection, so the
request takes one pooled connection (see ``_session_sharing``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

import riso
from riso_auth._exceptions import AuthError, InvalidTokenError, RateLimitedError
from riso_auth._principals import Principal
from riso_auth._runtime import AuthRuntime
from riso_auth._session_sharing import session_to_share
from riso_auth._transport import bearer_from_header, token_from
from riso_db import get_session

logger = logging.getLogger("riso.auth")

#: the scheme /docs uses: its "Authorize" button posts the form to /auth/token
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

_BEARER = {"WWW-Authenticate": "Bearer"}


def runtime_of(app: FastAPI) -> AuthRuntime:
    try:
        found = riso.registry(app).extensions.get("auth")
    except riso.RisoError:
        found = None
    if not isinstance(found, AuthRuntime):
        raise AuthError("riso-auth is not included in this app: riso.include(app)")
    return found


async def get_runtime(connection: HTTPConnection) -> AuthRuntime:
    """The runtime of the app serving the request (async: FastAPI runs a sync one in a thread)."""
    return runtime_of(connection.app)


#: an endpoint parameter: riso-auth's runtime for this app
Runtime = Annotated[AuthRuntime, Depends(get_runtime)]
#: the request's session (riso-db's ``DbSession``, solved once per request)
_RequestSession = Annotated[AsyncSession, Depends(get_session)]
_Bearer = Annotated[str | None, Depends(oauth2_scheme)]


def unauthorized(detail: str = "Not authenticated") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=_BEARER)


async def _optional_principal(
    request: Request, bearer: _Bearer, session: _RequestSession
) -> Principal | None:
    runtime = runtime_of(request.app)
    token = token_from(request, bearer, runtime.settings)
    if token is None:
        return None
    shared = session_to_share(request, session, _LOOKUPS)
    try:
        return await runtime.principals.lookup(token, shared)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired token") from None


async def _current_principal(
    request: Request, bearer: _Bearer, session: _RequestSession
) -> Principal:
    # the same as _optional_principal, flattened: this is every protected request's path
    # (the runtime is looked up here, not as a dependency: one fewer for FastAPI to solve)
    runtime = runtime_of(request.app)
    token = token_from(request, bearer, runtime.settings)
    if token is None:
        raise unauthorized()
    shared = session_to_share(request, session, _LOOKUPS)
    try:
        return await runtime.principals.lookup(token, shared)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired token") from None


#: the dependencies that use the request's session only for the caller's lookup
_LOOKUPS = (_optional_principal, _current_principal)


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
    calls it while reporting that very problem. It works outside endpoints, so
    the lookup takes a connection of its own.
    """
    try:
        runtime = runtime_of(request.app)
    except AuthError:
        return None
    try:
        token = token_from(request, bearer_from_header(request), runtime.settings)
        if token is None:
            return None
        return await runtime.principals.lookup(token)
    except (InvalidTokenError, RateLimitedError, HTTPException):
        return None
    except (SQLAlchemyError, OSError) as exc:  # the database is down: nobody is authenticated
        logger.warning("authenticate_request: cannot check the token (%s)", type(exc).__name__)
        return None
