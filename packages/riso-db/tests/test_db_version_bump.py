"""Upgrading a feature is ``pip install -U`` plus ``riso db upgrade``, and nothing is lost.

riso-testfeat-widgets is built as two real wheels (1.0.0 creates a table,
2.0.0 adds a column and fills it from the stored rows) and installed one after
the other into one virtual environment; the ``riso`` CLI runs in that
environment, so discovery, package metadata and the versions folder found
through the installed package are all real.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import riso_db

APP = """\
from importlib.metadata import entry_points

import riso
import riso_db
from fastapi import FastAPI

(widgets,) = [ep.load() for ep in entry_points(group="riso.features", name="widgets")]
app = FastAPI()
riso.include(app, features=[riso_db.feature, widgets])
"""

#: runs several ``riso`` commands in one process (each one a full CLI invocation) and
#: reports, after each, its exit code, the widget rows and the tree's version
STEPS = """\
import json, os, sys
import sqlalchemy as sa
from riso._cli import cli
import riso_db

cli.add_command(riso_db.feature.cli)
engine = sa.create_engine(riso_db.parse_url(os.environ["RISO_DB_URL"]).sync_url)
for args in json.loads(sys.argv[1]):
    try:
        code = cli.main(args, prog_name="riso", standalone_mode=False) or 0
    except SystemExit as exc:
        code = exc.code
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("testfeat_widget")]
        query = f"SELECT {', '.join(columns)} FROM testfeat_widget ORDER BY id"
        rows = [list(r) for r in conn.execute(sa.text(query))]
        version = conn.execute(sa.text("SELECT version_num FROM riso_widgets_alembic_version"))
        report = {"code": code, "rows": rows, "version": [v[0] for v in version]}
    engine.dispose()
    print("STEP " + json.dumps(report), flush=True)
"""


def _steps(
    environment: Any, env: dict[str, str], cwd: Path, *commands: list[str]
) -> tuple[str, list[dict[str, Any]]]:
    result = environment.python_run(["-c", STEPS, json.dumps(list(commands))], env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    reports = [
        json.loads(line[5:]) for line in result.stdout.splitlines() if line.startswith("STEP ")
    ]
    assert len(reports) == len(commands), result.stdout + result.stderr
    return result.stdout + result.stderr, reports


def test_version_bump_keeps_rows_and_fills_new_column(
    db_url: str, environment: Any, wheel: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "widgets_app.py").write_text(APP)
    env = {
        "RISO_DB_URL": db_url,
        "RISO_APP": "widgets_app:app",
        "RISO_DB_MIGRATIONS": str(tmp_path / "migrations"),
    }

    # pip install riso-testfeat-widgets==1.0.0 && riso db upgrade
    environment.install(wheel("v1"))
    output, (first,) = _steps(environment, env, tmp_path, ["db", "upgrade"])
    assert "widgets: (empty) -> w0001" in output
    assert first == {"code": 0, "rows": [], "version": ["w0001"]}

    engine = sa.create_engine(riso_db.parse_url(db_url).sync_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO testfeat_widget (name) VALUES ('Alpha'), ('Beta'), ('Gamma')")
        )
    engine.dispose()

    # pip install -U riso-testfeat-widgets (2.0.0): behind until riso db upgrade
    environment.install(wheel("v2"))
    output, (check, up, down, up_again) = _steps(
        environment,
        env,
        tmp_path,
        ["db", "check"],
        ["db", "upgrade"],
        ["db", "downgrade", "widgets", "-1"],
        ["db", "upgrade"],
    )
    v1_rows = [[1, "Alpha"], [2, "Beta"], [3, "Gamma"]]
    v2_rows = [[1, "Alpha", "alpha"], [2, "Beta", "beta"], [3, "Gamma", "gamma"]]
    assert check == {"code": 1, "rows": v1_rows, "version": ["w0001"]}
    assert "tree 'widgets' is behind" in output
    assert up == {"code": 0, "rows": v2_rows, "version": ["w0002"]}
    assert "widgets: w0001 -> w0002" in output
    assert down == {"code": 0, "rows": v1_rows, "version": ["w0001"]}
    assert "widgets: w0002 -> w0001" in output
    assert up_again == {"code": 0, "rows": v2_rows, "version": ["w0002"]}
