"""pytest fixtures for apps built on riso-db (registered through the ``pytest11`` entry point).

Importing this module is cheap: SQLAlchemy, Alembic and the app's features are
imported only when a test asks for a fixture.

- ``riso_db_url`` (session): ``RISO_TEST_DB_URL``, else a temporary SQLite file.
- ``riso_db_features`` (session): the features whose migrations ``db_engine`` applies;
  every installed feature by default. Override it in a conftest to choose.
- ``db_engine`` (session): a sync ``Engine`` on that database, every tree upgraded
  once per session (features in dependency order, then the app's own when
  ``RISO_DB_MIGRATIONS`` or ``./migrations`` holds revisions).
- ``db_session`` (function): a sync ``Session`` whose work, commits included, is
  rolled back after the test (it runs in a savepoint of an outer transaction).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def riso_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database: ``RISO_TEST_DB_URL``, else a new SQLite file."""
    configured = os.environ.get("RISO_TEST_DB_URL")
    if configured:
        return configured
    return f"sqlite:///{tmp_path_factory.mktemp('riso_db') / 'test.db'}"


@pytest.fixture(scope="session")
def riso_db_features() -> list[Any]:
    """Every installed riso feature; override to migrate only some."""
    from riso_db._compat import installed_features

    return [load() for _module, load in installed_features()]


@pytest.fixture(scope="session")
def db_engine(riso_db_url: str, riso_db_features: list[Any]) -> Iterator[Engine]:
    """A sync engine on the test database, with every migration tree at its head."""
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


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session rolled back after the test, whatever it committed."""
    from sqlalchemy.orm import Session

    connection = db_engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
