"""The package surface: __all__, cheap imports, the feature declaration."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import riso_db


def test_all_is_complete() -> None:
    public = {name for name in vars(riso_db) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(riso_db, name)).__name__ == "module"}
    assert set(riso_db.__all__) == public - modules - {"annotations"}
    for name in riso_db.__all__:
        assert hasattr(riso_db, name)


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import riso_db", ["alembic", "psycopg", "aiomysql", "pymysql", "aiosqlite", "riso_auth"]),
        ("import riso_db_pytest", ["sqlalchemy", "alembic", "fastapi", "riso_db"]),
        ("import riso_db; riso_db.feature.cli", ["alembic"]),
    ],
)
def test_imports_stay_cheap(statement: str, absent: list[str]) -> None:
    code = f"{statement}\nimport sys\nprint(sorted(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_feature_declaration() -> None:
    feature = riso_db.feature
    assert feature.name == "db"
    assert feature.settings is riso_db.DbSettings
    assert [check.name for check in feature.health_checks] == ["db", "db.migrations"]
    assert feature.cli is not None
    assert feature.cli.name == "db"
    assert set(feature.cli.commands) == {  # type: ignore[attr-defined]
        "upgrade",
        "downgrade",
        "current",
        "check",
        "history",
        "revision",
    }


def test_naming_convention_names_constraints() -> None:
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, UniqueConstraint

    metadata = MetaData(naming_convention=riso_db.NAMING_CONVENTION)
    Table("parent", metadata, Column("id", Integer, primary_key=True))
    child = Table(
        "child",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey("parent.id")),
        UniqueConstraint("parent_id"),
    )
    names = {c.name for c in child.constraints}
    assert names == {"pk_child", "fk_child_parent_id_parent", "uq_child_parent_id"}
    assert riso_db.Model.metadata.naming_convention == riso_db.NAMING_CONVENTION


def test_alembic_context_lines_are_quiet_unless_the_app_chose_a_level() -> None:
    code = (
        "import logging\n"
        "import riso_db._migrations\n"
        "print(logging.getLogger('alembic.runtime.migration').level)\n"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert quiet.stdout.strip() == str(logging.WARNING)
    chosen = subprocess.run(
        [sys.executable, "-c", "import logging\n"
         "logging.getLogger('alembic.runtime.migration').setLevel(logging.INFO)\n" + code],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert chosen.stdout.strip() == str(logging.INFO)
