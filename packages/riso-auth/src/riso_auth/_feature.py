"""The ``riso.Feature`` riso-auth registers under the ``riso.features`` entry points."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import riso
from riso_auth._account_router import router as account_router
from riso_auth._admin_router import router as admin_router
from riso_auth._checks import check_settings
from riso_auth._cli import cli
from riso_auth._deps import authenticate_request, runtime_of
from riso_auth._exceptions import (
    AccountExistsError,
    AccountInUseError,
    ApiKeyError,
    InvalidTokenError,
    LastSuperuserError,
    OidcError,
    PasswordPolicyError,
    RateLimitedError,
    RoleError,
    RoleNotFoundError,
)
from riso_auth._models import tables
from riso_auth._router import router
from riso_auth._runtime import AuthRuntime
from riso_auth._settings import AuthSettings


def _on_include(app: FastAPI, settings: AuthSettings) -> None:
    registry = riso.registry(app)
    runtime = AuthRuntime(app, settings, production=registry.core.is_production)
    registry.extensions["auth"] = runtime
    registry.provide(riso.REQUEST_AUTHENTICATOR, authenticate_request)
    for exc_type, handler in _HANDLERS.items():
        app.add_exception_handler(exc_type, handler)
    if settings.oidc_providers:
        _include_oidc(app, runtime, settings)
    if importlib.util.find_spec("riso_tasks") is not None:
        # register the mail task, in the app and in a worker that includes it
        importlib.import_module("riso_auth._tasks")


def _include_oidc(app: FastAPI, runtime: AuthRuntime, settings: AuthSettings) -> None:
    """The provider endpoints, only when a provider is configured (they need riso-auth[oidc])."""
    from riso_auth._oidc_providers import build_providers  # raises, naming the extra

    runtime.oidc_providers = build_providers(settings.oidc_providers, leeway=settings.leeway)
    from riso_auth._oidc_router import oidc_error_response
    from riso_auth._oidc_router import router as oidc_router

    app.add_exception_handler(OidcError, oidc_error_response)
    app.include_router(oidc_router)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitedError)
    return JSONResponse(
        {"detail": "Too many attempts; try again later"},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _policy(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _exists(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _invalid_token(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "Invalid or expired token"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _status(code: int) -> Any:
    """A handler answering ``code`` with the error's message (written to be shown)."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


_HANDLERS = {
    RateLimitedError: _rate_limited,
    PasswordPolicyError: _policy,
    AccountExistsError: _exists,
    InvalidTokenError: _invalid_token,
    RoleNotFoundError: _status(404),
    RoleError: _status(400),
    ApiKeyError: _status(403),
    LastSuperuserError: _status(409),
    AccountInUseError: _status(409),
}


@asynccontextmanager
async def _lifespan(
    app: FastAPI, settings: AuthSettings
) -> AsyncIterator[Mapping[str, Any] | None]:
    runtime = runtime_of(app)
    runtime.check_startable()
    await runtime.passwords.warm_up()
    try:
        yield None
    finally:
        await runtime.close()


def _system_checks(ctx: riso.CheckContext) -> Iterable[riso.CheckMessage]:
    return check_settings(ctx)


feature: riso.Feature[AuthSettings] = riso.Feature(
    name="auth",
    core=">=0.1.6,<0.2",
    settings=AuthSettings,
    requires=("db",),
    routers=[router, account_router, admin_router],
    lifespan=_lifespan,
    system_checks=[_system_checks],
    cli=cli,
    migrations=riso.Migrations(versions="riso_auth.migrations", metadata=tables),
    on_include=_on_include,
)
