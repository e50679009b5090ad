"""riso-db's pytest plugin (``pytest11`` entry point): a fresh database, every test rolled back.

Importing this module is cheap: SQLAlchemy, Alembic and the app's features are
imported only when a test asks for a fixture.

- The session's database: with ``RISO_TEST_DB_URL`` naming a server
  (``postgresql://...`` or ``mysql://...``), a new database on it for the
  session (one per pytest-xdist worker), dropped at the end; else a temporary
  SQLite file. Its URL is given to the app as ``RISO_DB_URL`` before the app
  is imported (see riso-core's plugin), and every migration tree of the app is
  upgraded on it before its first test.
- Every test that uses the app (``client``, ``async_client``, ``db_session``...)
  runs in one transaction rolled back at its end: whatever the test, the
  app's requests and riso-auth wrote, commits included, is gone (SQLite,
  PostgreSQL and MySQL/MariaDB; on MySQL a test that changes the schema fails,
  since DDL commits there).
- ``db_session`` (async) and ``sync_db_session`` (sync): sessions on the same
  connection as the app, so each sees what the other wrote.
- ``riso_db_url`` (session): the URL of the session's database.
- ``riso_db_features`` and ``db_engine`` (session): a sync engine on that
  database with the trees of ``riso_db_features`` upgraded, for suites without an app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from riso_db_pytest._shared import SharedConnection

__all__ = [
    "db_engine",
    "db_session",
    "pytest_riso_test_environ",
    "riso_db",
    "riso_db_features",
    "riso_db_isolation",
    "riso_db_url",
    "sync_db_session",
]


def pytest_riso_test_environ(config: pytest.Config) -> dict[str, str]:
    from riso_db_pytest._databases import session_database_url

    return {"RISO_DB_URL": session_database_url(config)}


@pytest.fixture(scope="session")
def riso_db_url(pytestconfig: pytest.Config) -> str:
    """The session's test database (fresh on ``RISO_TEST_DB_URL``'s server, else SQLite)."""
    from riso_db_pytest._databases import session_database_url

    return session_database_url(pytestconfig)


@pytest.fixture
def riso_db(riso_app: FastAPI, pytestconfig: pytest.Config) -> Iterator[SharedConnection]:
    """The app's database for this test: one connection, rolled back at the end."""
    from riso_db_pytest._isolation import shared_for
    from riso_db_pytest._shared import UnsupportedTestDatabaseError

    try:
        shared = shared_for(pytestconfig, riso_app)
    except UnsupportedTestDatabaseError as exc:
        pytest.fail(str(exc), pytrace=False)
    shared.begin()
    try:
        yield shared
    finally:
        failure = _roll_back(shared)
        if failure is not None:  # outside the except: one line, no chained error
            pytest.fail(failure, pytrace=False)


def _roll_back(shared: SharedConnection) -> str | None:
    from riso_db_pytest._shared import UnsupportedTestDatabaseError

    try:
        shared.rollback()
    except UnsupportedTestDatabaseError as exc:  # MySQL: DDL committed the test's writes
        return str(exc)
    return None


@pytest.fixture(autouse=True)
def riso_db_isolation(request: pytest.FixtureRequest) -> None:
    """Every test that talks to the app runs in a transaction rolled back at its end."""
    if "riso_app" in request.fixturenames:
        import riso

        if "db" in riso.registry(request.getfixturevalue("riso_app")):  # riso-db is active
            request.getfixturevalue("riso_db")


@pytest.fixture
async def db_session(riso_db: SharedConnection) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` on the app's connection; its commits are rolled back after the test."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(riso_db.async_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def sync_db_session(riso_db: SharedConnection) -> Iterator[Session]:
    """A sync ``Session`` on the app's connection; its commits are rolled back after the test."""
    from sqlalchemy.orm import Session

    with Session(riso_db.sync_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def riso_db_features() -> list[Any]:
    """Every installed riso feature; override to migrate only some (``db_engine``)."""
    from riso_db._compat import installed_features

    return [load() for _module, load in installed_features()]


@pytest.fixture(scope="session")
def db_engine(riso_db_url: str, riso_db_features: list[Any]) -> Iterator[Engine]:
    """A sync engine on the test database, with the trees of ``riso_db_features`` at their head."""
    from fastapi import FastAPI

    import riso
    from riso_db._database import database
    from riso_db._migrations._runner import upgrade_trees
    from riso_db._migrations._trees import all_trees

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISO_DB_URL", riso_db_url)
        app = FastAPI()
        riso.include(app, features=riso_db_features)
        db = database(app)
        upgrade_trees(db, all_trees(app))
    yield db.sync_engine
    db.sync_engine.dispose()
