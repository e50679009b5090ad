"""riso-core's pytest plugin (``pytest11`` entry point): the app under test and clients over it.

- ``app`` (session): the app named by ``RISO_APP`` or ``[tool.riso] app``, as the
  ``riso`` CLI finds it. A suite's own ``app`` fixture replaces it.
- ``riso_app`` (function): the app a test talks to; every riso plugin's
  per-test setup (database rollback, captured logs...) hangs on it.
- ``client``: Starlette's ``TestClient`` with the lifespan running for the test.
- ``async_client``: an ``httpx.AsyncClient`` over ``ASGITransport``, lifespan
  running (pytest-asyncio in auto mode, or anyio's plugin).
- markers ``unit``, ``integration``, ``e2e``, ``slow``.
- ``blocking(make)``: await ``make()`` from sync code (for other plugins' helpers).

The settings the installed plugins need (``pytest_riso_test_environ``) are put
in ``os.environ`` when pytest starts, before any test module imports the app,
unless the ini option ``riso_test_settings = false``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Literal

import pytest

from riso_pytest import _environ
from riso_pytest._blocking import blocking

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from starlette.testclient import TestClient

__all__ = [
    "app",
    "async_client",
    "blocking",
    "client",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
    "pytest_unconfigure",
    "riso_app",
]

MARKERS = {
    "unit": "a test of one unit, no database or network",
    "integration": "a test of the app with its database and services",
    "e2e": "a test of the running server, over the network",
    "slow": "a slow test (deselect with -m 'not slow')",
}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from riso_pytest import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


#: addini's value type, not a string literal in place: mypy would read one as a type form
_INI_TYPE: Literal["bool"] = "bool"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _environ.INI,
        "apply the riso plugins' test settings (test database, relaxed limits) to the "
        "environment when pytest starts (default true); false: only while the `app` "
        "fixture imports the app",
        type=_INI_TYPE,
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if _environ.apply_at_start(config) and not _environ.is_xdist_controller(config):
        _environ.apply(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _environ.restore(config)


@pytest.fixture(scope="session")
def app(pytestconfig: pytest.Config) -> FastAPI:
    """The application under test (``RISO_APP`` / ``[tool.riso] app``)."""
    from riso_pytest._app import load_app

    return load_app(pytestconfig)


@pytest.fixture
def riso_app(app: FastAPI) -> FastAPI:
    """The app this test talks to (the suite's ``app`` fixture, else the configured one)."""
    return app


@pytest.fixture
def client(riso_app: FastAPI) -> Iterator[TestClient]:
    """A sync ``TestClient`` over the app, its lifespan running for the test."""
    from riso_pytest._clients import sync_client

    with sync_client(riso_app) as http:
        yield http


@pytest.fixture
async def async_client(riso_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` over the app (``ASGITransport``), its lifespan running."""
    from riso_pytest._clients import async_client as open_client

    async with open_client(riso_app) as http:
        yield http
