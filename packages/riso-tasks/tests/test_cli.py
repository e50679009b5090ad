"""``riso tasks worker|beat`` and ``riso check`` as a user runs them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from riso_test_support.tasks import HERE, RISO, WorkerProcess

from riso.testing import clean_environ


def riso_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = clean_environ(**(env or {}))
    return subprocess.run(
        [str(RISO), "--app", "riso_tasks_testapp:app", *args],
        cwd=HERE,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("tasks", "worker"), {}, "no broker is configured"),
        (("tasks", "beat"), {}, "no broker is configured"),
        (
            ("tasks", "beat"),
            {"RISO_TASKS_BROKER_URL": "redis://127.0.0.1:1/1"},
            "no periodic task is declared",
        ),
        (("tasks", "worker", "--pool", "gevent-ish"), {}, "Invalid value for '-P' / '--pool'"),
        (("tasks", "worker", "--concurrency", "0"), {}, "Invalid value for '-c' / '--concurrency'"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = riso_cli(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "code", "expected", "absent"),
    [
        ({}, 1, "tasks.W001", "tasks.E001"),  # core.E001 (not production) fails the run
        ({"RISO_ENV": "production"}, 1, "tasks.E001", "tasks.W001"),
        ({"RISO_ENV": "production", "RISO_TASKS_BROKER_URL": "amqp://h//"}, 0, None, "tasks."),
    ],
)
def test_check_deploy_flags_the_embedded_broker(
    env: dict[str, str], code: int, expected: str | None, absent: str
) -> None:
    result = riso_cli("check", "--deploy", env=env)
    assert result.returncode == code, result.stdout + result.stderr
    if expected:
        assert expected in result.stdout
    assert absent not in result.stdout


def test_worker_consumes_only_the_queues_it_is_given(
    redis_db1: str, queue: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    env = {
        "RISO_TASKS_BROKER_URL": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
    }
    worker = start_worker(
        env, "--queues", f"{queue}-other", "--pool", "threads", "--concurrency", "2"
    )
    header = worker.output
    assert f"{queue}-other" in header
    assert "concurrency: 2 (thread)" in header
    assert f".> {queue} " not in header
