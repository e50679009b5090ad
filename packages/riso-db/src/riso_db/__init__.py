"""riso-db: SQLAlchemy 2 sessions and per-feature Alembic migrations for riso apps."""

from riso_db._database import Database, database
from riso_db._direct import DirectQuery
from riso_db._exceptions import (
    DatabaseUnavailableError,
    DatabaseUrlError,
    DbError,
    MigrationError,
    MissingDriverError,
    UnknownTreeError,
    UnsupportedUrlError,
)
from riso_db._feature import feature
from riso_db._model import NAMING_CONVENTION, Model, PrimaryKeyMixin, TimestampMixin, UtcDateTime
from riso_db._session import DbSession, get_session
from riso_db._settings import DEFAULT_URL, DbSettings
from riso_db._upgrade import upgrade
from riso_db._url import DatabaseUrls, parse_url

__version__ = "0.3.0"

__all__ = [
    "DEFAULT_URL",
    "NAMING_CONVENTION",
    "Database",
    "DatabaseUnavailableError",
    "DatabaseUrlError",
    "DatabaseUrls",
    "DbError",
    "DbSession",
    "DbSettings",
    "DirectQuery",
    "MigrationError",
    "MissingDriverError",
    "Model",
    "PrimaryKeyMixin",
    "TimestampMixin",
    "UnknownTreeError",
    "UnsupportedUrlError",
    "UtcDateTime",
    "database",
    "feature",
    "get_session",
    "parse_url",
    "upgrade",
]
