"""Engines and session factories for one database, created on first use."""

from __future__ import annotations

import asyncio
import math
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as sync_sessionmaker_cls

from riso_db import _sqlite
from riso_db._settings import DbSettings
from riso_db._url import DatabaseUrls, Dialect

if TYPE_CHECKING:
    from fastapi import FastAPI

_INSTANCES: weakref.WeakSet[Database] = weakref.WeakSet()
_FORK_HOOK = False


class Database:
    """The async engine for the app and the sync engine for workers and the CLI.

    Both come from one URL and are created lazily, on first access: a Celery
    worker or a CLI command never runs the app's lifespan. After ``os.fork()``
    the child drops the connections it inherited (without closing the
    parent's) and opens its own.
    """

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self.urls: DatabaseUrls = settings.urls
        #: the folder of the app's module, found by ``riso.include`` (its
        #: ``migrations/`` holds the app's own revisions); None when unknown
        self.app_dir: Path | None = None
        self._lock = threading.Lock()
        self._engine: AsyncEngine | None = None
        self._sync_engine: Engine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._sync_sessionmaker: sync_sessionmaker_cls[Session] | None = None
        _INSTANCES.add(self)
        _install_fork_hook()

    def __repr__(self) -> str:
        return f"<Database {self.urls.masked}>"

    @property
    def url(self) -> URL:
        """The database URL (without driver); rendering it masks the password."""
        return self.urls.sync_url.set(drivername=self.urls.dialect)

    @property
    def dialect(self) -> Dialect:
        return self.urls.dialect

    @property
    def engine(self) -> AsyncEngine:
        """The async engine (created on first access)."""
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    options = engine_options(self.settings, self.urls, True)
                    # asyncpg bounds its round trips itself (command_timeout, see
                    # engine_options); the watchdog serves psycopg and the MySQL drivers
                    watchdog = (
                        self.settings.query_timeout > 0
                        and self.dialect != "sqlite"
                        and not _is_asyncpg(self.urls, True)
                    )
                    own_ping = self.dialect != "sqlite"
                    if own_ping:
                        options["pool_pre_ping"] = False  # riso-db pings (_ping), or nothing
                    if self.dialect == "sqlite":
                        from riso_db import _aiosqlite

                        options["async_creator"] = _aiosqlite.creator(
                            self.urls.async_url, options.pop("connect_args")
                        )
                    self._engine = create_async_engine(self.urls.async_url, **options)
                    _configure(self._engine.sync_engine, self.settings, self.urls)
                    if _is_asyncpg(self.urls, True):
                        from riso_db import _asyncpg

                        _asyncpg.install(self._engine.sync_engine)
                    ping_idle = (
                        self.settings.pool_pre_ping_idle if self.settings.pool_pre_ping else None
                    )
                    if watchdog:
                        from riso_db import _watchdog

                        _watchdog.install(  # the ping then runs under its timer
                            self._engine.sync_engine,
                            self.dialect,
                            self.settings.query_timeout,
                            ping_idle,
                        )
                    elif own_ping and ping_idle is not None:
                        from riso_db import _ping

                        _ping.install(self._engine.sync_engine, ping_idle)
                engine = self._engine
        return engine

    @property
    def sync_engine(self) -> Engine:
        """The sync engine (created on first access)."""
        engine = self._sync_engine
        if engine is None:
            with self._lock:
                if self._sync_engine is None:
                    self._sync_engine = create_engine(
                        self.urls.sync_url, **engine_options(self.settings, self.urls, False)
                    )
                    _configure(self._sync_engine, self.settings, self.urls)
                engine = self._sync_engine
        return engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        factory = self._sessionmaker
        if factory is None:
            factory = async_sessionmaker(self.engine, expire_on_commit=False)
            self._sessionmaker = factory
        return factory

    def sync_session(self) -> Session:
        """A new sync session (riso-db provides it as ``riso.SYNC_SESSION_FACTORY``)."""
        return self.sync_sessionmaker()

    @property
    def sync_sessionmaker(self) -> sync_sessionmaker_cls[Session]:
        factory = self._sync_sessionmaker
        if factory is None:
            factory = sync_sessionmaker_cls(self.sync_engine, expire_on_commit=False)
            self._sync_sessionmaker = factory
        return factory

    async def dispose(self) -> None:
        """Close every pooled connection of both engines; they reopen on next use."""
        if self._engine is not None:
            await self._engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    def dispose_sync(self) -> None:
        """Close the sync engine's pooled connections (for workers and commands)."""
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    def _after_fork(self) -> None:
        # The child must not use, nor close, the sockets it shares with its parent.
        self._lock = threading.Lock()
        if self._engine is not None:
            self._engine.sync_engine.dispose(close=False)
        if self._sync_engine is not None:
            self._sync_engine.dispose(close=False)


def engine_options(settings: DbSettings, urls: DatabaseUrls, is_async: bool) -> dict[str, Any]:
    """``create_engine`` keyword arguments for these settings."""
    options: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": settings.pool_pre_ping}
    if not urls.is_memory:
        options.update(
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_recycle=settings.pool_recycle,
        )
        if is_async:  # waiters served in order (SQLAlchemy's let newcomers overtake them)
            from riso_db._pool import HandOffQueuePool

            options["poolclass"] = HandOffQueuePool
    timeout = settings.connect_timeout
    if _is_asyncpg(urls, is_async):
        options["connect_args"] = {"timeout": timeout}
        if settings.query_timeout > 0:
            options["connect_args"]["command_timeout"] = settings.query_timeout
    elif urls.dialect == "postgresql":
        # libpq takes whole seconds
        options["connect_args"] = {"connect_timeout": max(1, math.ceil(timeout))}
    elif urls.dialect == "mysql":
        options["connect_args"] = {"connect_timeout": timeout}
    else:
        connect_args: dict[str, Any] = {"timeout": timeout}
        if not is_async:
            connect_args["check_same_thread"] = False
        options["connect_args"] = connect_args
    return options


def _is_asyncpg(urls: DatabaseUrls, is_async: bool) -> bool:
    return (
        urls.dialect == "postgresql" and is_async and urls.async_url.get_driver_name() == "asyncpg"
    )


def _configure(engine: Engine, settings: DbSettings, urls: DatabaseUrls) -> None:
    if urls.dialect == "mysql" and engine.dialect.is_async:
        _bound_mysql_connect(engine, settings.connect_timeout)
    if urls.dialect != "sqlite":
        return
    busy_ms = int(settings.connect_timeout * 1000)
    memory = urls.is_memory

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin:
        # savepoints and transactional DDL then work as on the other databases.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    _sqlite.install(engine)


def _bound_mysql_connect(engine: Engine, timeout: float) -> None:
    # aiomysql's connect_timeout covers the TCP connect only: a server that accepts
    # and then says nothing (paused, or behind a black-holing proxy) hung the
    # handshake, and with it the request, forever.
    import aiomysql  # type: ignore[import-untyped]

    async def connect(*args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(aiomysql.connect(*args, **kwargs), timeout)
        except TimeoutError:
            # the driver's own error: SQLAlchemy wraps it, riso-db answers 503
            raise aiomysql.OperationalError(
                2003, f"no answer from the MySQL server within {timeout:g}s"
            ) from None

    @event.listens_for(engine, "do_connect")
    def _on_connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["async_creator_fn"] = connect


def database(app: FastAPI) -> Database:
    """The :class:`Database` of an app on which the feature "db" is active."""
    from riso import registry

    extensions = registry(app).extensions
    found = extensions.get("db")
    if not isinstance(found, Database):
        found = extensions["db"] = Database(registry(app).settings_of("db"))
    return found


def _after_fork_in_child() -> None:
    for instance in list(_INSTANCES):
        instance._after_fork()


def _install_fork_hook() -> None:
    global _FORK_HOOK
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _FORK_HOOK = True
