"""The FastAPI and fastapi-offline internals riso/_compat_docs.py relies on are still there.

When one of these fails, upstream changed: adapt riso/_docs.py before widening
the fastapi or fastapi-offline range.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.routing import Route

from riso._compat_docs import (
    ASSET_FILES,
    FASTAPI_DOCS_ENDPOINTS,
    assets_directory,
    is_fastapi_docs_route,
)


@pytest.mark.parametrize("name", ASSET_FILES)
def test_fastapi_offline_ships_each_asset(name: str) -> None:
    path = assets_directory() / name
    assert path.is_file(), f"fastapi-offline no longer ships static/{name}"
    assert path.stat().st_size > 0


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("swagger-ui-bundle.js", b"SwaggerUIBundle"),
        ("swagger-ui.css", b".swagger-ui"),
        ("redoc.standalone.js", b"Redoc"),
        ("favicon.png", b"\x89PNG"),
    ],
)
def test_the_assets_are_what_their_names_say(name: str, marker: bytes) -> None:
    assert marker in (assets_directory() / name).read_bytes()


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [("/docs", FASTAPI_DOCS_ENDPOINTS[0]), ("/redoc", FASTAPI_DOCS_ENDPOINTS[1])],
)
def test_fastapi_still_adds_its_docs_pages_as_recognisable_routes(path: str, endpoint: str) -> None:
    app = FastAPI()
    matches = [r for r in app.router.routes if is_fastapi_docs_route(r, path, endpoint)]
    assert len(matches) == 1, f"FastAPI no longer adds {endpoint} at {path} in setup()"


def test_a_route_of_the_apps_own_is_not_taken_for_fastapis() -> None:
    async def swagger_ui_html() -> None:  # same name, not FastAPI's
        return None

    own = Route("/docs", swagger_ui_html)
    assert not is_fastapi_docs_route(own, "/docs", "swagger_ui_html")
