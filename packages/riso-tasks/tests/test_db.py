"""Database sessions in tasks (riso-db): commit on success, rollback on failure, fork-safe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from riso_test_support.tasks import WorkerProcess, make_app

import riso_tasks

riso_db = pytest.importorskip("riso_db")

import riso_tasks_testapp  # noqa: E402


@pytest.fixture
def db_env(postgres_url: str) -> Iterator[dict[str, str]]:
    yield {"TASKS_TEST_WITH_DB": "1", "DATABASE_URL": postgres_url}
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        riso_tasks_testapp.ROWS.drop(conn, checkfirst=True)
    engine.dispose()


def rows(app: FastAPI) -> list[str]:
    with riso_db.database(app).sync_engine.connect() as conn:
        return [r.value for r in conn.execute(sa.select(riso_tasks_testapp.ROWS.c.value))]


def wait_state(client: TestClient, task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while (body := client.get(f"/tasks/{task_id}").json())["state"] not in ("SUCCESS", "FAILURE"):
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


@pytest.mark.parametrize(
    ("fail", "state", "stored"), [(False, "SUCCESS", ["kept"]), (True, "FAILURE", [])]
)
def test_task_session_commits_on_success_and_rolls_back_on_failure(
    monkeypatch: pytest.MonkeyPatch,
    db_env: dict[str, str],
    fail: bool,
    state: str,
    stored: list[str],
) -> None:
    app = make_app(monkeypatch, db_env)
    with TestClient(app) as client:  # embedded broker and worker
        task_id = client.post("/rows", params={"value": "kept", "fail": fail}).json()["id"]
        body = wait_state(client, task_id)
    assert body["state"] == state
    assert rows(app) == stored


def test_db_session_outside_a_riso_app_is_a_clear_error() -> None:
    from celery import Celery

    Celery("plain", set_as_current=True)
    with pytest.raises(riso_tasks.NotConfiguredError, match="no riso app"), riso_tasks.db_session():
        pass


def test_prefork_worker_children_use_their_own_connections(
    monkeypatch: pytest.MonkeyPatch,
    db_env: dict[str, str],
    redis_db1: str,
    queue: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    env = {
        **db_env,
        "RISO_TASKS_BROKER_URL": redis_db1,
        "RISO_TASKS_RESULT_BACKEND": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
    }
    worker = start_worker(env, "--pool", "prefork", "--concurrency", "2")
    app = make_app(monkeypatch, env)
    with TestClient(app) as client:
        ids = [client.post("/rows", params={"value": f"v{i}"}).json()["id"] for i in range(6)]
        bodies = [wait_state(client, task_id) for task_id in ids]
    assert [b["state"] for b in bodies] == ["SUCCESS"] * 6, worker.output
    assert sorted(rows(app)) == [f"v{i}" for i in range(6)]
    assert worker.proc.pid not in {b["result"] for b in bodies}  # ran in forked children
