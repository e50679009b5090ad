"""The app and tasks the tests (and the worker processes they start) use.

The worker imports it as ``riso_tasks_testapp:app``; the attribute is built on
first access from the environment, so each test chooses its own broker.
Tasks record what happened in Redis (``TASKS_TEST_REDIS``) so the test
process can see what a worker process did.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
import sqlalchemy as sa
from celery import shared_task
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import riso
import riso_tasks

log = logging.getLogger("riso_tasks_testapp")

#: set by in-process tests to hold the ``blocking`` task until they release it
RELEASE = threading.Event()
FINISHED = threading.Event()
SEEN: list[dict[str, Any]] = []


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["TASKS_TEST_REDIS"])


class RequestIdMiddleware:
    """Stands in for riso-obs: the X-Request-ID header becomes riso.request_id_var."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        value = headers.get(b"x-request-id", b"").decode() or None
        token = riso.request_id_var.set(value)
        try:
            await self.app(scope, receive, send)
        finally:
            riso.request_id_var.reset(token)


@riso_tasks.task(ignore_result=False)
def add(x: int, y: int) -> int:
    log.info("adding %s and %s", x, y)
    return x + y


@riso_tasks.task(bind=True, max_retries=2, retry_backoff=1, retry_jitter=False, ignore_result=False)
def flaky(self: Any, key: str) -> None:
    _redis().rpush(f"{key}:attempts", f"{self.request.retries}:{time.time()}")
    raise ValueError(f"flaky failure {self.request.retries}")


@riso_tasks.task(idempotency_key=lambda key: key, ignore_result=False)
def crashable(key: str) -> str:
    """Hangs on its first delivery (the test kills the worker), completes on the next."""
    client = _redis()
    if client.incr(f"{key}:attempts") == 1:
        client.set(f"{key}:started", "1")
        time.sleep(120)
    client.incr(f"{key}:completions")
    return "done"


@riso_tasks.task
def blocking(tag: str) -> None:
    """In-process only: waits for the test, then says it finished."""
    SEEN.append({"tag": tag, "request_id": riso.current_request_id()})
    log.info("blocking task %s running", tag)
    RELEASE.wait(30)
    FINISHED.set()


@riso_tasks.task
def observe(tag: str) -> None:
    """In-process only: records the request id it saw."""
    log.info("observed %s", tag)  # before SEEN: a test that saw SEEN sees the record
    SEEN.append({"tag": tag, "request_id": riso.current_request_id()})


@riso_tasks.task
def record(key: str, tag: str) -> None:
    """Any process: appends the tag and the request id it saw to the Redis list ``key``."""
    log.info("recording %s", tag)
    _redis().rpush(key, f"{tag} {riso.current_request_id()}")


ROWS = sa.Table(
    "riso_tasks_test_rows",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", sa.String(50), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


@riso_tasks.task(max_retries=0, ignore_result=False)
def write_row(value: str, fail: bool = False) -> int:
    """Writes a row in a task's session; raising afterwards must roll it back."""
    with riso_tasks.db_session() as session:
        session.execute(ROWS.insert().values(value=value, pid=os.getpid()))
        if fail:
            raise RuntimeError(f"failing after writing {value}")
    return os.getpid()


@shared_task
def legacy(x: int) -> int:
    """A plain Celery shared task, declared without riso."""
    SEEN.append({"tag": f"legacy-{x}", "request_id": riso.current_request_id()})
    return x


def create_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)
    if os.environ.get("TASKS_TEST_WITH_DB"):
        import riso_db

        riso.include(app, features=[riso_db.feature, riso_tasks.feature])
        # The worker's parent process uses the engine before forking its children.
        ROWS.metadata.create_all(riso_db.database(app).sync_engine)
    elif os.environ.get("TASKS_TEST_WITH_OBS"):
        import riso_obs

        riso.include(app, features=[riso_obs.feature, riso_tasks.feature])
    else:
        riso.include(app, features=[riso_tasks.feature])

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.post("/add")
    async def enqueue_add(x: int, y: int) -> dict[str, str]:
        result = await riso_tasks.enqueue(add, x, y)
        return {"id": result.id}

    @app.post("/flaky")
    async def enqueue_flaky(key: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(flaky, key)
        return {"id": result.id}

    @app.post("/crashable")
    async def enqueue_crashable(key: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(crashable, key)
        return {"id": result.id}

    @app.post("/blocking")
    async def enqueue_blocking(tag: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(blocking, tag)
        return {"id": result.id}

    @app.post("/observe")
    async def enqueue_observe(tag: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(observe, tag)
        return {"id": result.id}

    @app.post("/record")
    async def enqueue_record(key: str, tag: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(record, key, tag)
        return {"id": result.id}

    @app.post("/rows")
    async def enqueue_write_row(value: str, fail: bool = False) -> dict[str, str]:
        result = await riso_tasks.enqueue(write_row, value, fail)
        return {"id": result.id}

    @app.get("/tasks/{task_id}")
    async def status(task_id: str) -> dict[str, Any]:
        result = riso_tasks.celery_app(app).AsyncResult(task_id)
        state = result.state  # read once: it changes under our feet
        if state == "SUCCESS":
            return {"state": state, "result": result.result}
        if state == "FAILURE":
            return {"state": state, "error": repr(result.result)}
        return {"state": state}

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
