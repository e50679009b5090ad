"""How tokens travel over HTTP: the bearer header, or cookies (set, cleared, CSRF-checked).

With ``RISO_AUTH_COOKIE_TRANSPORT`` the tokens are also set as ``__Host-``
cookies plus a readable CSRF cookie; a state-changing request authenticated by
cookie must repeat that cookie in the CSRF header (double submit). A bearer
header always takes precedence.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import HTTPException, Response, status
from starlette.requests import HTTPConnection

from riso_auth._sessions import TokenPair
from riso_auth._settings import AuthSettings

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def bearer_from_header(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, bearer = authorization.partition(" ")
    return bearer.strip() if scheme.lower() == "bearer" and bearer.strip() else None


def token_from(
    connection: HTTPConnection, bearer: str | None, settings: AuthSettings
) -> str | None:
    """The bearer token, or with cookie transport the access cookie (CSRF-checked)."""
    if bearer:
        return bearer
    if not settings.cookie_transport:
        return None
    cookie = connection.cookies.get(settings.cookie_name)
    if not cookie:
        return None
    method = connection.scope.get("method", "GET")
    if method not in _SAFE_METHODS:
        check_csrf(connection, settings)
    return cookie


def check_csrf(connection: HTTPConnection, settings: AuthSettings) -> None:
    """Double submit: the header must repeat the CSRF cookie on state-changing requests."""
    cookie = connection.cookies.get(settings.csrf_cookie_name, "")
    header = connection.headers.get(settings.csrf_header_name, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="CSRF token missing or wrong")


def set_token_cookies(response: Response, pair: TokenPair, settings: AuthSettings) -> None:
    """With cookie transport: the access, refresh and CSRF cookies of a new pair."""
    if not settings.cookie_transport:
        return
    common: dict[str, Any] = {
        "secure": True,
        "path": "/",
        "samesite": settings.cookie_samesite,
    }
    response.set_cookie(
        settings.cookie_name,
        pair.access_token,
        max_age=pair.expires_in,
        httponly=True,
        **common,
    )
    response.set_cookie(
        settings.refresh_cookie_name,
        pair.refresh_token,
        max_age=settings.refresh_token_lifetime,
        httponly=True,
        **common,
    )
    response.set_cookie(
        settings.csrf_cookie_name,
        secrets.token_urlsafe(32),
        max_age=settings.refresh_token_lifetime,
        httponly=False,  # the page's script reads it to send it back as a header
        **common,
    )


def clear_cookies(response: Response, settings: AuthSettings) -> None:
    """With cookie transport: delete the three cookies (logout, password change)."""
    if settings.cookie_transport:
        for name in (settings.cookie_name, settings.refresh_cookie_name, settings.csrf_cookie_name):
            response.delete_cookie(
                name, path="/", secure=True, httponly=True, samesite=settings.cookie_samesite
            )
