"""Fixtures shared by every package's tests: the real services on localhost.

Each service fixture checks that the server answers. Outside CI an absent
server skips the test; under CI (``RISO_CI=1``, set by ``.ci/run``) it fails
it, so real-engine cases can never be skipped silently.

PostgreSQL and MariaDB fixtures create a fresh database per test session and
drop it afterwards, so concurrent runs never share tables.

Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``) every worker
is a session of its own: its own databases, temporary directories and free
ports, and Redis database numbers shifted per worker
(``riso_test_support.workers``). Folders whose tests share one thing built
once per session are kept on one worker (``XDIST_GROUPS``) and sent first.
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

#: tests that must share one xdist worker (path prefix -> group), heaviest first
XDIST_GROUPS = {
    # one starter stack (uvicorn + worker) per session, on Redis database 5
    "tests/system/": "system",
    # wheels built once into .cache/wheels, venvs installed from them
    "tests/install/": "install",
    # the starter served once per engine (module-scoped), not once per worker
    "tests/starter/": "starter",
    # every package built once into dist/
    "tests/release/test_build_all.py": "dist",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the grouped folders for ``--dist loadgroup`` and run them first.

    The groups are the longest units of work: started first, they run beside
    the rest instead of after it. Within and outside them, order is kept.
    """
    rank = {group: index for index, group in enumerate(XDIST_GROUPS.values())}
    ranked: list[tuple[int, int, pytest.Item]] = []
    for position, item in enumerate(items):
        path = item.path.relative_to(ROOT).as_posix() if item.path.is_relative_to(ROOT) else ""
        group = next((g for prefix, g in XDIST_GROUPS.items() if path.startswith(prefix)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        ranked.append((rank.get(group or "", len(rank)), position, item))
    items[:] = [item for _, _, item in sorted(ranked, key=lambda entry: entry[:2])]


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
