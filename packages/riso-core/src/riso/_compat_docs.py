"""The private parts of FastAPI and fastapi-offline that riso's bundled docs rely on.

- fastapi-offline ships Swagger UI, ReDoc and FastAPI's favicon as files in
  its package folder ``static/`` (``swagger-ui-bundle.js``, ``swagger-ui.css``,
  ``redoc.standalone.js``, ``favicon.png``); its only public API is a FastAPI
  factory, which cannot be applied to an app that already exists.
- ``FastAPI.setup()`` adds the docs pages as plain Starlette routes whose
  endpoints are the closures ``swagger_ui_html`` and ``redoc_html``: that is
  how riso tells FastAPI's own pages from a page the app wrote itself.

``tests/test_compat_docs.py`` fails the day either changes.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.routing import BaseRoute, Route

__all__ = ["ASSET_FILES", "FASTAPI_DOCS_ENDPOINTS", "assets_directory", "is_fastapi_docs_route"]

#: the files riso serves, by the name the pages use
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

#: FastAPI's endpoint names for the Swagger UI and ReDoc pages
FASTAPI_DOCS_ENDPOINTS = ("swagger_ui_html", "redoc_html")


def assets_directory() -> Path:
    """fastapi-offline's folder of Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline") / "static"))


def is_fastapi_docs_route(route: BaseRoute, path: str, endpoint: str) -> bool:
    """Whether ``route`` is the page FastAPI's ``setup()`` added at ``path``."""
    return (
        isinstance(route, Route)
        and route.path == path
        and getattr(route.endpoint, "__name__", None) == endpoint
        and "FastAPI.setup" in getattr(route.endpoint, "__qualname__", "")
    )
