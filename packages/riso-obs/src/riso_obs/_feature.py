"""The ``obs`` feature declaration and its hooks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

import riso
from riso_obs import _compat, _log_output, _logging, _metrics, _sqlalchemy, _tracing
from riso_obs._checks import obs_checks
from riso_obs._middleware import ObsMiddleware
from riso_obs._settings import ObsSettings

_log = structlog.get_logger("riso.obs")


def on_include(app: FastAPI, settings: ObsSettings) -> None:
    """Runs inside ``riso.include``: logging, tracing and metrics, before any request."""
    production = riso.registry(app).core.is_production
    _logging.configure_logging(settings, production=production)
    if settings.tracing:
        _tracing.setup_from_env(service_name=app.title or None)
        if _tracing.tracer() is not None:
            _sqlalchemy.instrument(only_if_imported=True)
            _disable_fastapi_server_spans(app)
    if settings.metrics:
        _metrics.http_metrics()


def _disable_fastapi_server_spans(app: FastAPI) -> None:
    """FastAPI's own telemetry (recent releases) traces requests once a provider is global.

    riso-obs makes the server span, so FastAPI's (and its per-operation spans)
    would double the cost and the span count: its tracing is turned off. Its
    OpenTelemetry metrics and logs stay on only if the application configured
    a meter or logger provider; otherwise its wrapper is skipped entirely.
    """
    telemetry = _compat.fastapi_telemetry_config(app)
    if telemetry is None or "tracing" not in telemetry:
        return
    telemetry["tracing"] = False
    from opentelemetry import metrics

    if telemetry.get("meter_provider") is None and _unset(metrics.get_meter_provider()):
        telemetry["metrics"] = False
    if telemetry.get("logger_provider") is None and _unset(_compat.global_logger_provider()):
        telemetry["logs"] = False


def _unset(provider: object) -> bool:
    """A no-op or not-yet-configured (proxy) OpenTelemetry provider."""
    name = type(provider).__name__
    return name.lstrip("_").startswith(("Proxy", "NoOp"))


@asynccontextmanager
async def lifespan(app: FastAPI, settings: ObsSettings) -> AsyncIterator[None]:
    # A server that applied its own logging config after the app was imported
    # (uvicorn.run(app_object)) gets its loggers routed again; nothing else is
    # configured here.
    _logging.route_server_loggers(settings.access_log)
    _log_output.set_write_through(False)
    workers = _metrics.worker_count()
    directory = _metrics.multiprocess_dir()
    if settings.metrics and workers > 1 and not directory:
        _log.warning(
            "several workers without PROMETHEUS_MULTIPROC_DIR: /metrics shows one worker only",
            workers=workers,
        )
    try:
        yield
    finally:
        _tracing.flush()
        # the server's last lines come after this, and maybe no exit handler
        _log_output.set_write_through(True)
        if directory:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


feature: riso.Feature[ObsSettings] = riso.Feature(
    name="obs",
    core=">=0.1.6,<0.2",
    settings=ObsSettings,
    routers=[_metrics.router],
    middleware=[riso.Middleware(ObsMiddleware, "outer")],
    lifespan=lifespan,
    system_checks=[obs_checks],
    on_include=on_include,
)
