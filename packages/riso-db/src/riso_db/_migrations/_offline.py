"""What an upgrade would do, without doing it: each tree's SQL (offline) and pending revisions.

``riso db upgrade --sql`` renders every tree from an empty database in
Alembic's offline mode for a chosen dialect (no connection at all);
``riso db upgrade --dry-run`` reads where each tree stands and lists the
revisions an upgrade would apply, changing nothing.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from riso_db._compat import static_output, wrap_migration
from riso_db._exceptions import MigrationError
from riso_db._migrations._environment import context_options
from riso_db._migrations._runner import tree_state
from riso_db._migrations._steps import upgrade_steps
from riso_db._migrations._trees import Tree

DIALECTS = ("postgresql", "mysql", "sqlite")
#: what a revision's SQL begins with in the offline output (the lint splits on it)
REVISION_MARKER = "-- riso revision: "


def _offline(step: Any) -> Any:
    """The step with its data statements turned into a comment if they need live rows.

    Offline there are no rows: a data migration that reads them (``auth_0002``
    selects the users it rewrites) fails on the mock connection. Its SQL is
    then a comment saying so, and the version row still moves, as online.
    """
    revision = step.revision.revision

    def wrap(upgrade: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(upgrade)  # Alembic's "-- Running upgrade ..." line names it
        def run(**kw: Any) -> None:
            static_output(f"{REVISION_MARKER}{revision}")
            try:
                upgrade(**kw)
            except Exception as exc:  # any failure offline: reported in the SQL, never hidden
                static_output(
                    f"-- {revision} reads rows ({type(exc).__name__} offline): its data "
                    "statements are not rendered; `riso db upgrade` runs them"
                )

        return run

    return wrap_migration(step, wrap)


def upgrade_sql(trees: Sequence[Tree], dialect: str) -> str:
    """The SQL of every tree from an empty database to its heads, for ``dialect``."""
    if dialect not in DIALECTS:
        raise MigrationError(f"unknown dialect {dialect!r}; choose one of: {', '.join(DIALECTS)}")
    out = io.StringIO()
    for tree in trees:
        if not tree.heads:
            continue
        out.write(f"-- riso tree '{tree.name}' (version table {tree.version_table})\n\n")
        script = tree.script

        def fn(rev: Any, _context: MigrationContext, script: ScriptDirectory = script) -> Any:
            return [_offline(s) for s in upgrade_steps(script, "heads", rev)]

        env = EnvironmentContext(
            Config(), script, fn=fn, as_sql=True, destination_rev="heads", starting_rev=None
        )
        with env:
            env.configure(
                dialect_name=dialect,
                output_buffer=out,
                **context_options(tree, trees, dialect),
            )
            with env.begin_transaction():
                env.run_migrations()
    return out.getvalue()


@dataclass(frozen=True)
class Pending:
    tree: str
    current: tuple[str, ...]
    revisions: tuple[str, ...]


def pending(connection: Connection, trees: Sequence[Tree]) -> list[Pending]:
    """The revisions an upgrade would apply, per tree (trees at head left out)."""
    found: list[Pending] = []
    for tree in trees:
        if not tree.heads:
            continue
        state = tree_state(connection, tree)
        if state.status == "at head":
            continue
        if state.status == "ahead":
            raise MigrationError(
                f"tree '{tree.name}' is at revision {', '.join(state.current)}, which the "
                "installed code does not know (a newer release migrated this database)"
            )
        steps = upgrade_steps(tree.script, "heads", state.current)
        found.append(Pending(tree.name, state.current, tuple(s.revision.revision for s in steps)))
    if connection.in_transaction():
        connection.rollback()
    return found
