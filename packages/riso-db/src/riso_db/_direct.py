"""``DirectQuery``: a hot one-row read sent straight to the PostgreSQL driver.

SQLAlchemy's execution path (a ``Connection``, statement-cache lookup,
execution context, result wrapping, events, a greenlet switch per step) costs
several times a small query itself: on riso-auth's token check it was most of
the request. A ``DirectQuery`` compiles its ``SELECT`` once per dialect and,
on PostgreSQL (psycopg 3 or asyncpg), sends it on the driver connection under
the pooled one, which prepares it on the server as the driver does for any
repeated statement. Bind and result processing of the column types still
apply. On SQLite and MySQL/MariaDB it runs through SQLAlchemy Core.

What stays as for any statement: the query timeout (``RISO_DB_QUERY_TIMEOUT``,
through the watchdog or asyncpg's ``command_timeout``), the answer to a lost
connection (the pooled connection is invalidated and the error is SQLAlchemy's
``OperationalError``, which riso-db answers with a 503), and a trace span for
the statement when riso-obs is tracing (the ``riso_db.query_observers`` entry
points, see ``_observers``). What does not: SQLAlchemy's own engine events.

On its own connection the read runs outside a transaction (no ``BEGIN``, no
``ROLLBACK`` at checkin); on a session's connection it joins the transaction
the session has open, if any.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from riso_db import _observers, _watchdog
from riso_db._asyncpg import ends_the_connection, exception_class
from riso_db._compat import asyncpg_dbapi_error, greenlet_spawn

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import PoolProxiedConnection

    from riso_db._database import Database

_Processor = Callable[[Any], Any] | None


class _Compiled:
    """The statement as one dialect's driver takes it."""

    __slots__ = ("bind_processors", "compiled", "keys", "positions", "result_processors", "sql")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        for name, bind in compiled.binds.items():
            if bind.expanding:
                raise ValueError(f"DirectQuery cannot take an expanding parameter ({name!r})")
        self.compiled = compiled
        self.sql: str = compiled.string
        #: parameter names in the order of the driver's ``$n`` (asyncpg), else None
        self.positions: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        self.bind_processors: dict[str, _Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        columns = list(statement.selected_columns)
        self.keys: tuple[str, ...] = tuple(c.key or f"column_{i}" for i, c in enumerate(columns))
        self.result_processors: tuple[_Processor, ...] = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any] | list[Any]:
        values = dict(self.compiled.construct_params(dict(params)))
        for name, process in self.bind_processors.items():
            if process is not None and name in values:
                values[name] = process(values[name])
        if self.positions is not None:
            return [values[name] for name in self.positions]
        return values

    def row(self, raw: Any) -> dict[str, Any]:
        return {
            key: (process(value) if process is not None else value)
            for key, process, value in zip(self.keys, self.result_processors, raw, strict=True)
        }


class DirectQuery:
    """A ``SELECT`` whose first row is read on the driver directly (see the module docstring).

    Build it once, at import: ``LOOKUP = DirectQuery(select(...).where(User.id ==
    bindparam("user_id")))``; then ``row = await LOOKUP.first(database, {"user_id": 5})``
    (a connection of its own, returned at once) or ``await LOOKUP.first(session, ...)``
    (the request's session, inside its transaction). A row is a ``dict`` keyed by
    the selected columns' keys, or None.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def __repr__(self) -> str:
        return f"<DirectQuery {self.statement}>"

    async def first(
        self, target: Database | AsyncSession, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row for ``params``; on ``target``'s connection if it is a session."""
        if isinstance(target, AsyncSession):
            connection = await target.connection()
            engine = connection.engine
            if not _is_direct(engine.dialect.name, engine.dialect.driver):
                return _mapping((await connection.execute(self.statement, dict(params))).first())
            fairy = await connection.get_raw_connection()
            return await self._run(fairy, engine, params)
        engine = target.engine
        if not _is_direct(engine.dialect.name, engine.dialect.driver):
            async with engine.connect() as own:
                return _mapping((await own.execute(self.statement, dict(params))).first())
        try:
            fairy = await engine.raw_connection()
        except engine.dialect.loaded_dbapi.Error as error:  # cannot connect: as Connection does
            base = engine.dialect.loaded_dbapi.Error
            raise sa_exc.DBAPIError.instance(
                None, None, error, base, dialect=engine.dialect
            ) from error
        try:
            return await self._run(fairy, engine, params)
        finally:
            await greenlet_spawn(fairy.close)

    async def _run(
        self, fairy: PoolProxiedConnection, engine: AsyncEngine, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        dialect = engine.dialect
        compiled = self._compiled.get(dialect.driver)
        if compiled is None:
            compiled = self._compiled[dialect.driver] = _Compiled(self.statement, dialect)
        values = compiled.parameters(params)
        driver: Any = fairy.driver_connection
        observe = _observers.start(dialect.name, engine.url.database or "", compiled.sql)
        try:
            if dialect.driver == "asyncpg":
                raw = await driver.fetchrow(compiled.sql, *values)
            else:
                raw = await _psycopg_first(fairy, driver, compiled.sql, values)
        except BaseException as error:
            if observe is not None:
                observe(error)
            translated, lost = _translated(error, fairy, dialect, compiled.sql)
            if lost:
                await _invalidate(fairy, error)
            if translated is error:
                raise
            raise translated from error
        if observe is not None:
            observe(None)
        return None if raw is None else compiled.row(raw)


async def _psycopg_first(
    fairy: PoolProxiedConnection, driver: Any, sql: str, values: Any
) -> tuple[Any, ...] | None:
    from psycopg.pq import TransactionStatus

    # outside a transaction, stay outside: no BEGIN now, no ROLLBACK at checkin
    outside = not driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE
    timeout = _watchdog.timeout_of(fairy)
    if outside:
        await driver.set_autocommit(True)
    try:
        if timeout is not None:
            _watchdog.arm_on(fairy, timeout)
        cursor = driver.cursor()
        try:
            await cursor.execute(sql, values)
            row: tuple[Any, ...] | None = await cursor.fetchone()
        finally:
            await cursor.close()
        return row
    finally:
        if timeout is not None:
            _watchdog.disarm_on(fairy)
        if outside and not driver.closed:
            await driver.set_autocommit(False)


def _translated(
    error: BaseException, fairy: PoolProxiedConnection, dialect: Dialect, sql: str
) -> tuple[BaseException, bool]:
    """SQLAlchemy's exception for a driver's error, and whether the connection is lost."""
    if not isinstance(error, Exception):  # cancelled: the connection is mid-statement
        return error, True
    driver = fairy.driver_connection
    closed = bool(
        driver is None or (driver.is_closed() if dialect.driver == "asyncpg" else driver.closed)
    )
    if (
        closed
        or isinstance(error, OSError | TimeoutError)
        or (dialect.driver == "asyncpg" and ends_the_connection(error))
    ):
        return sa_exc.OperationalError(sql, None, error, connection_invalidated=True), True
    if dialect.driver == "asyncpg":
        import asyncpg  # type: ignore[import-untyped]

        if not isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
            return error, False
        # the DBAPI facade's error, as SQLAlchemy's own asyncpg path raises it, in
        # the class psycopg's SQLSTATE gives (DataError, OperationalError...)
        error = asyncpg_dbapi_error(fairy.dbapi_connection, error)
        found = exception_class(getattr(error, "sqlstate", None))
        if found is not None:
            return found(sql, None, error), False
    base = dialect.loaded_dbapi.Error
    if isinstance(error, base):
        return sa_exc.DBAPIError.instance(sql, None, error, base, dialect=dialect), False
    return error, False


async def _invalidate(fairy: PoolProxiedConnection, error: BaseException) -> None:
    """Tell the pool to discard the connection (closing it may await the driver)."""
    cause = error if isinstance(error, Exception) else None
    with anyio.CancelScope(shield=True):
        await greenlet_spawn(lambda: fairy.invalidate(cause))


def _is_direct(dialect: str, driver: str) -> bool:
    return dialect == "postgresql" and driver in {"asyncpg", "psycopg"}


def _mapping(row: Any) -> dict[str, Any] | None:
    return None if row is None else dict(row._mapping)
