"""The starter with a broker and no result backend: a warning, and a JSON 501 for a task.

Without ``RISO_TASKS_RESULT_BACKEND`` Celery's disabled backend failed every
``AsyncResult(...).state`` with an ``AttributeError`` (a 500 traceback) and
``riso check`` said nothing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from riso_test_support import stack

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def no_backend_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("no-backend")
    env = stack.stack_env(f"sqlite+aiosqlite:///{folder}/app.db", redis_url)
    del env["RISO_TASKS_RESULT_BACKEND"]
    env["RISO_OBS_LOG_FORMAT"] = "json"
    stack.migrate(env, folder)
    env["_FOLDER"] = str(folder)
    return env


@pytest.fixture(scope="module")
def starter(no_backend_env: dict[str, str]) -> Iterator[stack.Server]:
    with stack.server(no_backend_env, Path(no_backend_env["_FOLDER"])) as server:
        yield server


def test_riso_check_warns_that_results_cannot_be_read(no_backend_env: dict[str, str]) -> None:
    done = subprocess.run(
        [BIN / "riso", "--app", stack.APP, "check"],
        cwd=no_backend_env["_FOLDER"], env=no_backend_env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "tasks.W002" in output, output
    assert "RISO_TASKS_RESULT_BACKEND" in output


def test_task_status_is_a_clear_json_answer_not_a_500(starter: stack.Server) -> None:
    with httpx.Client(base_url=starter.base, timeout=10) as client:
        sent = client.post("/tasks/add", params={"x": 1, "y": 2})
        assert sent.status_code == 202, sent.text
        answer = client.get(f"/tasks/{sent.json()['task_id']}")
    assert answer.status_code == 501, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert "RISO_TASKS_RESULT_BACKEND" in answer.json()["detail"]
    assert "_get_task_meta_for" not in starter.log.read_text(encoding="utf-8")
