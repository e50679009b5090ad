"""scripts/lint_migrations.py: squawk over every riso migration's PostgreSQL SQL.

riso's own revisions pass; an app whose revision is unsafe for a rolling
deploy (a NOT NULL column without a default, a column drop, a blocking index)
fails, the message naming the revision and the rule; a marker with a reason
in the migration file silences its rule, a marker without one is an error.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from riso_test_support import install as helpers

SCRIPT = helpers.ROOT / "scripts" / "lint_migrations.py"

BASE = textwrap.dedent(
    '''\
    """things: a new table and its index (safe: nothing reads it yet).

    Revision ID: app_0001_things
    Revises:
    """

    import sqlalchemy as sa
    from alembic import op

    revision = "app_0001_things"
    down_revision = None
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        op.create_table(
            "things",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(50), nullable=True),
            sa.Column("old", sa.String(50), nullable=True),
        )
        op.create_index("ix_things_name", "things", ["name"])


    def downgrade() -> None:
        op.drop_table("things")
    '''
)
UNSAFE = textwrap.dedent(
    '''\
    """the unsafe revision under test

    Revision ID: app_0002_unsafe
    Revises: app_0001_things
    """

    import sqlalchemy as sa
    from alembic import op

    revision = "app_0002_unsafe"
    down_revision = "app_0001_things"
    branch_labels = None
    depends_on = None
    {marker}

    def upgrade() -> None:
        {operation}


    def downgrade() -> None:
        pass
    '''
)
OPERATIONS = {
    "adding-required-field": (
        'op.add_column("things", sa.Column("size", sa.Integer(), nullable=False))'
    ),
    "ban-drop-column": 'op.drop_column("things", "old")',
    "require-concurrent-index-creation": 'op.create_index("ix_things_old", "things", ["old"])',
}


#: the expand-only way maintainers.md prescribes: nullable or defaulted columns, then
#: the index in a revision of its own, concurrently, re-runnable
SAFE_COLUMNS = (
    'op.add_column("things", sa.Column("size", sa.Integer(), nullable=True))\n    '
    'op.add_column("things", sa.Column("kind", sa.String(10), nullable=False, server_default="a"))'
)
SAFE_INDEX = textwrap.dedent(
    '''\
    """the index, concurrently, in its own revision

    Revision ID: app_0003_index
    Revises: app_0002_unsafe
    """

    from alembic import op

    revision = "app_0003_index"
    down_revision = "app_0002_unsafe"
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_things_size",
                "things",
                ["size"],
                postgresql_concurrently=True,
                if_not_exists=True,
            )


    def downgrade() -> None:
        with op.get_context().autocommit_block():
            op.drop_index(
                "ix_things_size", table_name="things", postgresql_concurrently=True, if_exists=True
            )
    '''
)


def lint(app_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--app-dir", str(app_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=helpers.clean_env(Path(sys.executable).parent.parent),
        timeout=120,
    )


def unsafe_app(tmp_path: Path, operation: str, marker: str = "") -> Path:
    helpers.write_app(tmp_path)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "app_0001_things.py").write_text(BASE, encoding="utf-8")
    text = UNSAFE.format(operation=operation, marker=marker)
    (tmp_path / "migrations" / "app_0002_unsafe.py").write_text(text, encoding="utf-8")
    return tmp_path


def test_riso_migrations_pass() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "-v"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "auth_0001_initial" in proc.stdout
    assert "auth_0003_identities" in proc.stdout


@pytest.mark.parametrize("rule", sorted(OPERATIONS))
def test_an_unsafe_revision_fails_naming_revision_and_rule(rule: str, tmp_path: Path) -> None:
    proc = lint(unsafe_app(tmp_path, OPERATIONS[rule]))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(f"revision app_0002_unsafe: {rule}:" in line for line in lines), proc.stderr
    # the safe base revision is linted too and is not blamed
    assert "app_0001_things" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_expand_only_way_passes(tmp_path: Path) -> None:
    app_dir = unsafe_app(tmp_path, SAFE_COLUMNS)
    (app_dir / "migrations" / "app_0003_index.py").write_text(SAFE_INDEX, encoding="utf-8")
    proc = lint(app_dir)
    assert proc.returncode == 0, proc.stderr
    assert "revisions pass squawk" in proc.stdout


def test_a_marker_with_a_reason_silences_its_rule(tmp_path: Path) -> None:
    marker = "# squawk-ignore ban-drop-column: unused since 1.0, removed in the 2.0 major\n"
    proc = lint(unsafe_app(tmp_path, OPERATIONS["ban-drop-column"], marker))
    assert proc.returncode == 0, proc.stderr
    assert "revisions pass squawk" in proc.stdout, proc.stdout


def test_a_marker_without_a_reason_is_an_error(tmp_path: Path) -> None:
    proc = lint(
        unsafe_app(tmp_path, OPERATIONS["ban-drop-column"], "# squawk-ignore ban-drop-column\n")
    )
    assert proc.returncode == 1
    assert "squawk-ignore needs a reason" in proc.stderr
    assert "revision app_0002_unsafe: ban-drop-column:" in proc.stderr
