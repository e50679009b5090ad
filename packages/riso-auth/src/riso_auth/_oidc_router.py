"""The endpoints of sign-in with a provider, under ``/auth/oidc`` (included only when
``RISO_AUTH_OIDC_PROVIDERS`` names one).

The callback answers with riso-auth's own token pair: as JSON (plus cookies
with the cookie transport), or, when the sign-in started with an allowed
``redirect_to``, as a 302 to it. With the cookie transport the redirect sets
the cookies and carries no token; without it the tokens ride in the URL
fragment, which browsers never send to a server nor put in a Referer.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from riso_auth._deps import CurrentUser, Runtime
from riso_auth._exceptions import OidcError
from riso_auth._oidc_flow import FlowError
from riso_auth._oidc_providers import Provider, error_code
from riso_auth._ratelimit import client_address
from riso_auth._runtime import AuthRuntime
from riso_auth._schemas import Message, TokenOut
from riso_auth._settings import AuthSettings
from riso_auth._transport import set_token_cookies

router = APIRouter(prefix="/auth/oidc", tags=["auth"])

_Param = Annotated[str | None, Query(max_length=4096)]


class AuthorizeOut(BaseModel):
    authorization_url: str


def _provider(runtime: AuthRuntime, name: str) -> Provider:
    found = runtime.oidc_providers.get(name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No provider named {name[:64]!r}")
    return found


def _callback_url(request: Request, provider: Provider) -> str:
    configured = provider.settings.callback_url
    return configured or str(request.url_for("oidc_callback", provider=provider.name))


def set_flow_cookie(response: Response, binding: str, settings: AuthSettings) -> None:
    # Lax, not Strict: the provider sends the browser back with a top-level GET
    response.set_cookie(
        settings.oidc_flow_cookie_name,
        binding,
        max_age=settings.oidc_flow_lifetime,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_flow_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(
        settings.oidc_flow_cookie_name, path="/", secure=True, httponly=True, samesite="lax"
    )


async def _start(
    runtime: AuthRuntime,
    request: Request,
    name: str,
    redirect_to: str | None,
    link_user_id: int | None,
) -> tuple[str, str]:
    provider = _provider(runtime, name)
    # every start writes a row: bounded per address like the callbacks
    address = client_address(request, runtime.settings)
    await runtime.limits.limit(f"oidc-start:addr:{address}", "oidc_callback_address")
    if redirect_to is not None and redirect_to not in provider.settings.redirect_to:
        # exact match only: no prefix, no normalisation, so no open redirect
        raise OidcError(f"redirect_to is not an allowed target for {name}", status_code=400)
    flow = await runtime.oidc_flows.start(name, redirect_to, link_user_id)
    url = await provider.authorization_url(flow, _callback_url(request, provider))
    return url, flow.binding


@router.get(
    "/{provider}/authorize",
    status_code=status.HTTP_302_FOUND,
    responses={
        302: {"description": "To the provider"},
        400: {"model": Message},
        404: {"model": Message},
        502: {"model": Message},
        504: {"model": Message},
    },
)
async def oidc_authorize(
    provider: str,
    request: Request,
    runtime: Runtime,
    redirect_to: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    """Start signing in with ``provider``: a 302 to it with state, nonce and PKCE (S256)."""
    url, binding = await _start(runtime, request, provider, redirect_to, None)
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    response.headers["Cache-Control"] = "no-store"
    set_flow_cookie(response, binding, runtime.settings)
    return response


@router.post(
    "/{provider}/link",
    response_model=AuthorizeOut,
    responses={400: {"model": Message}, 401: {"model": Message}, 404: {"model": Message}},
)
async def oidc_link(
    provider: str,
    user: CurrentUser,
    request: Request,
    response: Response,
    runtime: Runtime,
    redirect_to: Annotated[str | None, Query(max_length=2048)] = None,
) -> AuthorizeOut:
    """Link ``provider`` to the signed-in account: the URL to send the browser to."""
    url, binding = await _start(runtime, request, provider, redirect_to, user.id)
    set_flow_cookie(response, binding, runtime.settings)
    response.headers["Cache-Control"] = "no-store"
    return AuthorizeOut(authorization_url=url)


@router.delete(
    "/{provider}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Message}, 404: {"model": Message}, 409: {"model": Message}},
)
async def oidc_unlink(provider: str, user: CurrentUser, runtime: Runtime) -> None:
    """Unlink ``provider``; refused when the account would have no way left to sign in."""
    await runtime.identities.unlink(user.id, provider)


@router.get(
    "/{provider}/callback",
    response_model=TokenOut,
    responses={
        302: {"description": "To the sign-in's redirect_to"},
        400: {"model": Message},
        401: {"model": Message},
        403: {"model": Message},
        409: {"model": Message},
        429: {"model": Message},
        502: {"model": Message},
        504: {"model": Message},
    },
)
async def oidc_callback(
    provider: str,
    request: Request,
    runtime: Runtime,
    code: _Param = None,
    state: _Param = None,
    error: _Param = None,
) -> Response:
    """Where the provider sends the browser back: check everything, then sign in."""
    settings = runtime.settings
    found = _provider(runtime, provider)
    address = client_address(request, settings)
    await runtime.limits.limit(f"oidc:addr:{address}", "oidc_callback_address")
    binding = request.cookies.get(settings.oidc_flow_cookie_name)
    try:
        flow = await runtime.oidc_flows.finish(provider, state or "", binding)
    except FlowError as exc:
        if error:  # the provider's refusal says more than a missing state
            raise OidcError(_refusal(provider, error)) from None
        raise OidcError(f"Invalid sign-in state: {exc}") from None
    if error:
        raise OidcError(_refusal(provider, error))
    if not code:
        raise OidcError("The provider sent no code")
    identity = await found.identify(code, flow, _callback_url(request, found))
    signed_in = await runtime.identities.sign_in(
        provider,
        identity,
        auto_link=found.settings.auto_link,
        allow_registration=settings.allow_registration,
        link_user_id=flow.link_user_id,
    )
    user = signed_in.user
    if signed_in.registered:
        await runtime.emit("user_registered", user.id, user.email, provider=provider)
    if settings.require_verified and not user.is_verified:
        raise OidcError("Email address not verified", status_code=403)
    pair = await runtime.sessions.login(user)
    await runtime.emit("user_signed_in", user.id, user.email, method="provider", provider=provider)
    response: Response
    if flow.redirect_to is not None:
        target = flow.redirect_to
        if not settings.cookie_transport:
            fragment = {
                "access_token": pair.access_token,
                "refresh_token": pair.refresh_token,
                "token_type": "bearer",
                "expires_in": str(pair.expires_in),
            }
            target = f"{target.split('#', 1)[0]}#{urlencode(fragment)}"
        response = RedirectResponse(target, status_code=status.HTTP_302_FOUND)
    else:
        body = TokenOut(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )
        response = JSONResponse(body.model_dump())
    set_token_cookies(response, pair, settings)
    clear_flow_cookie(response, settings)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refusal(provider: str, error: str) -> str:
    return f"{provider} refused the sign-in: {error_code(error)}"


async def oidc_error_response(request: Request, exc: Exception) -> JSONResponse:
    """An ``OidcError`` as its status and message; the flow cookie is spent either way."""
    assert isinstance(exc, OidcError)
    response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    response.headers["Cache-Control"] = "no-store"
    from riso_auth._deps import runtime_of

    clear_flow_cookie(response, runtime_of(request.app).settings)
    return response
