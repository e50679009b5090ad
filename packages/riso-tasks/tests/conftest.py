"""Fixtures for riso-tasks: real worker processes, a stoppable TCP proxy, clean state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import riso_tasks_testapp  # noqa: E402

from riso.testing import TcpProxy  # noqa: E402

RISO = Path(sys.executable).parent / "riso"


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


class WorkerProcess:
    """``riso tasks worker`` in a subprocess, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RISO_")}
        full_env.update(env)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [
                *(str(RISO), "--app", "riso_tasks_testapp:app", "tasks", "worker"),
                *("--hostname", f"test-{uuid.uuid4().hex[:8]}@%h"),
                *args,
            ],
            cwd=HERE,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The first output line matching ``pattern``; fails with the output if none."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    pytest.fail(f"worker output has no {pattern!r}:\n" + "\n".join(self.lines))
                self._cond.wait(min(remaining, 0.5))

    def kill(self) -> None:
        """SIGKILL the worker and its children: nothing gets acknowledged."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(5)


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
