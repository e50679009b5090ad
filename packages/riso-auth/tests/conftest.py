"""Fixtures for riso-auth's tests: a database on each engine, an app factory, an email.

The helpers behind them (``make_app``, ``serve``, ``register_and_login``...)
are in ``riso_test_support.auth``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from riso_test_support.auth import AppFactory, make_app
from riso_test_support.oidc import oidc_issuer as oidc_issuer  # the real provider

from riso.testing import fresh_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    url: str = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "mariadb_url"
    )
    return url


@pytest.fixture
def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def app_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppFactory]:
    def factory(url: str, **env: str) -> FastAPI:
        return make_app(url, monkeypatch, **env)

    return factory


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for this test (no account of another test in it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'auth.db'}"
        return
    server: str = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "mariadb_url"
    )
    with fresh_database(server) as url:
        yield url
