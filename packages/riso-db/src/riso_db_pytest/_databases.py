"""The test database of a session: fresh on the ``RISO_TEST_DB_URL`` server, else SQLite.

One per pytest session, and one per pytest-xdist worker; it is dropped (or its
file deleted) when the session ends, so nothing carries over between runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

_URL = pytest.StashKey[str]()

#: the variable naming the server (``postgresql://`` or ``mysql://``) or a SQLite file
VARIABLE = "RISO_TEST_DB_URL"


def session_database_url(config: pytest.Config) -> str:
    """The URL of this session's (this worker's) test database, created on first call."""
    url = config.stash.get(_URL, None)
    if url is None:
        url = _create(config)
        config.stash[_URL] = url
    return url


def _create(config: pytest.Config) -> str:
    configured = os.environ.get(VARIABLE, "").strip()
    if configured and not configured.startswith("sqlite"):
        from riso.testing import fresh_database

        stack = ExitStack()
        try:
            url = stack.enter_context(fresh_database(configured))
        except Exception as exc:  # the server down, the credentials refused...
            raise pytest.UsageError(_cannot_create(configured, exc)) from None
        config.add_cleanup(stack.close)
        return url
    if configured:  # a SQLite file named by the user: emptied now, one per worker
        path = Path(configured.split("///", 1)[1])
        worker = _worker(config)
        if worker:
            path = path.with_name(f"{path.stem}-{worker}{path.suffix}")
        _remove_sqlite(path)
        config.add_cleanup(lambda: _remove_sqlite(path))
        return f"sqlite:///{path}"
    folder = Path(tempfile.mkdtemp(prefix="riso-test-db-"))
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    return f"sqlite:///{folder / 'test.db'}"


def _cannot_create(configured: str, exc: Exception) -> str:
    """One line naming the server (password masked) and the driver's reason."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(configured)
        server = parsed.render_as_string(hide_password=True)
        secret = parsed.password
    except Exception:  # not even a URL: say nothing of it
        server, secret = "the server", None
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if secret:
        reason = reason.replace(str(secret), "***")
    return f"{VARIABLE}: cannot create a test database on {server}: {reason}"


def _worker(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else ""


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
