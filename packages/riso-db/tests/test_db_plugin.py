"""The pytest plugin: migrated engine once per session, each test rolled back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

import riso


@pytest.fixture(scope="module")
def app(riso_db_url: str, riso_db_features: list[Any]) -> FastAPI:
    """The app under test: riso-db and the widgets feature on the session's database."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISO_DB_URL", riso_db_url)
        built = FastAPI()
        riso.include(built, features=riso_db_features)
    return built


def _count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM testfeat_widget")).scalar_one())


def test_engine_has_every_feature_migrated(db_engine: Engine) -> None:
    tables = set(inspect(db_engine).get_table_names())
    assert {"testfeat_widget", "riso_widgets_alembic_version"} <= tables


@pytest.mark.parametrize("run", range(3))
def test_each_test_starts_empty_and_is_rolled_back(sync_db_session: Session, run: int) -> None:
    db_session = sync_db_session  # the sync session (``db_session`` is the async one)
    assert _count(db_session) == 0
    db_session.execute(text("INSERT INTO testfeat_widget (name, slug) VALUES ('x', 'x')"))
    if run == 1:
        db_session.commit()  # released savepoint; the outer transaction still rolls back
    assert _count(db_session) == 1


def test_plugin_registered_by_entry_point_and_url_from_env(tmp_path: Path) -> None:
    """A project outside this repo gets the fixtures just by installing riso-db."""
    (tmp_path / "test_outside.py").write_text(
        "from sqlalchemy import text\n"
        "def test_url(riso_db_url, sync_db_session):\n"
        "    db_session = sync_db_session\n"
        "    assert riso_db_url.endswith('outside.db')\n"
        "    assert db_session.execute(text('SELECT 1')).scalar() == 1\n"
    )
    (tmp_path / "conftest.py").write_text(
        "import pytest, riso_db\n"
        "@pytest.fixture(scope='session')\n"
        "def riso_db_features():\n"
        "    return [riso_db.feature]\n"
        "@pytest.fixture(scope='session')\n"
        "def app(riso_db_url):\n"
        "    import os, fastapi, riso\n"
        "    os.environ['RISO_DB_URL'] = riso_db_url\n"
        "    built = fastapi.FastAPI()\n"
        "    riso.include(built, features=[riso_db.feature])\n"
        "    return built\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_outside.py"],
        cwd=tmp_path,
        env={**os.environ, "RISO_TEST_DB_URL": f"sqlite:///{tmp_path / 'outside.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
