"""Every error riso-db raises derives from one root, ``DbError``.

The tree::

    riso.RisoError
    └── DbError                      root of riso-db's errors
        ├── DatabaseUrlError         the database URL cannot be used
        │   ├── UnsupportedUrlError  its scheme is not PostgreSQL, MySQL/MariaDB or SQLite
        │   └── MissingDriverError   the driver for its scheme is not installed (names the extra)
        ├── DatabaseUnavailableError the database cannot be reached (host, credentials, timeout)
        └── MigrationError           a migration command cannot run or failed
            └── UnknownTreeError     no migration tree of that name (feature or "app")

Messages never contain the password of a URL: URLs are rendered masked.
"""

from __future__ import annotations

from riso import RisoError


class DbError(RisoError):
    """Root of every riso-db error."""


class DatabaseUrlError(DbError, ValueError):
    """The configured database URL cannot be used."""


class UnsupportedUrlError(DatabaseUrlError):
    """The URL's scheme is not one riso-db supports."""


class MissingDriverError(DatabaseUrlError):
    """The driver the URL needs is not installed; the message names the extra."""


class DatabaseUnavailableError(DbError):
    """The database does not answer, or refuses the connection."""


class MigrationError(DbError):
    """A migration command cannot run, or a migration failed."""


class UnknownTreeError(MigrationError):
    """No migration tree has that name."""
