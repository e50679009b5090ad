"""Upgrading a feature is a version bump through pip, and nothing stored is lost.

There is no earlier release tag yet, so the "previous release" is riso-auth
as built from the tree (at the tree's version) and the "next release" is a
fixture: a copy of riso-auth's source with the patch version bumped by one,
one more model column and a new Alembic revision that adds a
nullable, indexed ``display_name`` column to ``auth_users`` and fills it for
the existing rows (a data migration). Released revisions stay untouched.

The user path, on SQLite and on PostgreSQL: the app on the tree's version with
users registered over HTTP; ``uv pip install --upgrade-package riso-auth``
picks the next one; ``riso db check`` reports the tree behind; ``riso db upgrade``; the old
users still log in, new ones register, readiness is green, and the data
migration filled the new column.
"""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from riso_test_support import install as helpers

from riso.testing import fresh_database

ROOT = Path(__file__).resolve().parents[2]


def tree_version(package: str) -> str:
    """The version of ``package`` in this tree (what the session's wheels carry)."""
    text = (ROOT / "packages" / package / "pyproject.toml").read_text(encoding="utf-8")
    return str(tomllib.loads(text)["project"]["version"])


#: the tree's riso-auth, and the made-up next release (its patch version + 1)
CURRENT = tree_version("riso-auth")
NEXT = ".".join([*CURRENT.split(".")[:2], str(int(CURRENT.split(".")[2]) + 1)])


#: the tree's head, which the made-up next release's revision follows
HEAD = helpers.tree_head("riso-auth")

REVISION = textwrap.dedent(
    '''\
    """riso-auth, next release: users get an optional display name, filled from the email.

    Revision ID: auth_next_display_name
    Revises: {head}
    """

    from __future__ import annotations

    import sqlalchemy as sa
    from alembic import op

    revision = "auth_next_display_name"
    down_revision = "{head}"
    branch_labels = None
    depends_on = None

    users = sa.table(
        "auth_users",
        sa.column("id", sa.Integer()),
        sa.column("email", sa.String(320)),
        sa.column("display_name", sa.String(100)),
    )


    def upgrade() -> None:
        op.add_column("auth_users", sa.Column("display_name", sa.String(100), nullable=True))
        op.create_index(op.f("ix_auth_users_display_name"), "auth_users", ["display_name"])
        bind = op.get_bind()
        for user_id, email in bind.execute(sa.select(users.c.id, users.c.email)).all():
            bind.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(display_name=email.split("@", 1)[0][:100])
            )


    def downgrade() -> None:
        op.drop_index(op.f("ix_auth_users_display_name"), table_name="auth_users")
        with op.batch_alter_table("auth_users") as batch:
            batch.drop_column("display_name")
    '''
)
MODEL_ANCHOR = (
    "    password_changed_at: Mapped[datetime | None]"
    " = mapped_column(UtcDateTime(), nullable=True)\n"
)
MODEL_COLUMN = (
    "    display_name: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)\n"
)


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected one {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="session")
def next_auth_wheel(build_all: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """riso-auth's next patch release, built from a bumped copy of the source."""
    base = tmp_path_factory.mktemp("next-auth")
    src = base / "riso-auth"
    shutil.copytree(
        ROOT / "packages" / "riso-auth",
        src,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".*_cache", "dist"),
    )
    replace_once(src / "pyproject.toml", f'version = "{CURRENT}"', f'version = "{NEXT}"')
    replace_once(
        src / "src/riso_auth/__init__.py", f'__version__ = "{CURRENT}"', f'__version__ = "{NEXT}"'
    )
    replace_once(src / "src/riso_auth/_models.py", MODEL_ANCHOR, MODEL_ANCHOR + MODEL_COLUMN)
    (src / "src/riso_auth/migrations/v9999_display_name.py").write_text(
        REVISION.replace("{head}", HEAD), encoding="utf-8"
    )
    out = base / "wheels"
    built = build_all.build_package(build_all.read_package(src), out)
    wheel: Path = built.wheel
    assert wheel.name == f"riso_auth-{NEXT}-py3-none-any.whl"
    return wheel


@pytest.fixture
def own_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database of this test's own on the conftest's server.

    ``postgres_url`` is one database for the whole session, shared with other
    tests (the starter's): this test migrates riso-auth to a revision the tree
    does not know, so it must never leave that in a shared database.
    """
    with fresh_database(postgres_url) as url:
        yield url


def display_names(url: str) -> dict[str, str | None]:
    """email -> display_name, read straight from the database."""
    query = "SELECT email, display_name FROM auth_users"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return dict(conn.execute(query).fetchall())
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute(query).fetchall())  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_riso_auth_by_version_bump_keeps_the_data(
    backend: str,
    request: pytest.FixtureRequest,
    venv_factory: Any,
    next_auth_wheel: Path,
    wheels: dict[str, Path],
) -> None:
    venv = venv_factory(f"upgrade-{backend}", find_links=[next_auth_wheel.parent])
    if backend == "sqlite":
        url, db_requirement = f"sqlite:///{venv.app_dir / 'app.db'}", "riso-db"
    else:
        url, db_requirement = request.getfixturevalue("own_postgres_url"), "riso-db[postgres]"
    # one secret across restarts, as in production; the database URL from the environment
    venv.env.update(RISO_DB_URL=url, RISO_AUTH_SECRET_KEY="install-test-secret-" + "k" * 32)

    # --- the app on the previous release, with data --------------------------------------
    venv.install(db_requirement, f"riso-auth=={CURRENT}", "riso-health", helpers.UVICORN)
    assert venv.distributions()["riso-auth"]["version"] == tree_version("riso-auth")
    assert f"auth: (empty) -> {HEAD}" in venv.riso("db", "upgrade").stdout
    old_users = {f"old-{i}@example.com": f"old user passphrase number {i}!" for i in range(3)}
    with helpers.serve(venv) as server, server.client() as client:
        for email, password in old_users.items():
            helpers.register_and_login(client, email, password)
        assert client.get("/ready").status_code == 200

    # --- pip install the next release: only riso-auth moves --------------------------------
    venv.install("riso-auth", "--upgrade-package", "riso-auth")
    installed = venv.distributions()
    assert installed["riso-auth"]["version"] == NEXT
    assert set(installed["riso-auth"]["record"]) == helpers.wheel_records(next_auth_wheel)
    assert installed["riso-db"]["version"] == tree_version("riso-db")
    assert set(installed["riso-db"]["record"]) == helpers.wheel_records(wheels["riso-db"])

    # the new code sees its tree behind until the migration runs
    check = venv.riso("db", "check", check=False)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "behind" in check.stdout + check.stderr

    upgraded = venv.riso("db", "upgrade").stdout
    assert f"auth: {HEAD} -> auth_next_display_name" in upgraded, upgraded
    current = venv.riso("db", "current").stdout
    auth_row = next(ln for ln in current.splitlines() if ln.startswith("auth "))
    assert "auth_next_display_name" in auth_row
    assert auth_row.rstrip().endswith("at head")
    assert venv.riso("db", "check", check=False).returncode == 0

    # --- the data is intact and the app works ---------------------------------------------
    with helpers.serve(venv) as server, server.client() as client:
        for email, password in old_users.items():
            helpers.login(client, email, password)
        taken = client.post(
            "/auth/register", json={"email": "old-0@example.com", "password": "a new passphrase 99"}
        )
        assert 400 <= taken.status_code < 500, taken.text
        helpers.register_and_login(client, "new@example.com", "new user passphrase 2026!")
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
    names = display_names(url)
    assert {e: names[e] for e in old_users} == {e: e.split("@")[0] for e in old_users}
    assert set(names) == {*old_users, "new@example.com"}
