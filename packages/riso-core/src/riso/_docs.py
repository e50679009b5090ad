"""Serve ``/docs`` and ``/redoc`` from files installed with riso-core instead of a CDN.

FastAPI's pages load Swagger UI and ReDoc from jsDelivr, the favicon from
FastAPI's site and ReDoc's fonts from Google: on a network without internet
they stay blank. With ``RISO_DOCS_ASSETS=bundled`` (the default) riso replaces
FastAPI's two pages by the same pages (same ``get_swagger_ui_html`` /
``get_redoc_html`` calls, same title, OAuth2 redirect, ``init_oauth`` and
Swagger UI parameters) whose assets come from fastapi-offline's files, mounted
at :data:`ASSETS_PATH`. ``cdn`` leaves FastAPI's pages as they are. An app
with ``docs_url=None`` / ``redoc_url=None``, or with pages of its own, is left
alone.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from riso._compat_docs import FASTAPI_DOCS_ENDPOINTS, assets_directory, is_fastapi_docs_route

#: where the Swagger UI and ReDoc files are served (under the app's root path)
ASSETS_PATH = "/_riso/docs-assets"
#: the bundled ReDoc page loads images only from the app (and inline ones)
REDOC_CSP = "img-src 'self' data: blob:"


def install(app: FastAPI, mode: str) -> None:
    """Replace FastAPI's docs pages by ones whose assets are local (``mode == "bundled"``)."""
    if mode != "bundled" or not app.openapi_url:
        return
    swagger, redoc = FASTAPI_DOCS_ENDPOINTS
    replaced = False
    if app.docs_url:
        replaced |= _replace(app, app.docs_url, swagger, _swagger_page(app, app.docs_url))
    if app.redoc_url:
        replaced |= _replace(app, app.redoc_url, redoc, _redoc_page(app, app.redoc_url))
    if replaced:
        app.router.routes.append(
            Mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="riso_docs_assets")
        )


def _replace(app: FastAPI, path: str, endpoint: str, page: Route) -> bool:
    for index, route in enumerate(app.router.routes):
        if is_fastapi_docs_route(route, path, endpoint):
            app.router.routes[index] = page
            return True
    return False


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _swagger_page(app: FastAPI, path: str) -> Route:

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root = _root(request)
        redirect = app.swagger_ui_oauth2_redirect_url
        return get_swagger_ui_html(
            openapi_url=root + str(app.openapi_url),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect if redirect else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        )

    return Route(path, swagger_ui_html, include_in_schema=False)


def _redoc_page(app: FastAPI, path: str) -> Route:

    async def redoc_html(request: Request) -> HTMLResponse:
        root = _root(request)
        page = get_redoc_html(
            openapi_url=root + str(app.openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # ReDoc falls back to the system fonts; Google's would leave the machine
            with_google_fonts=False,
        )
        # ReDoc's sidebar logo is an <img> from cdn.redoc.ly, hidden when it fails
        # to load: the browser is told not to try, so nothing leaves the machine
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page

    return Route(path, redoc_html, include_in_schema=False)
