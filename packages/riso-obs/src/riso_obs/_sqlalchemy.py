"""Child spans for SQLAlchemy statements (riso-db's engines, or any other).

Listeners are attached once to the ``Engine`` class, so every engine of the
process is covered, including engines created later and the sync engine under
an ``AsyncEngine``. A statement gets a span only inside an existing trace (a
request being traced), named ``<OPERATION> <database>``; bound parameters are
never recorded. Statements riso-db sends past SQLAlchemy (its ``DirectQuery``)
get the same span through ``observe_direct_query``, its
``riso_db.query_observers`` entry point.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from riso_obs import _tracing

_SPAN_ATTR = "_riso_obs_span"
_installed = False
_MAX_STATEMENT = 2000


def instrument(*, only_if_imported: bool = False) -> bool:
    """Attach the listeners (idempotent). False when SQLAlchemy is not used.

    ``only_if_imported``: do nothing unless the application already imported
    SQLAlchemy (riso-db does at import), so an app without a database does not
    pay for loading it.
    """
    global _installed
    if _installed:
        return True
    if only_if_imported and "sqlalchemy" not in sys.modules:
        return False
    if importlib.util.find_spec("sqlalchemy") is None:
        return False
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _error)
    _installed = True
    return True


def uninstrument() -> None:
    global _installed
    if not _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.remove(Engine, "before_cursor_execute", _before)
    event.remove(Engine, "after_cursor_execute", _after)
    event.remove(Engine, "handle_error", _error)
    _installed = False


def _before(
    conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
) -> None:
    if context is None:
        return
    span = _start_span(conn.dialect.name, getattr(conn.engine.url, "database", None), statement)
    if span is not None:
        setattr(context, _SPAN_ATTR, span)


def observe_direct_query(system: str, database: str, statement: str) -> Callable[..., None] | None:
    """A span for a statement riso-db sends past SQLAlchemy (its ``riso_db.query_observers``)."""
    if not _installed:
        return None
    span = _start_span(system, database, statement)
    if span is None:
        return None

    def finish(error: BaseException | None) -> None:
        _end(span, error)

    return finish


def _start_span(dialect: str, database: str | None, statement: str) -> Span | None:
    """A client span for one statement, only inside a trace being recorded."""
    tracer = _tracing.tracer()
    if tracer is None:
        return None
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    words = statement.split(None, 1) if statement else []
    operation = words[0].upper() if words else "SQL"
    database = database or ""
    if dialect == "sqlite":
        database = os.path.basename(database)  # a file path: keep the name only
    attributes = {
        "db.system": dialect,
        "db.operation.name": operation,
        "db.query.text": statement[:_MAX_STATEMENT],
    }
    if database:
        attributes["db.namespace"] = database
    return tracer.start_span(
        f"{operation} {database}".strip(), kind=SpanKind.CLIENT, attributes=attributes
    )


def _after(
    _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    span = getattr(context, _SPAN_ATTR, None)
    if span is not None:
        span.end()
        setattr(context, _SPAN_ATTR, None)


def _error(exception_context: Any) -> None:
    context = exception_context.execution_context
    span = getattr(context, _SPAN_ATTR, None) if context is not None else None
    if span is None:
        return
    _end(span, exception_context.original_exception)
    setattr(context, _SPAN_ATTR, None)


def _end(span: Span, error: BaseException | None) -> None:
    """End a statement's span, marked failed with ``error`` when there is one."""
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.record_exception(error)
    span.end()
