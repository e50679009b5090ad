"""asyncpg's failures as the SQLAlchemy exceptions psycopg's give.

SQLAlchemy's psycopg dialect raises the exception class of the server's
SQLSTATE (``DataError`` for a value PostgreSQL refuses, ``OperationalError``
for a lost connection or a serialization failure), and wraps every failure
to connect. Its asyncpg dialect maps only a few classes (integrity, syntax
and access, interface errors) and leaves the rest a bare ``DBAPIError``;
a refused or timed-out connection and asyncpg's ``command_timeout`` escape
unwrapped (``OSError``, ``TimeoutError``). riso-db's HTTP answers (503 with
``Retry-After``, 422 for refused data) and an application's own ``except
OperationalError`` retry then saw a different exception per driver.

:func:`install` makes the async engine on asyncpg raise what it would on
psycopg: the SQLSTATE class decides, with psycopg's own table; a connection
that cannot be opened, went silent past the timeout or was closed under the
statement is an ``OperationalError`` and is discarded from the pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext

#: SQLSTATE class -> SQLAlchemy exception, as psycopg 3 maps them (psycopg.errors)
_BY_CLASS: dict[str, type[sa_exc.DBAPIError]] = {
    "08": sa_exc.OperationalError,  # connection exception
    "0A": sa_exc.NotSupportedError,
    "10": sa_exc.ProgrammingError,
    "20": sa_exc.ProgrammingError,
    "21": sa_exc.ProgrammingError,
    "22": sa_exc.DataError,  # data exception
    "23": sa_exc.IntegrityError,
    "24": sa_exc.InternalError,
    "25": sa_exc.InternalError,
    "26": sa_exc.ProgrammingError,
    "27": sa_exc.OperationalError,
    "28": sa_exc.OperationalError,  # invalid authorization specification
    "2B": sa_exc.InternalError,
    "2D": sa_exc.InternalError,
    "2F": sa_exc.OperationalError,
    "34": sa_exc.ProgrammingError,
    "38": sa_exc.OperationalError,
    "39": sa_exc.OperationalError,
    "3B": sa_exc.OperationalError,
    "3D": sa_exc.ProgrammingError,
    "3F": sa_exc.ProgrammingError,
    "40": sa_exc.OperationalError,  # transaction rollback: serialization failure, deadlock
    "42": sa_exc.ProgrammingError,
    "44": sa_exc.ProgrammingError,
    "53": sa_exc.OperationalError,  # insufficient resources: too many connections
    "54": sa_exc.OperationalError,
    "55": sa_exc.OperationalError,
    "57": sa_exc.OperationalError,  # operator intervention: shutdown, query canceled
    "58": sa_exc.OperationalError,
    "F0": sa_exc.OperationalError,
    "HV": sa_exc.OperationalError,
    "P0": sa_exc.InternalError,
    "XX": sa_exc.InternalError,
}


def ends_the_connection(error: BaseException) -> bool:
    """Whether asyncpg's ``error`` (or the facade's it caused) leaves no usable connection.

    A ``FATAL`` or ``PANIC`` error (``pg_terminate_backend``, a server shutdown)
    is followed by the server closing the socket: until asyncpg has read that,
    the connection looks open, and the next statement on it (the rollback)
    fails with ``InternalClientError`` ("another operation is in progress").
    psycopg marks such a connection broken at once; so does this.
    """
    import asyncpg  # type: ignore[import-untyped]

    for candidate in (error, error.__cause__):  # asyncpg's own, or the one it caused
        if isinstance(candidate, asyncpg.exceptions.InternalClientError):
            return True  # the protocol is mid-operation: its state is unknown
        if isinstance(candidate, asyncpg.PostgresError):
            fatal = getattr(candidate, "severity", None) in {"FATAL", "PANIC"}
            return fatal or str(getattr(candidate, "sqlstate", "") or "").startswith("08")
    return False


def exception_class(sqlstate: str | None) -> type[sa_exc.DBAPIError] | None:
    """SQLAlchemy's exception class for a PostgreSQL SQLSTATE, as under psycopg."""
    if not sqlstate:
        return None
    return _BY_CLASS.get(sqlstate[:2].upper())


def install(engine: Engine) -> None:
    """Translate the failures of ``engine`` (the sync side of an asyncpg async engine)."""
    dbapi = engine.dialect.loaded_dbapi

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except dbapi.Error:
            raise
        except Exception as error:  # refused, timed out, authentication failed...
            # the DBAPI's class: SQLAlchemy wraps it as on psycopg (OperationalError)
            raise dbapi.OperationalError(f"{type(error).__name__}: {error}") from error

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> BaseException | None:
        error = context.original_exception
        from_driver = isinstance(error, dbapi.Error)
        found: type[sa_exc.DBAPIError] | None
        if isinstance(error, OSError | TimeoutError) or (
            from_driver and ends_the_connection(error)
        ):
            # command_timeout passed (a silent server), the socket failed or the server
            # ended the session: the connection's state is unknown, so it is discarded
            context.is_disconnect = True
            found = sa_exc.OperationalError
        elif from_driver and type(context.sqlalchemy_exception) is sa_exc.DBAPIError:
            found = exception_class(getattr(error, "sqlstate", None))
        else:
            return None  # not a driver's failure, or already a specific class
        if found is None:
            return None
        return found(
            context.statement,
            context.parameters,
            error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=context.is_disconnect,
        )
