"""Fixtures shared by every package's tests: the real services on localhost.

Each service fixture checks that the server answers. Outside CI an absent
server skips the test; under CI (``RISO_CI=1``, set by ``.ci/run``) it fails
it, so real-engine cases can never be skipped silently.

PostgreSQL and MariaDB fixtures create a fresh database per test session and
drop it afterwards, so concurrent runs never share tables.

Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``) every worker
is a session of its own: its own databases, temporary directories and free
ports (``riso.testing.free_port``; ``ServerProcess`` retries on a taken one),
unique queue names and key prefixes. Folders whose tests share a Redis
database or something built once per session stay on one worker
(``XDIST_GROUPS``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from riso.testing import fresh_database

POSTGRES = os.environ.get("RISO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB = os.environ.get("RISO_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
REDIS = os.environ.get("RISO_TEST_REDIS", "redis://127.0.0.1:6379")
RABBITMQ = os.environ.get("RISO_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a real service is not answering."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("RISO_CI"):
        pytest.fail(f"{message}; CI must run every real-service case", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (``postgresql://`` URL, no driver)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with fresh_database(POSTGRES) as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database (``mysql://`` URL, no driver)."""
    require_service("MariaDB", "127.0.0.1", 3306)
    with fresh_database(MARIADB) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis server (base URL; pick a database number per test module)."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The local RabbitMQ broker."""
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ


@pytest.fixture(autouse=True)
def _clean_riso_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees another's RISO_* variables, or a .env file in the repo."""
    for key in list(os.environ):
        if key.startswith("RISO_") and key not in {"RISO_CI"} and not key.startswith("RISO_TEST_"):
            monkeypatch.delenv(key)
    for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(key, raising=False)


ROOT = Path(__file__).resolve().parent

#: tests that must share one xdist worker: path prefix -> group
XDIST_GROUPS = {
    # one starter stack (uvicorn + worker) per session, on Redis database 5
    "tests/system/": "system",
    # wheels built once into .cache/wheels, venvs installed from them
    "tests/install/": "install",
    # real workers on Redis database 1 (tests name it, and kombu's unacked
    # messages are per database): one test at a time
    "packages/riso-tasks/": "tasks",
    # the starter served once per engine (module-scoped), not once per worker
    "tests/starter/": "starter",
    # one starter and one headless Chromium at a time (module-scoped server)
    "tests/browser/": "browser",
    # the tree's wheels built once into .cache/wheels-upgrade, releases' venvs
    "tests/upgrade/": "upgrade",
    # every package built once into dist/
    "tests/release/test_build_all.py": "dist",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup``, grouping by ``XDIST_GROUPS`` (or an ``@group`` node id suffix).

    xdist 3.8 marks a test's group by rewriting its node id, which pytest 9.2
    no longer lets it do (pytest-dev/pytest-xdist#1386): every test would run
    alone. The controller groups by path instead; groups go out largest first.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FolderGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return nodeid.rsplit("@", 1)[1]
            return next((g for p, g in XDIST_GROUPS.items() if nodeid.startswith(p)), nodeid)

    return FolderGroupScheduling(config, log)


@pytest.fixture(scope="session")
def build_all() -> ModuleType:
    """``scripts/build_all.py`` as a module (scripts/ is not a package).

    Used by the release tests and the isolated install tests. Lives here, not in
    ``tests/conftest.py``: riso-auth's tests are a package named ``tests`` too,
    and two ``tests.conftest`` modules cannot coexist in one run.
    """
    name = "riso_scripts_build_all"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "build_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module
