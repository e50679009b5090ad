"""Fixtures for riso-tasks: real worker processes, a stoppable TCP proxy, clean state."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import riso_tasks_testapp
from riso_test_support.tasks import WorkerProcess

from riso.testing import TcpProxy


@pytest.fixture(autouse=True)
def _reset_state() -> Iterator[None]:
    """Module-level test state and Celery's current/default app never leak."""
    from celery import _state

    riso_tasks_testapp.RELEASE.clear()
    riso_tasks_testapp.FINISHED.clear()
    riso_tasks_testapp.SEEN.clear()
    yield
    riso_tasks_testapp.RELEASE.set()  # a blocked embedded task may finish
    _state.default_app = None
    _state._tls.current_app = None


@pytest.fixture
def redis_db1(redis_url: str) -> Iterator[str]:
    """Redis database 1, for brokers, results and task records of one test."""
    import redis

    url = f"{redis_url.rstrip('/')}/1"
    yield url
    client = redis.Redis.from_url(url)
    client.close()


@pytest.fixture
def key() -> str:
    """A unique prefix for what a test's tasks record in Redis."""
    return f"riso-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def queue() -> str:
    """A unique queue name, so concurrent runs never take each other's tasks."""
    return f"riso-test-q-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str) -> WorkerProcess:
        worker = WorkerProcess(env, *args)
        started.append(worker)
        worker.wait_for(r"ready\.", timeout=60)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    host, _, port = redis_url.split("://", 1)[1].split("/", 1)[0].partition(":")
    with TcpProxy(int(port or 6379), host) as proxy:
        yield proxy
