"""``RISO_DB_*`` settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from riso import Settings
from riso_db._exceptions import DatabaseUrlError
from riso_db._url import DatabaseUrls, PostgresAsyncDriver, parse_url

#: used when neither RISO_DB_URL nor DATABASE_URL is set
DEFAULT_URL = "sqlite:///./riso.db"
#: ``RISO_DB_QUERY_TIMEOUT``: with the connect timeout, a request on a silent database
#: answers 503 within 20 s, before the usual 30 s gateway and worker timeouts
DEFAULT_QUERY_TIMEOUT = 10.0


class DbSettings(Settings):
    """Database settings. The URL is a secret: it never appears in a repr or a log line."""

    model_config = SettingsConfigDict(env_prefix="RISO_DB_")

    #: the database; ``RISO_DB_URL``, else ``DATABASE_URL``, else a SQLite file here
    url: SecretStr = Field(
        default=SecretStr(DEFAULT_URL),
        validation_alias=AliasChoices("RISO_DB_URL", "DATABASE_URL"),
    )
    #: connections kept open per process (engine), opened as concurrency needs them;
    #: at least the requests in flight at once that use the database; ignored for
    #: in-memory SQLite
    pool_size: int = Field(default=15, ge=1)
    #: connections opened beyond ``pool_size`` for bursts: each is closed when
    #: returned, so a steady load above ``pool_size`` opens a connection per request
    max_overflow: int = Field(default=0, ge=0)
    #: seconds a request waits for a pooled connection before failing
    pool_timeout: float = Field(default=30.0, gt=0)
    #: seconds after which a connection is replaced (below the usual server/proxy idle cuts)
    pool_recycle: int = Field(default=1800, ge=-1)
    #: the app's async PostgreSQL driver: ``asyncpg`` (measured faster on riso's
    #: request path) or ``psycopg``; the sync engine (workers, CLI, migrations) always
    #: uses psycopg. ``riso-db[postgres]`` installs both
    postgres_async_driver: PostgresAsyncDriver = "asyncpg"
    #: test each connection on checkout, so a restarted server costs no failed request
    pool_pre_ping: bool = True
    #: seconds a connection may have been back in the pool and still be handed out
    #: without that test (under load each is reused within milliseconds; a ping per
    #: request was a round trip per request); 0 tests every checkout. The app's
    #: async engine on PostgreSQL and MySQL/MariaDB (elsewhere every checkout is tested)
    pool_pre_ping_idle: float = Field(default=0.5, ge=0)
    #: seconds to wait when opening a connection (SQLite: to wait for a lock)
    connect_timeout: float = Field(default=10.0, gt=0)
    #: seconds a PostgreSQL or MySQL/MariaDB round trip (checkout ping, statement,
    #: commit) of the app's async engine may wait for the server before the connection
    #: is closed and the request fails with a 503; 0 = wait forever. Not a server-side
    #: statement timeout; the sync engine (workers, CLI, migrations) has none.
    query_timeout: float = Field(default=DEFAULT_QUERY_TIMEOUT, ge=0)
    #: seconds the ``SELECT 1`` health check may take
    health_timeout: float = Field(default=2.0, gt=0)
    #: log every SQL statement (development only)
    echo: bool = False
    #: the application's own migrations folder (default: ``migrations/`` beside the app)
    migrations: str | None = None
    #: seconds ``riso db upgrade`` waits for another process holding the migration lock
    lock_timeout: float = Field(default=600.0, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        try:
            # the drivers every choice of async driver needs (psycopg on PostgreSQL);
            # asyncpg is checked with the setting that asks for it, below
            parse_url(value.get_secret_value(), postgres_async_driver="psycopg")
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_async_driver(self) -> DbSettings:
        if self.postgres_async_driver == "psycopg":
            return self
        try:
            urls = self.urls
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None
        del urls  # validated: the driver's modules are installed
        return self

    @property
    def urls(self) -> DatabaseUrls:
        return parse_url(
            self.url.get_secret_value(), postgres_async_driver=self.postgres_async_driver
        )

    @property
    def is_default_url(self) -> bool:
        return self.url.get_secret_value() == DEFAULT_URL
