"""The pytest plugin: migrated engine once per session, each test rolled back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session


def _count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM testfeat_widget")).scalar_one())


def test_engine_has_every_feature_migrated(db_engine: Engine) -> None:
    tables = set(inspect(db_engine).get_table_names())
    assert {"testfeat_widget", "riso_widgets_alembic_version"} <= tables


@pytest.mark.parametrize("run", range(3))
def test_each_test_starts_empty_and_is_rolled_back(db_session: Session, run: int) -> None:
    assert _count(db_session) == 0
    db_session.execute(text("INSERT INTO testfeat_widget (name, slug) VALUES ('x', 'x')"))
    if run == 1:
        db_session.commit()  # released savepoint; the outer transaction still rolls back
    assert _count(db_session) == 1


def test_plugin_registered_by_entry_point_and_url_from_env(tmp_path: Path) -> None:
    """A project outside this repo gets the fixtures just by installing riso-db."""
    (tmp_path / "test_outside.py").write_text(
        "from sqlalchemy import text\n"
        "def test_url(riso_db_url, db_session):\n"
        "    assert riso_db_url.endswith('outside.db')\n"
        "    assert db_session.execute(text('SELECT 1')).scalar() == 1\n"
    )
    (tmp_path / "conftest.py").write_text(
        "import pytest, riso_db\n"
        "@pytest.fixture(scope='session')\n"
        "def riso_db_features():\n"
        "    return [riso_db.feature]\n"
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
