"""The embedded default: in-process broker and worker, through the real ASGI stack."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import riso_tasks_testapp
from fastapi import FastAPI
from fastapi.testclient import TestClient

import riso
import riso_tasks
from riso_tasks._feature import check_broker, check_workers


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # one worker thread: a leak from one task into the next would show
    monkeypatch.setenv("RISO_TASKS_EMBEDDED_CONCURRENCY", "1")
    return riso_tasks_testapp.create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def wait_seen(count: int, timeout: float = 10) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while len(riso_tasks_testapp.SEEN) < count:
        assert time.monotonic() < deadline, riso_tasks_testapp.SEEN
        time.sleep(0.01)
    return list(riso_tasks_testapp.SEEN)


def test_request_returns_before_the_task_finishes_and_the_task_completes(
    client: TestClient,
) -> None:
    response = client.post("/blocking", params={"tag": "b1"})

    assert response.status_code == 200
    # The task waits for RELEASE, which only this test sets: the response came first.
    assert not riso_tasks_testapp.FINISHED.is_set()
    riso_tasks_testapp.RELEASE.set()
    assert riso_tasks_testapp.FINISHED.wait(10)


def test_task_result_is_observable_through_the_status_endpoint(client: TestClient) -> None:
    task_id = client.post("/add", params={"x": 20, "y": 22}).json()["id"]
    deadline = time.monotonic() + 10
    while (body := client.get(f"/tasks/{task_id}").json())["state"] != "SUCCESS":
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    assert body == {"state": "SUCCESS", "result": 42}


def test_web_code_may_wait_for_a_result_while_the_embedded_worker_runs(
    client: TestClient, app: FastAPI
) -> None:
    # The embedded worker shares the process: starting it must not make the
    # web side look like code running inside a task.
    task_id = client.post("/add", params={"x": 1, "y": 2}).json()["id"]
    result = riso_tasks.celery_app(app).AsyncResult(task_id)
    assert result.get(timeout=10) == 3


def test_request_id_travels_into_the_task_and_is_reset_after(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="riso_tasks_testapp")
    caplog.handler.addFilter(riso_tasks.RequestIdFilter())

    client.post("/observe", params={"tag": "one"}, headers={"X-Request-ID": "rid-one"})
    wait_seen(1)
    client.post("/observe", params={"tag": "two"})  # no request id this time
    seen = wait_seen(2)

    assert seen == [
        {"tag": "one", "request_id": "rid-one"},
        {"tag": "two", "request_id": None},
    ]
    lines = {
        r.getMessage(): getattr(r, "request_id", None)
        for r in caplog.records
        if r.name == "riso_tasks_testapp"
    }
    assert lines["observed one"] == "rid-one"
    assert lines["observed two"] == "-"
    assert riso.current_request_id() is None


def test_plain_shared_task_still_works_and_gets_the_request_id(client: TestClient) -> None:
    async def call() -> None:
        token = riso.request_id_var.set("rid-legacy")
        try:
            await riso_tasks.enqueue(riso_tasks_testapp.legacy, 7)
        finally:
            riso.request_id_var.reset(token)

    client.portal.call(call)  # type: ignore[union-attr]
    riso_tasks_testapp.legacy.delay(8)  # Celery's own API, unchanged
    seen = sorted(wait_seen(2), key=lambda s: str(s["tag"]))
    assert seen == [
        {"tag": "legacy-7", "request_id": "rid-legacy"},
        {"tag": "legacy-8", "request_id": None},
    ]


def test_health_checks_follow_the_embedded_worker(app: FastAPI) -> None:
    import anyio

    with TestClient(app):
        anyio.run(check_broker, app)
        anyio.run(check_workers, app)
    with pytest.raises(RuntimeError, match="embedded task worker is not running"):
        anyio.run(check_broker, app)


def test_metrics_count_sent_started_succeeded_and_time(client: TestClient) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.REGISTRY
    labels = {"task": "riso_tasks_testapp.observe"}

    def value(name: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    before = {
        name: value(name)
        for name in (
            "riso_tasks_sent_total",
            "riso_tasks_started_total",
            "riso_tasks_succeeded_total",
            "riso_tasks_runtime_seconds_count",
            "riso_tasks_queue_seconds_count",
        )
    }
    client.post("/observe", params={"tag": "m"})
    wait_seen(1)
    deadline = time.monotonic() + 10
    while value("riso_tasks_runtime_seconds_count") == before["riso_tasks_runtime_seconds_count"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while value("riso_tasks_succeeded_total") == before["riso_tasks_succeeded_total"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for name, old in before.items():
        assert value(name) == old + 1, name


def test_two_apps_get_two_celery_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    first = riso_tasks_testapp.create_app()
    second = riso_tasks_testapp.create_app()
    assert riso_tasks.celery_app(first) is riso_tasks.celery_app(first)
    assert riso_tasks.celery_app(first) is not riso_tasks.celery_app(second)
    # embedded queues are process-global: each app has its own
    assert (
        riso_tasks.celery_app(first).conf.task_default_queue
        != riso_tasks.celery_app(second).conf.task_default_queue
    )
