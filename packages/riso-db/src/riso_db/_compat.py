"""The private names of riso-core, aiosqlite and Alembic that riso-db relies on, in this one module.

riso-core has no public function yet for the two things riso-db needs outside
an app's registry: the app spec as the ``riso`` CLI reads it (``--app``,
``RISO_APP``, ``[tool.riso] app``), and the installed features, active or not.
Both are read here through riso-core's own code so they never drift from the
CLI and from ``riso.include``; tests/test_compat.py fails the day riso-core
changes them.

aiosqlite runs each connection on a worker thread that is not a daemon: a
connection nobody closed would keep the interpreter from exiting. SQLAlchemy
marks it a daemon when it opens the connection itself; riso-db opens its own
(``_aiosqlite``) and does the same here.

SQLAlchemy returns a pooled connection of an async engine through its sync
pool, which awaits the driver through a greenlet: ``greenlet_spawn`` (not in
its documented API) runs that step for a ``DirectQuery``'s own connection.

SQLAlchemy's queue pool takes the class of its queue from ``_queue_class``
and expects the interface of ``sqlalchemy.util.queue`` (``QueueCommon``,
``Empty``, ``Full``); riso-db's async pool puts its first-come, first-served
queue there (``_pool``), awaiting through ``await_only`` as SQLAlchemy's does,
and keeps the pool's log lines under SQLAlchemy's logger name
(``_sqla_logger_namespace``).

SQLAlchemy's asyncpg dialect turns asyncpg's exceptions into its DBAPI
facade's (``IntegrityError``, ``ProgrammingError``...) in the adapted
connection's ``_handle_exception``; a ``DirectQuery`` on asyncpg raises what
that gives, so a refused statement is the same exception through either path.

Alembic runs a migration step through its ``migration_fn`` attribute and
writes offline SQL through the context's ``impl.static_output``; neither is
documented. ``riso db upgrade --sql`` replaces the one (to turn a data
migration that needs live rows into a comment) and calls the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# private: the queue interface of SQLAlchemy's QueuePool (sqlalchemy.util.queue), and
# the bridge its asyncio extension runs every sync step through
from sqlalchemy.util import await_only, greenlet_spawn
from sqlalchemy.util.queue import Empty as QueueEmpty
from sqlalchemy.util.queue import Full as QueueFull
from sqlalchemy.util.queue import QueueCommon as PoolQueue

import riso

__all__ = [
    "PoolQueue",
    "QueueEmpty",
    "QueueFull",
    "await_only",
    "greenlet_spawn",
]

#: an installed feature: the module its entry point names, and how to load it
InstalledFeature = tuple[str, Callable[[], riso.Feature[Any]]]


def app_spec() -> str | None:
    """The ``module:attr`` naming the app, found as the ``riso`` CLI finds it; None when unset.

    While a ``riso`` command runs, its ``--app`` option and working directory
    count, as they do for the command itself.
    """
    import click

    # private: riso-core keeps the CLI's per-invocation state and the spec lookup here
    from riso._cli_support import CliState, find_app_spec

    context = click.get_current_context(silent=True)
    state = context.find_object(CliState) if context is not None else None
    option, cwd = (state.app_option, state.cwd) if state is not None else (None, Path.cwd())
    try:
        spec, _source, _folder = find_app_spec(option, cwd)
    except riso.AppNotFoundError:
        return None
    return spec


def installed_features() -> list[InstalledFeature]:
    """Every installed feature from riso-core's discovery (the ``riso.features`` entry points).

    Loading one raises ``riso.DiscoveryError`` when it is broken; finding them
    raises ``riso.DuplicateFeatureError`` when two distributions share a name.
    """
    # private: riso-core exports discovery only through riso.include(app)
    from riso._discovery import discover

    return [
        (candidate.entry_point.module if candidate.entry_point is not None else "", candidate.load)
        for candidate in discover()
    ]


def make_daemon(connection: Any) -> None:
    """Mark the worker thread of an aiosqlite connection (not started yet) a daemon."""
    import threading

    if isinstance(connection, threading.Thread):  # aiosqlite < 0.22: the connection is the thread
        connection.daemon = True
    else:
        # private: aiosqlite >= 0.22 keeps its worker thread here (SQLAlchemy does the same)
        connection._thread.daemon = True


def wrap_migration(step: Any, wrap: Callable[[Callable[..., None]], Callable[..., None]]) -> Any:
    """``step`` (an Alembic ``RevisionStep``) running ``wrap(its upgrade function)`` instead."""
    # private: MigrationContext.run_migrations calls step.migration_fn(**kw)
    step.migration_fn = wrap(step.migration_fn)
    return step


def static_output(text: str) -> None:
    """Write a line into the offline SQL of the migration running now."""
    from alembic import op

    # private: offline, the context's impl writes each statement into the output buffer
    op.get_context().impl.static_output(text)


def use_pool_queue(pool_class: type[Any], queue_class: type[Any]) -> None:
    """Make ``pool_class`` (a ``QueuePool``) keep its idle connections in ``queue_class``."""
    # private: QueuePool.__init__ builds self._pool = self._queue_class(pool_size, use_lifo=...)
    pool_class._queue_class = queue_class
    # private: SQLAlchemy names a class's logger by this, else by its module: the
    # pool's lines ("Pool disposed", "Invalidate connection") keep SQLAlchemy's name
    pool_class._sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"


def asyncpg_dbapi_error(dbapi_connection: Any, error: Exception) -> Exception:
    """The DBAPI facade's exception SQLAlchemy's asyncpg dialect raises for ``error``.

    ``dbapi_connection`` is the pooled connection's adapted asyncpg connection;
    an error it does not map comes back unchanged.
    """
    try:
        dbapi_connection._handle_exception(error)
    except Exception as translated:  # it always raises: the mapped error, or error itself
        return translated
    return error  # pragma: no cover - _handle_exception returned without raising
