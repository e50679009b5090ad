"""SQLite transactions that take the write lock before their first write, never after a read.

SQLite has one writer at a time. A transaction that has read (a WAL snapshot)
and then writes must *upgrade* to the write lock: under contention that fails
at once with ``SQLITE_BUSY`` (the busy timeout does not apply to an upgrade),
and it fails whenever another connection committed since the snapshot
(``SQLITE_BUSY_SNAPSHOT``). So riso-db begins each transaction at its first
statement:

- a read (``SELECT``, ``EXPLAIN``) begins a deferred transaction: readers run
  side by side and a read-only transaction keeps one snapshot, as before;
- anything else (a write, DDL, a savepoint) begins ``BEGIN IMMEDIATE``, which
  takes the write lock first and waits for it under the busy timeout;
- the first write of a transaction that has only read so far ends the read
  part (nothing to commit) and begins ``BEGIN IMMEDIATE``: the write and what
  follows see the latest committed data, as on PostgreSQL (READ COMMITTED),
  instead of failing.

Read-only transactions never take the write lock, so readers are not
serialised behind writers, and no transaction holds the lock longer than from
its first write to its end.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

_KEY = "riso_db_sqlite_transaction"
_EMITTING = "riso_db_sqlite_emitting"
_PENDING, _READING, _WRITING = "pending", "reading", "writing"
#: statements that only read; anything else counts as a write (the safe side)
_READ = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*\(*\s*(?:SELECT|EXPLAIN)\b", re.I | re.S)


def writes(statement: str, context: Any) -> bool:
    """Whether ``statement`` may write (is not a plain read)."""
    compiled = getattr(context, "compiled", None)
    if compiled is not None and isinstance(getattr(compiled, "statement", None), Select):
        return False  # a SELECT, with or without a CTE
    return _READ.match(statement) is None


def _emit(connection: Any, sql: str) -> None:
    # through the Connection, so a failure (a busy timeout) is SQLAlchemy's OperationalError
    connection.info[_EMITTING] = True
    try:
        connection.exec_driver_sql(sql)
    finally:
        connection.info.pop(_EMITTING, None)


def install(engine: Engine) -> None:
    """Begin transactions of ``engine`` (a SQLite engine) as the module docstring says."""

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.info[_KEY] = _PENDING  # BEGIN comes with the first statement

    @event.listens_for(engine, "before_cursor_execute")
    def _before(
        connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        info = connection.info
        state = info.get(_KEY)
        if state is None or state == _WRITING or info.get(_EMITTING):
            return  # outside a transaction riso-db began, holding the write lock, or our own
        if not writes(statement, context):
            if state == _PENDING:
                info[_KEY] = _READING
                _emit(connection, "BEGIN")
            return
        info[_KEY] = _WRITING
        if state == _READING:
            _emit(connection, "COMMIT")  # only reads so far: nothing is committed
        _emit(connection, "BEGIN IMMEDIATE")

    for name in ("commit", "rollback"):

        @event.listens_for(engine, name)
        def _on_end(connection: Any) -> None:
            connection.info.pop(_KEY, None)
