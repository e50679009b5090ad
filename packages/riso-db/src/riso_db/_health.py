"""Health checks (served by riso-health) and system checks (``riso check``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from riso import CheckContext, CheckMessage
from riso_db._database import Database, database
from riso_db._exceptions import DatabaseUnavailableError, DbError

if TYPE_CHECKING:
    from fastapi import FastAPI


async def ping(app: FastAPI) -> None:
    """``SELECT 1`` within ``RISO_DB_HEALTH_TIMEOUT`` seconds."""
    db = database(app)
    try:
        with anyio.fail_after(db.settings.health_timeout):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnavailableError(
            f"database did not answer within {db.settings.health_timeout:g}s"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailableError(f"database unavailable: {type(exc).__name__}") from None


async def migrations_at_head(app: FastAPI) -> None:
    """Fail while any migration tree is behind (or ahead of) the installed code."""
    from riso_db._migrations._runner import states
    from riso_db._migrations._trees import all_trees

    db = database(app)
    trees = all_trees(app)
    try:
        async with db.engine.connect() as connection:
            found = await connection.run_sync(states, trees)
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailableError(f"database unavailable: {type(exc).__name__}") from None
    lagging = [f"{s.tree.name} is {s.status}" for s in found if s.status != "at head"]
    if lagging:
        raise DbError("migrations pending: " + "; ".join(lagging) + " (run: riso db upgrade)")


def system_checks(ctx: CheckContext) -> Iterator[CheckMessage]:
    """Production hazards, under ``riso check --deploy`` or ``RISO_ENV=production``."""
    if not (ctx.deploy or ctx.core.is_production):
        return
    settings = ctx.settings.get("db")
    if settings is None:
        return
    db = Database(settings)
    if settings.is_default_url:
        yield CheckMessage(
            "db.E002",
            "no database is configured: the default SQLite file ./riso.db is used.",
            hint="set RISO_DB_URL (or DATABASE_URL) to your PostgreSQL or MySQL database",
        )
    elif db.dialect == "sqlite":
        yield CheckMessage(
            "db.E001",
            "the database is SQLite, which serves one machine and few writers.",
            hint="use PostgreSQL or MySQL/MariaDB in production: set RISO_DB_URL",
        )
    if not settings.pool_pre_ping:
        yield CheckMessage(
            "db.W001",
            "RISO_DB_POOL_PRE_PING is off: the first request after a database restart fails.",
            hint="leave RISO_DB_POOL_PRE_PING at its default (true)",
        )
    if settings.query_timeout == 0 and db.dialect != "sqlite":
        yield CheckMessage(
            "db.W002",
            "RISO_DB_QUERY_TIMEOUT is 0: a request whose database connection goes silent "
            "(a paused server, a network black hole) hangs for good, holding its connection.",
            hint="leave RISO_DB_QUERY_TIMEOUT at its default (10 seconds) or set a bound",
        )
    yield from _migration_checks(ctx.app, database(ctx.app))


def _migration_checks(app: FastAPI, db: Database) -> Iterator[CheckMessage]:
    from riso_db._migrations._environment import connect
    from riso_db._migrations._runner import states
    from riso_db._migrations._trees import all_trees

    try:
        with connect(db) as connection:
            found = states(connection, all_trees(app))
    except DbError as exc:
        yield CheckMessage(
            "db.E004",
            f"cannot check migrations: {exc}",
            hint="check RISO_DB_URL and that the database server is up",
        )
        return
    finally:
        db.dispose_sync()
    for state in found:
        if state.status != "at head":
            yield CheckMessage(
                "db.E003",
                f"migration tree '{state.tree.name}' is {state.status} "
                f"(at {', '.join(state.current) or '(empty)'}, "
                f"head {', '.join(state.heads) or '(none)'}).",
                hint="run: riso db upgrade",
            )
