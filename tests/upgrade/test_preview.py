"""``riso db upgrade --sql`` and ``--dry-run``, through the real CLI.

``--sql`` renders every tree (riso-auth's and the app's) offline: it never
connects, and its PostgreSQL output applied with ``psql`` to an empty
database gives the schema ``riso db upgrade`` gives (``riso db check`` passes
on it, and the reflected schemas are equal); the SQLite output applied with
sqlite3 too. ``--dry-run`` lists the revisions an upgrade would apply and
applies none; on an up-to-date database it says so and exits 0.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from riso_test_support import install as helpers
from riso_test_support import upgrade

from riso.testing import fresh_database

RISO = Path(sys.executable).parent / "riso"
NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
REVISION = textwrap.dedent(
    '''\
    """notes: the app's own table

    Revision ID: app_0001_notes
    Revises:
    """

    import sqlalchemy as sa
    from alembic import op

    revision = "app_0001_notes"
    down_revision = None
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        op.create_table(
            "notes",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("body", sa.String(200), nullable=False),
        )


    def downgrade() -> None:
        op.drop_table("notes")
    '''
)
MODEL = textwrap.dedent(
    """\

    import sqlalchemy as sa
    from sqlalchemy.orm import Mapped, mapped_column

    import riso_db


    class Note(riso_db.Model):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str] = mapped_column(sa.String(200))
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An app with every workspace feature, a model and the revision creating its table."""
    helpers.write_app(tmp_path)
    main = (tmp_path / "main.py").read_text(encoding="utf-8")
    head, tail = main.split("\n\nriso.include(app)\n")
    (tmp_path / "main.py").write_text(f"{head}\n{MODEL}\n\nriso.include(app)\n{tail}")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "app_0001_notes.py").write_text(REVISION, encoding="utf-8")
    return tmp_path


def riso(app_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = helpers.clean_env(
        Path(sys.executable).parent.parent,
        {"RISO_DB_URL": url, "RISO_AUTH_SECRET_KEY": upgrade.SECRET},
    )
    return subprocess.run(
        [str(RISO), *args], cwd=app_dir, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def two_databases(postgres_url: str) -> Iterator[tuple[str, str]]:
    with fresh_database(postgres_url) as first, fresh_database(postgres_url) as second:
        yield first, second


def schema(url: str) -> dict[str, Any]:
    """table -> columns (name, type, nullable), indexes, unique and foreign keys, reflected."""
    engine = sa.create_engine(upgrade.sqlalchemy_url(url))
    try:
        inspector = sa.inspect(engine)
        out = {}
        for table in sorted(inspector.get_table_names()):
            out[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
                ),
                "unique": sorted(str(u["name"]) for u in inspector.get_unique_constraints(table)),
                "foreign": sorted(str(f["name"]) for f in inspector.get_foreign_keys(table)),
            }
        return out
    finally:
        engine.dispose()


def test_sql_applied_with_psql_gives_the_schema_of_upgrade(
    app_dir: Path, two_databases: tuple[str, str]
) -> None:
    by_psql, by_upgrade = two_databases
    rendered = riso(app_dir, NOWHERE, "db", "upgrade", "--sql", "--dialect", "postgresql")
    assert rendered.returncode == 0, rendered.stderr  # no connection was attempted
    sql = rendered.stdout
    for revision in ("auth_0001_initial", "auth_0003_identities", "app_0001_notes"):
        assert f"-- riso revision: {revision}" in sql
    assert "auth_0002_normalise_emails reads rows" in sql  # a data migration, said so
    (app_dir / "upgrade.sql").write_text(sql, encoding="utf-8")
    applied = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            by_psql,
            "-f",
            str(app_dir / "upgrade.sql"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert applied.returncode == 0, applied.stderr

    check = riso(app_dir, by_psql, "db", "check")
    assert check.returncode == 0, check.stderr
    assert "every migration tree is at its head and the models match the schema" in check.stdout
    dry = riso(app_dir, by_psql, "db", "upgrade", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("up to date")

    assert riso(app_dir, by_upgrade, "db", "upgrade").returncode == 0
    assert schema(by_psql) == schema(by_upgrade)
    assert "auth_users" in schema(by_psql)


def test_sqlite_sql_applied_with_sqlite3_passes_check(app_dir: Path) -> None:
    url = f"sqlite:///{app_dir / 'app.db'}"
    rendered = riso(app_dir, url, "db", "upgrade", "--sql")  # the dialect of the configured URL
    assert rendered.returncode == 0, rendered.stderr
    assert not (app_dir / "app.db").exists()  # --sql never opened the database
    with sqlite3.connect(app_dir / "app.db") as connection:
        connection.executescript(rendered.stdout)
    check = riso(app_dir, url, "db", "check")
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", "id SERIAL NOT NULL"),
        ("mysql", "id INTEGER NOT NULL AUTO_INCREMENT"),
        ("sqlite", "id INTEGER NOT NULL"),
    ],
)
def test_sql_renders_each_dialect_offline(app_dir: Path, dialect: str, expected: str) -> None:
    rendered = riso(app_dir, NOWHERE, "db", "upgrade", "--sql", "--dialect", dialect)
    assert rendered.returncode == 0, rendered.stderr
    assert "CREATE TABLE auth_users" in rendered.stdout
    assert expected in rendered.stdout
    assert rendered.stdout.index("riso tree 'auth'") < rendered.stdout.index("riso tree 'app'")


def test_dry_run_lists_what_would_apply_and_applies_nothing(app_dir: Path) -> None:
    url = f"sqlite:///{app_dir / 'app.db'}"
    dry = riso(app_dir, url, "db", "upgrade", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    auth = next(line for line in lines if line.startswith("auth: "))
    assert auth.startswith(
        "auth: at (empty), would apply auth_0001_initial, auth_0002_normalise_emails"
    )
    assert "app: at (empty), would apply app_0001_notes" in lines
    with sqlite3.connect(app_dir / "app.db") as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert tables == []

    assert riso(app_dir, url, "db", "upgrade").returncode == 0
    again = riso(app_dir, url, "db", "upgrade", "--dry-run")
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout
        == "up to date: every migration tree is at its head; nothing would be applied\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sql", "--dialect", "oracle"), "Invalid value for '--dialect'"),
        (("--sql", "--dry-run"), "--sql and --dry-run are two different previews"),
        (("--dialect", "mysql"), "--dialect goes with --sql"),
    ],
)
def test_bad_options_get_a_usage_line(app_dir: Path, args: tuple[str, ...], message: str) -> None:
    proc = riso(app_dir, f"sqlite:///{app_dir / 'app.db'}", "db", "upgrade", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (app_dir / "app.db").exists()


def test_dry_run_on_an_unreachable_database_is_one_line(app_dir: Path) -> None:
    proc = riso(app_dir, NOWHERE, "db", "upgrade", "--dry-run")
    assert proc.returncode == 2  # riso's exit status for a riso error
    assert "riso: error: cannot connect to postgresql://postgres@127.0.0.1:1/nowhere" in proc.stderr
    assert "Traceback" not in proc.stderr
