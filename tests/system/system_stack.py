"""Run the starter as users do: ``riso db upgrade``, uvicorn and ``riso tasks worker``.

Every process started here is stopped in a ``finally``; nothing outlives the
``with`` block that started it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
SECRET = "system-test-secret-key-0123456789abcdef"
APP = "starter.main:app"
REDIS_DB = 5  # riso's system tests own this Redis database number


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_env(db_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a starter on real services (no other RISO_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISO_")}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        RISO_AUTH_SECRET_KEY=SECRET,
        RISO_DB_URL=db_url,
        RISO_DB_CONNECT_TIMEOUT="1",
        RISO_OBS_LOG_LEVEL="WARNING",
        RISO_TASKS_PUBLISH_TIMEOUT="1",
    )
    if redis_url is not None:
        broker = f"{redis_url.rstrip('/')}/{REDIS_DB}"
        env.update(RISO_TASKS_BROKER_URL=broker, RISO_TASKS_RESULT_BACKEND=broker)
    env.update(extra)
    return env


def migrate(env: Mapping[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [BIN / "riso", "--app", APP, "db", "upgrade"],
        cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


@contextmanager
def server(env: Mapping[str, str], cwd: Path, *, workers: int = 1) -> Iterator[Server]:
    """uvicorn serving the starter on a free loopback port."""
    port = free_port()
    log = cwd / f"uvicorn-{port}.log"
    command = [BIN / "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc, log)
        yield Server(base, proc, log)
    finally:
        _stop(proc)


@contextmanager
def worker(env: Mapping[str, str], cwd: Path, *, pool: str = "prefork") -> Iterator[Worker]:
    """A real ``riso tasks worker`` (one process) consuming the starter's queue."""
    log = cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
    command = [BIN / "riso", "--app", APP, "tasks", "worker", "-c", "1", "-P", pool]
    command += ["-l", "INFO", "-n", f"sys-{uuid.uuid4().hex[:6]}@%h"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never became ready:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield Worker(proc, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


class Server:
    def __init__(self, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.proc, self.log = base, proc, log


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log


def register(client: httpx.Client, password: str = "a long enough password 42") -> str:
    """Register a fresh user, log in, and return its bearer access token."""
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    created = client.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    token = client.post("/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def wait_task(client: httpx.Client, task_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/tasks/{task_id}").json()
        if state["state"] in {"SUCCESS", "FAILURE"}:
            return dict(state)
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} never finished: {state}")
        time.sleep(0.05)
