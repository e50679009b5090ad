"""Fixtures for riso-tasks: real worker processes, a stoppable TCP proxy, clean state."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import socket
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


class TcpProxy:
    """A loopback TCP proxy in front of a real server that a test can stop and restart."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        while self._running:
            for sel_key, _ in selector.select(timeout=0.05):
                if sel_key.data is None:
                    try:
                        client, _addr = self._listener.accept()
                    except OSError:
                        continue
                    try:
                        upstream = socket.create_connection(self.target, timeout=2)
                    except OSError:
                        client.close()
                        continue
                    with self._lock:
                        self._conns += [client, upstream]
                    selector.register(client, selectors.EVENT_READ, upstream)
                    selector.register(upstream, selectors.EVENT_READ, client)
                else:
                    src: socket.socket = sel_key.fileobj  # type: ignore[assignment]
                    dst: socket.socket = sel_key.data
                    try:
                        data = src.recv(65536)
                        if data:
                            dst.sendall(data)
                            continue
                    except OSError:
                        pass
                    for sock in (src, dst):
                        with contextlib.suppress(KeyError, ValueError):
                            selector.unregister(sock)
                        sock.close()
        selector.close()

    def stop(self) -> None:
        """Close the listener and every proxied connection: the server looks down."""
        self._running = False
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for sock in self._conns:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._conns.clear()


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    host, _, port = redis_url.split("://", 1)[1].split("/", 1)[0].partition(":")
    proxy = TcpProxy(host, int(port or 6379))
    proxy.start()
    yield proxy
    proxy.stop()
