"""Helpers the riso-tasks tests share: the test app under a given environment,
a client of it with its lifespan running, and real ``riso tasks worker``
processes. (A module, not conftest: two test folders each have a conftest, so
``from conftest import`` is ambiguous.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

import httpx
import pytest
import riso_tasks_testapp
from fastapi import FastAPI

HERE = Path(__file__).resolve().parent
RISO = Path(sys.executable).parent / "riso"


def make_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> FastAPI:
    """The test app, created with ``env`` in the environment (undone after the test)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return riso_tasks_testapp.create_app()


@asynccontextmanager
async def serving(app: FastAPI, *, lifespan: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` with its lifespan running, as under a server."""
    async with app.router.lifespan_context(app) if lifespan else nullcontext():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


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
