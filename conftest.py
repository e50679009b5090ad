"""Fixtures shared by every package's tests: the real services on localhost.

Each service fixture checks that the server answers. Outside CI an absent
server skips the test; under CI (``RISO_CI=1``, set by ``.ci/run``) it fails
it, so real-engine cases can never be skipped silently.

PostgreSQL and MariaDB fixtures create a fresh database per test session and
drop it afterwards, so concurrent runs never share tables.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

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
    import psycopg

    name = f"riso_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database (``mysql://`` URL, no driver)."""
    require_service("MariaDB", "127.0.0.1", 3306)
    import pymysql

    name = f"riso_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield MARIADB.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


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
