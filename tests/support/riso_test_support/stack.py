"""Run the starter as users do: ``riso db upgrade``, uvicorn and ``riso tasks worker``.

Every process started here is stopped in a ``finally``; nothing outlives the
``with`` block that started it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from riso.testing import ServerProcess, clean_environ

BIN = Path(sys.executable).parent
SECRET = "system-test-secret-key-0123456789abcdef"
APP = "starter.main:app"
REDIS_DB = 5  # riso's system tests own this Redis database number


def stack_env(db_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a starter on real services (no other RISO_* leaks in)."""
    env = clean_environ(
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


@contextmanager
def server(env: Mapping[str, str], cwd: Path, *, workers: int = 1) -> Iterator[Server]:
    """uvicorn serving the starter on a free loopback port."""
    command = [str(BIN / "uvicorn"), APP, "--host", "{host}", "--port", "{port}"]
    if workers > 1:
        command += ["--workers", str(workers)]
    log = cwd / f"uvicorn-{uuid.uuid4().hex[:6]}.log"
    with ServerProcess(command, env=env, cwd=cwd, log_path=log, timeout=30) as proc:
        yield Server(proc.base_url, proc.proc, log)


@contextmanager
def worker(env: Mapping[str, str], cwd: Path, *, pool: str = "prefork") -> Iterator[Worker]:
    """A real ``riso tasks worker`` (one process) consuming the starter's queue."""
    log = cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
    command = [str(BIN / "riso"), "--app", APP, "tasks", "worker", "-c", "1", "-P", pool]
    command += ["-l", "INFO", "-n", f"sys-{uuid.uuid4().hex[:6]}@%h"]
    with ServerProcess(
        command,
        env=env,
        cwd=cwd,
        log_path=log,
        ready=lambda started: "ready." in started.log_text(),
        timeout=30,
    ) as proc:
        yield Worker(proc.proc, log)


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
