"""The Alembic environment built in code: what an ``env.py`` would set up for one tree.

A sync connection with failures turned into one line, the context options of
a tree, and running a migration function in that environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from riso_db._database import Database
from riso_db._exceptions import DatabaseUnavailableError
from riso_db._migrations._trees import Tree, include_object_for
from riso_db._model import UtcDateTime


def scrub(message: str, db: Database) -> str:
    """The first line of ``message``, the database password masked."""
    password = db.urls.sync_url.password
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line.replace(password, "***") if password else line


@contextlib.contextmanager
def connect(db: Database) -> Iterator[Connection]:
    """A sync connection, with connection failures turned into one clear line."""
    try:
        connection = db.sync_engine.connect()
    except DBAPIError as exc:
        reason = scrub(str(exc.orig) if exc.orig is not None else str(exc), db)
        raise DatabaseUnavailableError(f"cannot connect to {db.urls.masked}: {reason}") from None
    try:
        yield connection
    finally:
        connection.close()


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        autogen_context.imports.add("import riso_db")
        return "riso_db.UtcDateTime()"
    return False


def context_options(tree: Tree, trees: Sequence[Tree], dialect: str) -> dict[str, Any]:
    """The context options of ``tree`` on a ``dialect`` connection (online or offline)."""
    sqlite = dialect == "sqlite"
    options: dict[str, Any] = {
        "version_table": tree.version_table,
        "target_metadata": tree.target_metadata,
        "include_object": include_object_for(tree, trees),
        "render_item": _render_item,
        "transaction_per_migration": True,
        "render_as_batch": sqlite,
        "compare_type": True,
    }
    if sqlite:
        # riso-db's SQLite connections emit BEGIN themselves: DDL is transactional
        options["transactional_ddl"] = True
    return options


def run_in_environment(
    connection: Connection,
    tree: Tree,
    trees: Sequence[Tree],
    fn: Callable[[Any, MigrationContext], Any],
    **kw: Any,
) -> None:
    """Configure ``tree``'s environment on ``connection`` and run ``fn`` in it, committed."""
    if connection.in_transaction():
        connection.commit()
    with EnvironmentContext(Config(), tree.script, fn=fn, **kw) as env:
        env.configure(
            connection=connection,
            **context_options(tree, trees, connection.dialect.name),
        )
        with env.begin_transaction():
            env.run_migrations()
    if connection.in_transaction():
        connection.commit()
