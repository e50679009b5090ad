"""One URL in, the async and sync SQLAlchemy URLs out.

Users paste URLs in many spellings (``postgres://`` from Heroku-style
platforms, ``postgresql://``, ``mysql://``, ``sqlite:///``); riso-db picks the
drivers itself so that the app (async) and workers or the CLI (sync) talk to
the same database from one setting:

============  ====================  =================  ====================
dialect       async driver          sync driver        extra
============  ====================  =================  ====================
sqlite        aiosqlite             sqlite3 (stdlib)   (always installed)
postgresql    asyncpg               psycopg 3          ``riso-db[postgres]``
postgresql    psycopg 3 (setting)   psycopg 3          ``riso-db[postgres]``
mysql         aiomysql              PyMySQL            ``riso-db[mysql]``
============  ====================  =================  ====================

The URL stays ``postgresql://`` either way: ``RISO_DB_POSTGRES_ASYNC_DRIVER``
(``asyncpg``, the default since riso-db 0.3, or ``psycopg``) chooses the app's
async driver. asyncpg was chosen by measurement: about 1.2-1.4x the
authenticated requests per second of psycopg's async mode on riso-auth's
token check (``bench/auth_real.py``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from riso_db._exceptions import MissingDriverError, UnsupportedUrlError

Dialect = Literal["sqlite", "postgresql", "mysql"]
#: the async drivers riso-db can use for PostgreSQL (the sync one is always psycopg)
PostgresAsyncDriver = Literal["psycopg", "asyncpg"]

_BACKENDS: dict[str, Dialect] = {
    "sqlite": "sqlite",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
#: dialect -> (async driver, sync driver)
_DRIVERS: dict[Dialect, tuple[str, str]] = {
    "sqlite": ("aiosqlite", "pysqlite"),
    "postgresql": ("asyncpg", "psycopg"),
    "mysql": ("aiomysql", "pymysql"),
}
#: drivers a user may spell out in the URL; riso-db replaces them by its pair
_ACCEPTED: dict[Dialect, frozenset[str]] = {
    "sqlite": frozenset({"aiosqlite", "pysqlite"}),
    "postgresql": frozenset({"asyncpg", "psycopg", "psycopg_async"}),
    "mysql": frozenset({"aiomysql", "pymysql"}),
}
#: dialect -> (modules that must be importable, extra that installs them, label)
_REQUIRED: dict[Dialect, tuple[tuple[str, ...], str, str]] = {
    "sqlite": (("aiosqlite",), "riso-db", "SQLite"),
    "postgresql": (("asyncpg", "psycopg"), "riso-db[postgres]", "PostgreSQL"),
    "mysql": (("aiomysql", "pymysql"), "riso-db[mysql]", "MySQL/MariaDB"),
}
#: what RISO_DB_POSTGRES_ASYNC_DRIVER=psycopg needs: psycopg for both sides
_PSYCOPG_REQUIRED = (("psycopg",), "riso-db[postgres]", "PostgreSQL")
_EXAMPLES = "postgresql://user:password@host/db, mysql://user:password@host/db or sqlite:///file.db"


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    """The async and sync URLs for one database. ``str()`` masks the password."""

    async_url: URL
    sync_url: URL
    dialect: Dialect

    @property
    def masked(self) -> str:
        return self.sync_url.set(drivername=self.sync_url.get_backend_name()).render_as_string(
            hide_password=True
        )

    @property
    def is_memory(self) -> bool:
        return self.dialect == "sqlite" and self.sync_url.database in (None, "", ":memory:")

    def __str__(self) -> str:
        return self.masked


def parse_url(
    raw: str, *, check_drivers: bool = True, postgres_async_driver: PostgresAsyncDriver = "asyncpg"
) -> DatabaseUrls:
    """Normalise ``raw``; raise a one-line error for what riso-db cannot use.

    ``postgres_async_driver`` picks the async driver of a PostgreSQL URL; other
    dialects ignore it.

    The error never repeats the URL itself, which may hold a password.
    """
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise UnsupportedUrlError(
            f"the database URL cannot be parsed; expected something like {_EXAMPLES}"
        ) from None
    backend = url.get_backend_name()
    dialect = _BACKENDS.get(backend)
    if dialect is None:
        raise UnsupportedUrlError(
            f"unsupported database URL scheme {backend!r}: riso-db supports postgresql:// "
            f"(pip install 'riso-db[postgres]'), mysql:// (pip install 'riso-db[mysql]') "
            f"and sqlite:///"
        )
    driver = url.drivername.partition("+")[2]
    if driver and driver not in _ACCEPTED[dialect]:
        async_driver, sync_driver = _DRIVERS[dialect]
        raise UnsupportedUrlError(
            f"database driver {driver!r} is not supported for {dialect}: riso-db uses "
            f"{async_driver} (async) and {sync_driver} (sync); write the URL as {dialect}://..."
        )
    use_psycopg = dialect == "postgresql" and postgres_async_driver == "psycopg"
    if check_drivers:
        modules, extra, label = _PSYCOPG_REQUIRED if use_psycopg else _REQUIRED[dialect]
        missing = [m for m in modules if not _installed(m)]
        if missing:
            raise MissingDriverError(
                f"the {label} driver ({', '.join(missing)}) is not installed: pip install '{extra}'"
            )
    if dialect == "mysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    async_driver, sync_driver = _DRIVERS[dialect]
    if use_psycopg:
        async_driver = "psycopg"
    return DatabaseUrls(
        async_url=url.set(drivername=f"{dialect}+{async_driver}"),
        sync_url=url.set(drivername=f"{dialect}+{sync_driver}"),
        dialect=dialect,
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[name] = None
        return False


def mask(raw: str) -> str:
    """``raw`` with its password hidden, or a placeholder when it does not parse."""
    try:
        return make_url(raw.strip()).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"
