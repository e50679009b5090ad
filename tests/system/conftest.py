"""The starter on PostgreSQL and Redis, shared by the system tests of one session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from riso_test_support import stack as _stack

#: Rate limits that fuzzing and the bad-input corpus cannot trip (the fault
#: tests that check the limits start their own servers with the defaults).
GENEROUS_LIMITS = {
    f"RISO_AUTH_RATE_{name}": "1000000/1m"
    for name in (
        "LOGIN_ADDRESS",
        "LOGIN_ACCOUNT_ADDRESS",
        "LOGIN_ACCOUNT",
        "REFRESH_ADDRESS",
        "REGISTER_ADDRESS",
        "FORGOT_ADDRESS",
        "FORGOT_ACCOUNT",
    )
}


@pytest.fixture(scope="session")
def system_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("system")


@pytest.fixture(scope="session")
def stack_env(postgres_url: str, redis_url: str, system_dir: Path) -> dict[str, str]:
    """Environment of the starter on a migrated PostgreSQL database and Redis DB 5."""
    client = redis.Redis.from_url(f"{redis_url}/{_stack.REDIS_DB}")
    client.flushdb()
    client.close()
    env = _stack.stack_env(postgres_url, redis_url, **GENEROUS_LIMITS)
    _stack.migrate(env, system_dir)
    return env


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str], system_dir: Path) -> Iterator[_stack.Server]:
    """uvicorn serving the starter, with a real worker consuming its tasks."""
    with _stack.worker(stack_env, system_dir), _stack.server(stack_env, system_dir) as srv:
        yield srv
