"""Migrations: per-feature trees, the app's own tree, the CLI, the lock, failures."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from fastapi import FastAPI
from sqlalchemy.orm import Mapped, mapped_column

import riso
import riso_db
from riso._cli import cli as riso_cli
from riso_db._health import system_checks
from riso_db._migrations import _autogenerate, _environment, _lock, _trees

RISO_DB_CLI = (
    "from riso._cli import cli; import riso_db; cli.add_command(riso_db.feature.cli); "
    "cli.main(prog_name='riso')"
)


class Note(riso_db.PrimaryKeyMixin, riso_db.TimestampMixin, riso_db.Model):
    """A model of 'the app' in these tests."""

    __tablename__ = "dbtest_note"

    body: Mapped[str] = mapped_column(sa.String(200))


Invoke = Callable[..., Result]


@pytest.fixture
def own_models_only() -> Iterator[None]:
    """Hide the models other tests of this process imported (the starter's, say).

    The app's tree is every table of ``Model.metadata`` no feature owns; in a
    real app that is the app's own models, here it would also be whatever an
    earlier test imported, whose foreign keys may name tables this app lacks.
    """
    metadata = riso_db.Model.metadata
    foreign = [
        t for t in metadata.tables.values() if not t.name.startswith(("dbtest_", "testfeat_"))
    ]
    for table in foreign:
        metadata.remove(table)
    yield
    for table in foreign:
        metadata._add_table(table.name, table.schema, table)


@pytest.fixture
def cli_app(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    widgets: riso.Feature[Any],
    own_models_only: None,
) -> Iterator[Callable[..., Invoke]]:
    """``cli_app(url, with_widgets=True)`` -> ``invoke("db", "upgrade")`` on that app."""
    if riso_db.feature.cli is not None and "db" not in riso_cli.commands:
        riso_cli.add_command(riso_db.feature.cli)
    monkeypatch.chdir(tmp_path)
    created: list[str] = []

    def setup(url: str, *, with_widgets: bool = True, **env: str) -> Invoke:
        module = f"dbtest_app_{uuid.uuid4().hex[:8]}"
        features = (
            "[riso_db.feature, riso_testfeat_widgets.feature]"
            if with_widgets
            else ("[riso_db.feature]")
        )
        (tmp_path / f"{module}.py").write_text(
            "import riso, riso_db, riso_testfeat_widgets\nfrom fastapi import FastAPI\n"
            f"app = FastAPI()\nriso.include(app, features={features})\n"
        )
        created.append(module)
        monkeypatch.setenv("RISO_DB_URL", url)
        monkeypatch.setenv("RISO_APP", f"{module}:app")
        for key, value in env.items():
            monkeypatch.setenv(key, value)

        def invoke(*args: str) -> Result:
            return CliRunner().invoke(riso_cli, list(args), catch_exceptions=False)

        return invoke

    yield setup
    for module in created:
        sys.modules.pop(module, None)


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(riso_db.parse_url(url).sync_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_cli_cycle_features_then_app(db_url: str, cli_app: Callable[..., Invoke]) -> None:
    invoke = cli_app(db_url)
    current = invoke("db", "current")
    assert current.exit_code == 0, current.output
    assert re.search(r"widgets\s+riso_widgets_alembic_version\s+-\s+w0002\s+behind", current.output)
    assert invoke("db", "check").exit_code == 1

    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "widgets: (empty) -> w0002" in upgraded.output

    # the app's own first revision: autogenerate sees the app's model only
    revision = invoke("db", "revision", "-m", "add notes", "--autogenerate")
    assert revision.exit_code == 0, revision.output
    path = Path(revision.output.strip().splitlines()[-1].removeprefix("wrote "))
    assert path.parent == Path.cwd() / "migrations"
    source = path.read_text()
    assert "op.create_table('dbtest_note'" in source
    assert "testfeat_widget" not in source  # owned by a feature
    assert "alembic_version" not in source  # version tables are nobody's models
    assert "drop_table" not in source.split("def downgrade")[0]
    rev_id = re.search(r"^revision: str = '([^']+)'", source, re.M)
    assert rev_id is not None
    assert len(rev_id.group(1)) <= _trees.MAX_REVISION_LENGTH

    assert invoke("db", "check").exit_code == 1  # the app's tree is behind its new head
    upgraded = invoke("db", "upgrade")
    assert f"app: (empty) -> {rev_id.group(1)}" in upgraded.output
    check = invoke("db", "check")
    assert check.exit_code == 0, check.output
    assert {"dbtest_note", "alembic_version", "testfeat_widget"} <= _tables(db_url)

    history = invoke("db", "history")
    assert "w0001 -> w0002 (head)" in history.output
    assert f"<base> -> {rev_id.group(1)} (head), add notes" in history.output

    # no change, no revision content: a second autogenerate proposes nothing
    again = invoke("db", "revision", "-m", "noop", "--autogenerate")
    noop = Path(again.output.strip().splitlines()[-1].removeprefix("wrote ")).read_text()
    assert "op." not in noop.split("def upgrade")[1].split("def downgrade")[0]
    noop_path = Path(again.output.strip().splitlines()[-1].removeprefix("wrote "))
    noop_path.unlink()

    down = invoke("db", "downgrade", "app", "base")
    assert down.exit_code == 0, down.output
    assert "dbtest_note" not in _tables(db_url)
    assert "testfeat_widget" in _tables(db_url)  # other trees untouched
    assert "nothing to do" not in invoke("db", "upgrade").output
    assert "nothing to do" in invoke("db", "upgrade").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("db", "downgrade", "nope", "base"), "no migration tree named 'nope'"),
        (("db", "history", "nope"), "no migration tree named 'nope'"),
        (("db", "downgrade", "widgets", "zzzz"), "cannot downgrade tree 'widgets'"),
        (("db", "revision", "-m", "x", "--tree", "nope"), "no migration tree named 'nope'"),
    ],
)
def test_cli_bad_input_is_one_line(
    args: tuple[str, ...], message: str, cli_app: Callable[..., Invoke], tmp_path: Path
) -> None:
    invoke = cli_app(f"sqlite:///{tmp_path}/bad.db")
    assert invoke("db", "upgrade").exit_code == 0
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_unreachable_database_is_one_line_within_connect_timeout(
    cli_app: Callable[..., Invoke],
) -> None:
    """A server that accepts TCP and never answers: the CLI gives up after the connect timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        invoke = cli_app(
            f"postgresql://u:hunter2@127.0.0.1:{port}/x",
            with_widgets=False,
            RISO_DB_CONNECT_TIMEOUT="1",
        )
        result = invoke("db", "upgrade")
    assert result.exit_code == 2
    assert result.output.startswith(
        f"riso: error: cannot connect to postgresql://u:***@127.0.0.1:{port}/x"
    )
    assert "hunter2" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def _write_revision(folder: Path, rev: str, down: str | None, upgrade: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{rev}_step.py").write_text(
        f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\n"
        f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"def upgrade() -> None:\n{upgrade}\n\ndef downgrade() -> None:\n    pass\n"
    )


def test_migration_failing_halfway_leaves_previous_revision(
    transactional_ddl_url: str, make_app: Callable[..., FastAPI], tmp_path: Path
) -> None:
    """PostgreSQL and SQLite (riso-db makes its DDL transactional) roll a failed step back."""
    url = transactional_ddl_url
    folder = tmp_path / "migrations"
    _write_revision(
        folder,
        "a1",
        None,
        "    op.create_table('dbtest_a', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute('INSERT INTO dbtest_a (id) VALUES (1)')",
    )
    app = make_app(url, migrations=folder)
    riso_db.upgrade(app)
    _write_revision(
        folder,
        "b2",
        "a1",
        "    op.create_table('dbtest_b', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute('INSERT INTO dbtest_a (id) VALUES (2)')\n"
        "    op.execute('SELECT no_such_function()')",
    )
    app = make_app(url, migrations=folder)
    with pytest.raises(riso_db.MigrationError) as info:
        riso_db.upgrade(app)
    assert "upgrading tree 'app' failed" in str(info.value)
    assert "stays at revision a1" in str(info.value)
    engine = sa.create_engine(riso_db.parse_url(url).sync_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [("a1",)]
        assert conn.execute(sa.text("SELECT id FROM dbtest_a")).all() == [(1,)]
    engine.dispose()
    assert "dbtest_b" not in _tables(url)


def test_two_concurrent_upgrades_apply_once(pg_url: str, tmp_path: Path) -> None:
    """Both processes start while the lock is held; one applies, the other finds nothing."""
    folder = tmp_path / "migrations"
    _write_revision(
        folder,
        "c1",
        None,
        "    op.create_table('dbtest_applied', sa.Column('n', sa.Integer))\n"
        "    op.execute('INSERT INTO dbtest_applied (n) VALUES (1)')",
    )
    (tmp_path / "concurrent_app.py").write_text(
        "import riso, riso_db\nfrom fastapi import FastAPI\n"
        "app = FastAPI()\nriso.include(app, features=[riso_db.feature])\n"
    )
    env = {
        **os.environ,
        "RISO_DB_URL": pg_url,
        "RISO_DB_MIGRATIONS": str(folder),
        "RISO_APP": "concurrent_app:app",
    }
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_lock._PG_LOCK_KEY,))
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RISO_DB_CLI, "db", "upgrade"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for proc in procs:  # each reports it waits: both are blocked on the lock
            assert proc.stdout is not None
            assert "waiting for another process" in proc.stdout.readline()
        holder.execute("SELECT pg_advisory_unlock(%s)", (_lock._PG_LOCK_KEY,))
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out)
    assert sorted("app: (empty) -> c1" in out for out in outputs) == [False, True]
    assert sorted("nothing to do" in out for out in outputs) == [False, True]
    engine = sa.create_engine(riso_db.parse_url(pg_url).sync_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dbtest_applied")).scalar() == 1
    engine.dispose()


def test_lock_timeout_is_reported(
    db_url: str, make_app: Callable[..., FastAPI], tmp_path: Path
) -> None:
    """While another process holds the lock past RISO_DB_LOCK_TIMEOUT, upgrade gives up."""
    app = make_app(db_url, RISO_DB_LOCK_TIMEOUT="0.3")
    db = riso_db.database(app)
    holder = riso_db.Database(db.settings)
    with _environment.connect(holder) as conn:
        if db.dialect == "sqlite":
            path = Path(str(db.url.database)).resolve()
            with open(path.with_name(path.name + ".migrate-lock"), "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                with pytest.raises(riso_db.MigrationError, match="RISO_DB_LOCK_TIMEOUT"):
                    riso_db.upgrade(app)
        else:
            with (
                _lock.migration_lock(conn, holder, 5, print),
                pytest.raises(riso_db.MigrationError, match="RISO_DB_LOCK_TIMEOUT"),
            ):
                riso_db.upgrade(app)
    holder.dispose_sync()
    riso_db.upgrade(app)  # released: it proceeds


def test_revision_ids_longer_than_32_are_refused(
    tmp_path: Path, make_app: Callable[..., FastAPI]
) -> None:
    folder = tmp_path / "migrations"
    long_id = "r" * 33
    _write_revision(folder, long_id, None, "    pass")
    app = make_app(f"sqlite:///{tmp_path}/long.db", migrations=folder)
    with pytest.raises(riso_db.MigrationError, match="longer than 32 characters"):
        riso_db.upgrade(app)


def test_generated_revision_ids_fit(tmp_path: Path, make_app: Callable[..., FastAPI]) -> None:
    app = make_app(f"sqlite:///{tmp_path}/ids.db", migrations=tmp_path / "m")
    db = riso_db.database(app)
    trees = _trees.all_trees(app)
    for n in range(5):
        (path,) = _autogenerate.generate_revision(
            db, trees[-1], trees, f"step {n}" * 20, autogenerate=False
        )
        assert len(path.name.split("_", 1)[0]) <= _trees.MAX_REVISION_LENGTH
    assert len(trees[-1].script.get_heads()) == 1  # each one follows the previous


def test_app_migrations_beside_the_app_module(
    tmp_path: Path, cli_app: Callable[..., Invoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = cli_app(f"sqlite:///{tmp_path}/beside.db", with_widgets=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    os.chdir(tmp_path / "elsewhere")  # the working directory does not decide; the app module does
    result = invoke("--app", os.environ["RISO_APP"], "db", "revision", "-m", "first")
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip().removeprefix("wrote ")).parent == tmp_path / "migrations"


@pytest.mark.anyio
async def test_readiness_reports_trees_behind(
    db_url: str, make_app: Callable[..., FastAPI], widgets: riso.Feature[Any]
) -> None:
    app = make_app(db_url, features=(widgets,))
    check = riso_db.feature.health_checks[1]
    with pytest.raises(riso_db.DbError, match="widgets is behind"):
        await check.func(app)
    riso_db.upgrade(app)
    await check.func(app)
    await riso_db.database(app).dispose()


@pytest.mark.parametrize(
    ("env", "deploy", "expected"),
    [
        ({}, False, []),
        ({}, True, ["db.E002", "db.E003"]),
        ({"RISO_ENV": "production"}, False, ["db.E002", "db.E003"]),
        ({"RISO_DB_URL": "sqlite:///{tmp}/x.db"}, True, ["db.E001", "db.E003"]),
        (
            {"RISO_DB_URL": "sqlite:///{tmp}/x.db", "RISO_DB_POOL_PRE_PING": "false"},
            True,
            ["db.E001", "db.E003", "db.W001"],
        ),
        ({"RISO_DB_URL": "postgresql://u:hunter2@127.0.0.1:1/x"}, True, ["db.E004"]),
    ],
)
def test_system_checks(
    env: dict[str, str],
    deploy: bool,
    expected: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    widgets: riso.Feature[Any],
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    app = FastAPI()
    reg = riso.include(app, features=[riso_db.feature, widgets])
    ctx = riso.CheckContext(app=app, settings=reg.settings, core=reg.core, deploy=deploy)
    messages = list(system_checks(ctx))
    assert sorted(m.id for m in messages) == expected
    assert all("hunter2" not in str(m) for m in messages)
    if "db.E003" in expected:
        riso_db.upgrade(app)
        assert "db.E003" not in [m.id for m in system_checks(ctx)]


@pytest.mark.anyio
async def test_database_ahead_of_the_code_is_reported(
    tmp_path: Path, make_app: Callable[..., FastAPI], cli_app: Callable[..., Invoke]
) -> None:
    """A database migrated by a newer release than the one installed: 'ahead', not at head."""
    folder = tmp_path / "migrations"
    _write_revision(folder, "n1", None, "    pass")
    _write_revision(folder, "n2", "n1", "    pass")
    url = f"sqlite:///{tmp_path}/ahead.db"
    riso_db.upgrade(make_app(url, migrations=folder))
    (folder / "n2_step.py").unlink()  # the older release knows only n1
    invoke = cli_app(url, with_widgets=False, RISO_DB_MIGRATIONS=str(folder))
    refused = invoke("db", "upgrade")
    assert refused.exit_code == 2
    assert "tree 'app' is at revision n2, which the installed code does not know" in refused.output
    current = invoke("db", "current")
    assert re.search(r"app\s+alembic_version\s+n2\s+n1\s+ahead", current.output), current.output
    check = invoke("db", "check")
    assert check.exit_code == 1
    assert "tree 'app' is ahead" in check.output
    app = make_app(url, migrations=folder)
    with pytest.raises(riso_db.DbError, match="app is ahead"):
        await riso_db.feature.health_checks[1].func(app)
    await riso_db.database(app).dispose()


def test_app_migrations_beside_an_app_included_by_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app module that never calls riso.include itself: the CLI includes it."""
    if riso_db.feature.cli is not None and "db" not in riso_cli.commands:
        riso_cli.add_command(riso_db.feature.cli)
    package = tmp_path / f"plainapp_{uuid.uuid4().hex[:8]}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path}/plain.db")
    import importlib.metadata

    # the CLI discovers features: leave every other installed one out
    installed = {ep.name for ep in importlib.metadata.entry_points(group="riso.features")}
    monkeypatch.setenv("RISO_DISABLE", ",".join(sorted(installed - {"db"})))
    result = CliRunner().invoke(
        riso_cli,
        ["--app", f"{package.name}.main:app", "db", "revision", "-m", "first"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip().removeprefix("wrote ")).parent == package / "migrations"
    for name in (f"{package.name}.main", package.name):
        sys.modules.pop(name, None)


def test_check_fails_when_models_differ_from_schema(
    tmp_path: Path, cli_app: Callable[..., Invoke]
) -> None:
    """Every tree at head, but the app has a model no migration created: check says so."""
    invoke = cli_app(f"sqlite:///{tmp_path}/drift.db")
    assert invoke("db", "upgrade").exit_code == 0
    check = invoke("db", "check")
    assert check.exit_code == 1
    assert "the app's models differ from the database" in check.output
    assert "dbtest_note" in check.output
    assert "testfeat_widget" not in check.output  # the feature's table is not the app's
