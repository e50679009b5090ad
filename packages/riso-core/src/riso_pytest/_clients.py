"""HTTP clients over the app under test, its lifespan running for the test."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from starlette.testclient import TestClient

BASE_URL = "http://testserver"


def _need_httpx() -> None:
    try:
        import httpx  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("riso's client fixtures need httpx: pip install httpx") from None


@contextmanager
def sync_client(app: FastAPI) -> Iterator[TestClient]:
    """Starlette's ``TestClient``, entered: startup ran, shutdown runs at exit."""
    _need_httpx()
    with warnings.catch_warnings():
        # recent Starlette deprecates httpx for TestClient in favour of httpx2; either works
        warnings.filterwarnings("ignore", message=".*httpx2")
        from starlette.testclient import TestClient

    with TestClient(app, base_url=BASE_URL) as client:
        yield client


@asynccontextmanager
async def async_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` over ``ASGITransport``, inside the app's lifespan."""
    _need_httpx()
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client
