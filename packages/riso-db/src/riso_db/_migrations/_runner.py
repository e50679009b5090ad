"""Running the trees: upgrade, downgrade, and where each tree stands (current, check)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from riso_db._database import Database, database
from riso_db._exceptions import MigrationError
from riso_db._migrations._environment import connect, run_in_environment, scrub
from riso_db._migrations._lock import Echo, migration_lock
from riso_db._migrations._steps import downgrade_steps, upgrade_steps
from riso_db._migrations._trees import Tree, all_trees

if TYPE_CHECKING:
    from fastapi import FastAPI

Status = Literal["at head", "behind", "ahead"]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TreeState:
    tree: Tree
    current: tuple[str, ...]
    heads: tuple[str, ...]
    status: Status


def current_revisions(connection: Connection, tree: Tree) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": tree.version_table})
    return tuple(sorted(context.get_current_heads()))


def tree_state(connection: Connection, tree: Tree) -> TreeState:
    current = current_revisions(connection, tree)
    heads = tree.heads
    status: Status
    if set(current) == set(heads):
        status = "at head"
    else:
        known = set()
        if tree.versions_dir.is_dir():
            known = {rev.revision for rev in tree.script.walk_revisions()}
        status = "ahead" if any(rev not in known for rev in current) else "behind"
    return TreeState(tree, current, heads, status)


def states(connection: Connection, trees: Iterable[Tree]) -> list[TreeState]:
    result = [tree_state(connection, tree) for tree in trees]
    if connection.in_transaction():
        connection.rollback()
    return result


def _describe(revisions: Sequence[str]) -> str:
    return ", ".join(revisions) if revisions else "(empty)"


def upgrade_trees(
    db: Database, trees: Sequence[Tree], *, echo: Echo = _quiet
) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Bring every tree to its head under the lock; return what moved."""
    moved: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    with connect(db) as connection, migration_lock(connection, db, db.settings.lock_timeout, echo):
        for tree in trees:
            if not tree.heads:
                continue
            state = tree_state(connection, tree)
            before = state.current
            if state.status == "at head":
                continue
            if state.status == "ahead":
                raise MigrationError(
                    f"tree '{tree.name}' is at revision {_describe(before)}, which the installed "
                    "code does not know (a newer release migrated this database): install that "
                    "release, or downgrade the tree with it first"
                )
            script = tree.script

            def fn(rev: Any, _context: MigrationContext, script: ScriptDirectory = script) -> Any:
                return upgrade_steps(script, "heads", rev)

            try:
                run_in_environment(connection, tree, trees, fn, destination_rev="heads")
            except Exception as exc:
                raise _failed("upgrading", connection, tree, db, exc) from exc
            after = current_revisions(connection, tree)
            moved.append((tree.name, before, after))
            echo(f"{tree.name}: {_describe(before)} -> {_describe(after)}")
        if connection.in_transaction():
            connection.rollback()
    if not moved:
        echo("nothing to do: every migration tree is at its head")
    return moved


def downgrade_tree(
    db: Database, tree: Tree, trees: Sequence[Tree], target: str, *, echo: Echo = _quiet
) -> None:
    """Move one tree down to ``target`` (a revision, ``-1`` or ``base``)."""
    with connect(db) as connection, migration_lock(connection, db, db.settings.lock_timeout, echo):
        before = current_revisions(connection, tree)
        script = tree.script

        def fn(rev: Any, _context: MigrationContext) -> Any:
            return downgrade_steps(script, target, rev)

        try:
            run_in_environment(connection, tree, trees, fn, destination_rev=target)
        except CommandError as exc:
            raise MigrationError(f"cannot downgrade tree '{tree.name}': {exc}") from None
        except Exception as exc:
            raise _failed("downgrading", connection, tree, db, exc) from exc
        after = current_revisions(connection, tree)
        connection.rollback()
    echo(f"{tree.name}: {_describe(before)} -> {_describe(after)}")


def _failed(
    verb: str, connection: Connection, tree: Tree, db: Database, exc: Exception
) -> MigrationError:
    """The error for a run that failed midway, naming the revision the tree stays at."""
    if connection.in_transaction():
        connection.rollback()
    now = current_revisions(connection, tree)
    connection.rollback()
    return MigrationError(
        f"{verb} tree '{tree.name}' failed: {type(exc).__name__}: "
        f"{scrub(str(exc), db)}; it stays at revision {_describe(now)}"
    )


def upgrade(app: FastAPI, *, echo: Echo = _quiet) -> None:
    """Upgrade every active feature's tree in dependency order, then the app's, under one lock."""
    db = database(app)
    try:
        upgrade_trees(db, all_trees(app), echo=echo)
    finally:
        if not db.urls.is_memory:  # an in-memory database lives in its connection
            db.dispose_sync()
