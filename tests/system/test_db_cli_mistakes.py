"""``riso db`` refuses what cannot work, with a message saying what to do.

- an in-memory SQLite URL: every command would work on a database that is gone
  when it exits (``upgrade`` "succeeded" into nothing);
- ``revision --autogenerate`` on a database behind its head: upgrade first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from riso.testing import clean_environ

BIN = Path(sys.executable).parent
APP = """
import sqlalchemy as sa
from fastapi import FastAPI
import riso
import riso_db


class Note(riso_db.Model):
    __tablename__ = "notes"
    id = sa.Column(sa.Integer, primary_key=True)


app = FastAPI()
riso.include(app, only=["db"])
"""


def riso_db_cmd(cwd: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_environ(RISO_DB_URL=url)
    return subprocess.run(
        [BIN / "riso", "--app", "main:app", "db", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text(APP, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
@pytest.mark.parametrize(
    "args",
    [["upgrade"], ["current"], ["check"], ["downgrade", "app", "base"], ["revision", "-m", "x"]],
)
def test_an_in_memory_database_is_refused(project: Path, url: str, args: list[str]) -> None:
    result = riso_db_cmd(project, url, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "riso: error: RISO_DB_URL is an in-memory SQLite database, which is gone when this "
        "command exits: point it at a file (sqlite:///./app.db) or a server"
    ]
    assert not (project / "migrations").exists() or not any((project / "migrations").rglob("*.py"))


def test_autogenerate_on_a_database_behind_says_to_upgrade_first(project: Path) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    first = riso_db_cmd(project, url, "revision", "--autogenerate", "-m", "notes")
    assert first.returncode == 0, first.stderr
    written = sorted((project / "migrations").rglob("*.py"))
    behind = riso_db_cmd(project, url, "revision", "--autogenerate", "-m", "again")
    assert behind.returncode == 2, behind.stdout + behind.stderr
    assert "Traceback" not in behind.stderr
    assert "Target database is not up to date" in behind.stderr
    assert behind.stderr.rstrip().endswith("run `riso db upgrade` first")
    assert sorted((project / "migrations").rglob("*.py")) == written  # nothing half-written

    assert riso_db_cmd(project, url, "upgrade").returncode == 0
    again = riso_db_cmd(project, url, "revision", "--autogenerate", "-m", "again")
    assert again.returncode == 0, again.stderr
