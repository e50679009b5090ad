"""Building the Celery app of a FastAPI app from its settings (once per app)."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from celery import Celery

import riso
from riso_tasks import _loop_publish, _signals
from riso_tasks._exceptions import NotConfiguredError
from riso_tasks._no_backend import NO_BACKEND
from riso_tasks._settings import TasksSettings

if TYPE_CHECKING:
    from celery.schedules import crontab
    from fastapi import FastAPI

_BUILD_LOCK = threading.Lock()


class RisoCelery(Celery):
    """A Celery app built by riso-tasks: it knows its settings and FastAPI app."""

    riso_settings: TasksSettings
    riso_embedded: bool = False
    riso_fastapi_app: Any = None
    riso_idempotency_store: Any = None
    #: whether the result backend does no I/O when a task is sent (worked out once)
    riso_quiet_backend: bool | None = None
    #: whether publishes may run on the event loop: riso's Redis transport (see
    #: _redis.py), until its connection settings prove unusable there
    riso_loop_publish: bool = False
    #: the in-process worker while the app's lifespan runs (embedded mode)
    riso_embedded_worker: Any = None


def celery_app(app: FastAPI) -> RisoCelery:
    """The Celery app riso built for ``app`` when ``riso.include(app)`` ran.

    ``app`` is the FastAPI application; the Celery app is kept in its riso
    registry, so two FastAPI apps in one process get two Celery apps.
    """
    try:
        registry = riso.registry(app)
    except riso.RisoError as exc:
        raise NotConfiguredError(
            "riso.include(app) has not been called on this app, so it has no Celery app yet"
        ) from exc
    existing = registry.extensions.get("tasks")
    if isinstance(existing, RisoCelery):
        return existing
    if "tasks" not in registry:
        raise NotConfiguredError(
            "the feature 'tasks' is not active on this app: install riso-tasks and check "
            "RISO_DISABLE / riso.include(app, features=...)"
        )
    return attach(app, registry.settings_of("tasks"))


def attach(app: FastAPI, settings: TasksSettings) -> RisoCelery:
    """Build the Celery app of ``app`` once and keep it in the app's riso registry."""
    extensions = riso.registry(app).extensions
    with _BUILD_LOCK:
        existing = extensions.get("tasks")
        if isinstance(existing, RisoCelery):
            return existing
        capp = build_celery(settings)
        capp.riso_fastapi_app = app
        extensions["tasks"] = capp
        return capp


def settings_of(capp: Celery) -> TasksSettings:
    """The settings a riso-built Celery app was made from."""
    if not isinstance(capp, RisoCelery):
        raise NotConfiguredError(f"the Celery app {capp.main!r} was not built by riso-tasks")
    return capp.riso_settings


def build_celery(settings: TasksSettings) -> RisoCelery:
    """A Celery app with riso's production defaults (see the README)."""
    if settings.embedded:
        broker: str = "memory://localhost/"
        backend: str | None = "cache+memory://"
        # The memory transport's queues are process-global: a queue per app.
        queue = f"{settings.default_queue}.embedded.{uuid.uuid4().hex[:8]}"
        transport: dict[str, Any] = {"polling_interval": 0.01}
        transport_cls: str | None = "riso_tasks._memory:Transport"
    else:
        assert settings.broker_url is not None
        broker = settings.broker_url
        backend = settings.result_backend
        queue = settings.default_queue
        transport = {}
        # redis:// only: naming a transport for rediss:// would drop its TLS.
        transport_cls = _loop_publish.TRANSPORT if broker.startswith("redis://") else None
        if settings.broker_is_redis:
            transport = {
                "visibility_timeout": settings.visibility_timeout,
                "socket_timeout": max(settings.publish_timeout, 1.0),
                "socket_connect_timeout": min(settings.publish_timeout, 3.0),
            }
    transport.update(settings.broker_transport_options)

    capp = RisoCelery("riso", set_as_current=True)
    capp.conf.update(
        broker_url=broker,
        # Celery lets CELERY_BROKER_URL override broker_url; riso's resolution wins.
        broker_read_url=broker,
        broker_write_url=broker,
        broker_transport=transport_cls,
        result_backend=backend,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.time_limit,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=min(settings.publish_timeout, 4.0),
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        result_expires=settings.result_expires,
        task_default_queue=queue,
        broker_transport_options=transport,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        imports=settings.imports_list,
        beat_schedule=beat_schedule(settings),
        worker_log_format=(
            "[%(asctime)s: %(levelname)s/%(processName)s] request_id=%(request_id)s %(message)s"
        ),
        worker_task_log_format=(
            "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s] "
            "request_id=%(request_id)s %(message)s"
        ),
    )
    # Celery lets CELERY_RESULT_BACKEND override result_backend; backend_cls wins.
    # Without one, reading a result raises riso-tasks' error (not an AttributeError).
    capp.backend_cls = backend if backend is not None else NO_BACKEND
    capp.riso_settings = settings
    capp.riso_embedded = settings.embedded
    capp.riso_loop_publish = transport_cls == _loop_publish.TRANSPORT
    _signals.connect()
    capp.set_default()
    return capp


def beat_schedule(settings: TasksSettings) -> dict[str, dict[str, Any]]:
    """Celery's beat_schedule from settings plus ``@task(schedule=...)`` declarations."""
    from riso_tasks._task import declared_schedules

    schedule: dict[str, dict[str, Any]] = {}
    for name, entry in {**declared_schedules(), **settings.beat_schedule}.items():
        item: dict[str, Any] = {
            "task": entry.task,
            "schedule": _schedule(entry.schedule),
            "args": tuple(entry.args),
            "kwargs": dict(entry.keyword_args),
        }
        if entry.queue:
            item["options"] = {"queue": entry.queue}
        schedule[name] = item
    return schedule


def _schedule(value: float | str) -> float | crontab:
    if isinstance(value, str):
        from celery.schedules import crontab

        minute, hour, day_of_month, month_of_year, day_of_week = value.split()
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    return float(value)
