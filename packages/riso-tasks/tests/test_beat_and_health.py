"""``riso tasks beat`` with a real worker; health checks against real brokers."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import riso_tasks_testapp
from riso_test_support.network import closed_port
from riso_test_support.tasks import HERE, RISO, WorkerProcess

from riso.testing import clean_environ
from riso_tasks._feature import check_broker, check_workers


@pytest.fixture
def beat_process(
    tmp_path: Path, redis_db1: str, queue: str
) -> Iterator[Callable[[dict[str, str]], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[str]:
        full_env = clean_environ(**env)
        proc = subprocess.Popen(
            [str(RISO), "--app", "riso_tasks_testapp:app", "tasks", "beat",
             "--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "INFO"],
            cwd=HERE, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(15)


def test_beat_sends_the_schedule_from_settings_to_a_real_worker(
    redis_db1: str,
    queue: str,
    start_worker: Callable[..., WorkerProcess],
    beat_process: Callable[[dict[str, str]], subprocess.Popen[str]],
) -> None:
    env = {
        "RISO_TASKS_BROKER_URL": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
        "RISO_TASKS_BEAT_SCHEDULE": json.dumps(
            {"tick": {"task": "riso_tasks_testapp.add", "schedule": 1, "args": [40, 2]}}
        ),
    }
    worker = start_worker(env, "--pool", "solo")
    beat_process(env)
    worker.wait_for(r"adding 40 and 2", timeout=60)


def test_health_checks_with_a_real_worker_and_a_dead_broker(
    monkeypatch: pytest.MonkeyPatch,
    redis_db1: str,
    queue: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    env = {"RISO_TASKS_BROKER_URL": redis_db1, "RISO_TASKS_DEFAULT_QUEUE": queue}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = riso_tasks_testapp.create_app()
    anyio.run(check_broker, app)
    with pytest.raises(RuntimeError, match="no task worker answered"):
        anyio.run(check_workers, app)
    start_worker({**env, "TASKS_TEST_REDIS": redis_db1}, "--pool", "solo")
    # A broadcast sent before the worker subscribed to its control channel is
    # lost, as a readiness probe's would be: ask again until it answers.
    deadline = time.monotonic() + 30
    while True:
        try:
            anyio.run(check_workers, app)
            break
        except RuntimeError:
            assert time.monotonic() < deadline, "the running worker never answered a ping"

    secret_url = f"redis://:s3cret-pass@127.0.0.1:{closed_port()}/1"
    monkeypatch.setenv("RISO_TASKS_BROKER_URL", secret_url)
    dead = riso_tasks_testapp.create_app()
    with pytest.raises(RuntimeError, match="broker is unreachable") as caught:
        anyio.run(check_broker, dead)
    assert "s3cret" not in str(caught.value)
