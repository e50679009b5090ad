"""The ``tasks`` feature: lifespan, 503/501 handlers, health and system checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import riso
from riso_tasks import _loop_publish
from riso_tasks._app import attach, celery_app
from riso_tasks._cli import cli
from riso_tasks._enqueue import enqueue
from riso_tasks._exceptions import BrokerUnavailableError, ResultBackendMissingError
from riso_tasks._settings import TasksSettings

if TYPE_CHECKING:
    from riso_tasks._embedded import EmbeddedWorker

logger = logging.getLogger("riso.tasks")


@asynccontextmanager
async def lifespan(app: FastAPI, settings: TasksSettings) -> AsyncIterator[None]:
    capp = celery_app(app)
    capp.set_current()
    capp.set_default()
    if not settings.embedded:
        # kombu's producer pools are process-wide, shared by every Celery app
        # with the same broker URL, so they are not closed here; the event
        # loop's own Redis connections (see _loop_publish.py) are.
        _loop_publish.open_loop()
        try:
            yield None
        finally:
            await _loop_publish.close_loop()
        return
    from riso_tasks._embedded import EmbeddedWorker

    worker = EmbeddedWorker(capp, concurrency=settings.embedded_concurrency)
    await anyio.to_thread.run_sync(worker.start)
    capp.riso_embedded_worker = worker
    logger.info("tasks run in-process (embedded broker and worker): for development only")
    try:
        yield None
    finally:
        await anyio.to_thread.run_sync(worker.stop)
        capp.riso_embedded_worker = None


async def _broker_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("enqueue failed: %s", exc)
    return JSONResponse(
        {"detail": "the task queue is unavailable; try again later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _no_result_backend(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=501)


def on_include(app: FastAPI, settings: TasksSettings) -> None:
    # Built now (no connection is made) so that .delay() and enqueue() use it at once.
    attach(app, settings)
    riso.registry(app).provide(riso.TASK_ENQUEUER, enqueue)
    app.add_exception_handler(BrokerUnavailableError, _broker_unavailable)
    app.add_exception_handler(ResultBackendMissingError, _no_result_backend)


def _embedded_worker(app: FastAPI) -> EmbeddedWorker | None:
    worker: EmbeddedWorker | None = celery_app(app).riso_embedded_worker
    return worker


def _require_embedded_worker(app: FastAPI) -> None:
    """Embedded mode has no broker to reach: its health is its worker thread's."""
    worker = _embedded_worker(app)
    if worker is None or not worker.alive:
        raise RuntimeError("the embedded task worker is not running")


async def check_broker(app: Any) -> None:
    """Readiness: the broker accepts a connection (embedded: its worker runs)."""
    capp = celery_app(app)
    if capp.riso_embedded:
        _require_embedded_worker(app)
        return

    def connect() -> None:
        with capp.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)

    try:
        await anyio.to_thread.run_sync(connect, abandon_on_cancel=True)
    except Exception as exc:
        raise RuntimeError(f"the task broker is unreachable ({type(exc).__name__})") from None


async def check_workers(app: Any) -> None:
    """Non-critical: at least one worker answers a ping."""
    capp = celery_app(app)
    if capp.riso_embedded:
        _require_embedded_worker(app)
        return

    def ping() -> Any:
        return capp.control.inspect(timeout=1.0).ping()

    try:
        replies = await anyio.to_thread.run_sync(ping, abandon_on_cancel=True)
    except Exception as exc:
        raise RuntimeError(f"cannot ask workers ({type(exc).__name__})") from None
    if not replies:
        raise RuntimeError("no task worker answered a ping within 1 s")


def check_settings(ctx: riso.CheckContext) -> Iterable[riso.CheckMessage]:
    settings = ctx.settings.get("tasks")
    if not isinstance(settings, TasksSettings):
        return
    if settings.embedded and ctx.deploy:
        if ctx.core.is_production:
            yield riso.CheckMessage(
                "tasks.E001",
                "tasks use the embedded in-process broker in production: queued tasks are "
                "lost when the process stops and cannot be shared by several processes.",
                hint="set RISO_TASKS_BROKER_URL (redis://... or amqp://...) and run "
                "'riso tasks worker'",
            )
        else:
            yield riso.CheckMessage(
                "tasks.W001",
                "tasks use the embedded in-process broker, which is for development only.",
                hint="set RISO_TASKS_BROKER_URL (redis://... or amqp://...) before deploying",
            )
    if not settings.embedded and settings.result_backend is None:
        keeping = sorted(tasks_keeping_results(ctx.app))
        if keeping:
            yield riso.CheckMessage(
                "tasks.W002",
                f"tasks declared with ignore_result=False ({', '.join(keeping)}) have no result "
                "backend: reading their state or result answers 501.",
                hint="set RISO_TASKS_RESULT_BACKEND (e.g. redis://...)",
            )
    if settings.broker_is_redis and settings.time_limit >= settings.visibility_timeout:
        yield riso.CheckMessage(
            "tasks.E002",
            f"the task time limit ({settings.time_limit} s) is not below the Redis visibility "
            f"timeout ({settings.visibility_timeout} s): a long task would be delivered twice.",
            hint="raise RISO_TASKS_VISIBILITY_TIMEOUT or lower RISO_TASKS_TIME_LIMIT",
        )


def tasks_keeping_results(app: FastAPI) -> Iterable[str]:
    """Tasks of the app's own packages declared with ``ignore_result=False``.

    Celery's shared tasks are process-wide; the app's own are those declared in
    the top-level packages of its route endpoints or of ``RISO_TASKS_IMPORTS``.
    """
    capp = celery_app(app)
    packages = {
        getattr(getattr(route, "endpoint", None), "__module__", "").partition(".")[0]
        for route in app.routes
    }
    packages.update(name.partition(".")[0] for name in capp.riso_settings.imports_list)
    packages -= {"", "riso", "fastapi", "starlette"}
    packages = {p for p in packages if not p.startswith("riso_")}
    for name, declared in capp.tasks.items():
        if name.partition(".")[0] in packages and declared.ignore_result is False:
            yield name


feature: riso.Feature[TasksSettings] = riso.Feature(
    name="tasks",
    core=">=0.1.6,<0.2",
    settings=TasksSettings,
    lifespan=lifespan,
    on_include=on_include,
    health_checks=[
        riso.HealthCheck("tasks.broker", check_broker, critical=True, timeout=2.0),
        riso.HealthCheck("tasks.workers", check_workers, critical=False, timeout=2.0),
    ],
    system_checks=[check_settings],
    cli=cli,
)
