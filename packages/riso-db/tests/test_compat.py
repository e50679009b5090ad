"""Private names of riso-core, aiosqlite and Alembic riso-db relies on (``riso_db._compat``).

They fail here first.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click
import pytest

import riso_db
from riso_db import _compat


def test_cli_support_still_has_the_spec_lookup_and_the_cli_state() -> None:
    from riso._cli_support import CliState, find_app_spec

    assert list(inspect.signature(find_app_spec).parameters) == ["option", "cwd"]
    state = CliState("main:app")
    assert (state.app_option, state.cwd) == ("main:app", Path.cwd())


def test_app_spec_reads_riso_app_then_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISO_APP", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _compat.app_spec() is None
    (tmp_path / "pyproject.toml").write_text('[tool.riso]\napp = "project.main:app"\n')
    assert _compat.app_spec() == "project.main:app"
    monkeypatch.setenv("RISO_APP", "other:app")
    assert _compat.app_spec() == "other:app"
    (tmp_path / "pyproject.toml").write_text("not toml [")
    monkeypatch.delenv("RISO_APP")
    assert _compat.app_spec() is None  # riso-core's AppNotFoundError: no spec


def test_app_spec_takes_the_option_of_a_running_riso_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riso._cli import cli
    from riso._cli_support import CliState

    monkeypatch.setenv("RISO_APP", "from_env:app")
    with click.Context(cli, obj=CliState("from_option:app", cwd=tmp_path)):
        assert _compat.app_spec() == "from_option:app"
    with click.Context(cli, obj=CliState(None, cwd=tmp_path)):
        assert _compat.app_spec() == "from_env:app"


def test_discovery_still_lists_entry_point_candidates() -> None:
    from riso._discovery import Candidate, discover

    (candidate,) = [c for c in discover() if c.name == "db"]
    assert isinstance(candidate, Candidate)
    assert candidate.entry_point is not None
    assert candidate.entry_point.module == "riso_db"
    assert candidate.load() is riso_db.feature


def test_installed_features_load_through_discovery() -> None:
    (load,) = [load for module, load in _compat.installed_features() if module == "riso_db"]
    assert load() is riso_db.feature


def test_aiosqlite_worker_thread_can_still_be_made_a_daemon() -> None:
    import sqlite3
    import threading

    import aiosqlite

    connection = aiosqlite.Connection(lambda: sqlite3.connect(":memory:"), 64)
    _compat.make_daemon(connection)
    thread = connection if isinstance(connection, threading.Thread) else connection._thread
    assert isinstance(thread, threading.Thread)
    assert thread.daemon
    assert not thread.is_alive()  # not started: nothing to stop


def test_alembic_still_runs_steps_through_migration_fn_and_writes_static_output(
    tmp_path: Path,
) -> None:
    import io

    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationStep
    from alembic.script import ScriptDirectory

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "r1.py").write_text(
        "from alembic import op\n"
        "revision = 'r1'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n    op.execute('SELECT 1')\n"
        "def downgrade():\n    pass\n"
    )
    templates = Path(riso_db.__file__).parent / "_templates"
    script = ScriptDirectory(str(templates), version_locations=[str(versions)])
    calls: list[str] = []

    def wrap(upgrade: object) -> object:
        def run(**kw: object) -> None:
            calls.append("wrapped")
            _compat.static_output("-- said by the wrapper")
            upgrade(**kw)  # type: ignore[operator]

        return run

    def fn(rev: object, _context: object) -> list[object]:
        scripts = reversed(list(script.iterate_revisions("heads", rev, implicit_base=True)))
        return [
            _compat.wrap_migration(MigrationStep.upgrade_from_script(script.revision_map, s), wrap)
            for s in scripts
        ]

    out = io.StringIO()
    env = EnvironmentContext(Config(), script, fn=fn, as_sql=True, destination_rev="heads")
    with env:
        env.configure(dialect_name="postgresql", output_buffer=out)
        with env.begin_transaction():
            env.run_migrations()
    assert calls == ["wrapped"]
    sql = out.getvalue()
    assert sql.index("-- said by the wrapper") < sql.index("SELECT 1")


async def test_sqlalchemy_still_has_greenlet_spawn() -> None:
    """``DirectQuery`` returns its own connection to the async pool through it."""
    from sqlalchemy.util import greenlet_spawn

    assert inspect.iscoroutinefunction(greenlet_spawn)
    assert await _compat.greenlet_spawn(lambda: 42) == 42


def test_the_hand_off_pool_plugs_into_sqlalchemys_queue_pool(tmp_path: Path) -> None:
    """``_queue_class`` builds the pool's queue; ``_sqla_logger_namespace`` names its logger."""
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    from riso_db._pool import HandOffQueue, HandOffQueuePool

    assert AsyncAdaptedQueuePool._queue_class is not None
    pool = HandOffQueuePool(lambda: None, pool_size=2)
    assert isinstance(pool._pool, HandOffQueue)
    assert pool._pool.maxsize == 2
    assert pool.logger.name == "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("asyncpg_error", "facade"),
    [
        ("UniqueViolationError", "IntegrityError"),
        ("UndefinedTableError", "ProgrammingError"),
        ("DivisionByZeroError", "Error"),
    ],
)
async def test_asyncpgs_errors_still_map_to_the_dialects_dbapi_errors(
    pg_url: str, asyncpg_error: str, facade: str
) -> None:
    """``_handle_exception`` of the adapted connection gives the DBAPI facade's class."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(pg_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        fairy = await engine.raw_connection()
        try:
            error = getattr(asyncpg.exceptions, asyncpg_error)("refused")
            translated = _compat.asyncpg_dbapi_error(fairy.dbapi_connection, error)
            dbapi = engine.dialect.loaded_dbapi
            assert type(translated) is getattr(dbapi, facade)
            assert translated.__cause__ is error
            assert translated.sqlstate == error.sqlstate  # type: ignore[attr-defined]
        finally:
            await _compat.greenlet_spawn(fairy.close)
    finally:
        await engine.dispose()
