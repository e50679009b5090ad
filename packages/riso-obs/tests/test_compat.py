"""The private APIs of dependencies that riso_obs._compat wraps, checked on the installed versions.

Each test fails the day upstream renames or changes what riso-obs relies on:
the attribute is there with the shape we expect, and our function has the
effect we need.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import riso_obs
from riso_obs import _compat
from riso_obs._access_log import AccessLine


def plain_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def server_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """A global SDK provider exporting to memory (what turns FastAPI's own tracing on)."""
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True)
    return exporter


# -- FastAPI: app._telemetry ----------------------------------------------------


def test_fastapi_keeps_the_constructor_telemetry_settings_as_a_dict_on_the_app() -> None:
    config = _compat.fastapi_telemetry_config(FastAPI(telemetry={"operation_spans": False}))
    assert isinstance(config, dict)
    assert {"tracing", "metrics", "logs", "meter_provider", "logger_provider"} <= set(config)
    assert config["tracing"] is True
    assert config["operation_spans"] is False  # the constructor's argument, merged in


def test_fastapi_native_tracing_follows_the_live_telemetry_dict(
    spans: InMemorySpanExporter,
) -> None:
    with TestClient(plain_app()) as client:
        assert client.get("/ping").status_code == 200
    assert server_spans(spans), "FastAPI no longer traces on its own: review _feature.py"
    spans.clear()

    app = plain_app()
    config = _compat.fastapi_telemetry_config(app)
    assert config is not None
    config.update(tracing=False, metrics=False, logs=False)
    with TestClient(app) as client:
        assert client.get("/ping").status_code == 200
    assert spans.get_finished_spans() == ()


def test_the_scope_key_stops_a_fastapi_app_from_opening_its_own_server_span(
    spans: InMemorySpanExporter,
) -> None:
    app = plain_app()

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[_compat.FASTAPI_TELEMETRY_SCOPE_KEY] = None
        await app(scope, receive, send)

    with TestClient(outer) as client:
        assert client.get("/ping").status_code == 200
    assert server_spans(spans) == []


# -- OpenTelemetry: opentelemetry._logs, trace._TRACER_PROVIDER(_SET_ONCE) -------


def test_the_global_logger_provider_is_a_proxy_until_one_is_set() -> None:
    from opentelemetry import _logs

    provider = _compat.global_logger_provider()
    assert isinstance(provider, _logs.LoggerProvider)
    assert provider is _logs.get_logger_provider()
    # what _feature._unset recognises as "not configured"
    assert type(provider).__name__.lstrip("_").startswith(("Proxy", "NoOp"))


def test_the_tracer_provider_globals_have_the_expected_shape() -> None:
    from opentelemetry.util._once import Once

    assert isinstance(trace._TRACER_PROVIDER_SET_ONCE, Once)
    assert hasattr(trace, "_TRACER_PROVIDER")
    assert callable(Once().do_once)


def test_resetting_lets_a_second_provider_become_global() -> None:
    first, second = TracerProvider(), TracerProvider()
    trace.set_tracer_provider(first)
    trace.set_tracer_provider(second)  # refused: one global provider per process
    assert trace.get_tracer_provider() is first
    _compat.reset_global_tracer_provider()
    assert trace._TRACER_PROVIDER is None
    trace.set_tracer_provider(second)
    assert trace.get_tracer_provider() is second
    _compat.reset_global_tracer_provider()


# -- structlog: contextvars._CONTEXT_VARS -----------------------------------------


def test_structlog_registry_is_live_and_holds_prefixed_context_vars() -> None:
    from structlog import contextvars as sc

    registry = _compat.structlog_context_vars()
    assert isinstance(registry, dict)
    assert registry is _compat.structlog_context_vars()  # the registry itself, not a copy
    structlog.contextvars.bind_contextvars(riso_compat_key="acme")
    try:
        var = registry[sc.STRUCTLOG_KEY_PREFIX + "riso_compat_key"]
        assert isinstance(var, ContextVar)
        assert var.name == sc.STRUCTLOG_KEY_PREFIX + "riso_compat_key"
        assert var.get() == "acme"
    finally:
        structlog.contextvars.clear_contextvars()
    assert var.get() is Ellipsis  # cleared variables stay registered, set to Ellipsis


def test_the_access_line_sees_bound_structlog_context_through_the_registry() -> None:
    line = AccessLine()
    structlog.contextvars.clear_contextvars()
    assert line.usable()
    structlog.contextvars.bind_contextvars(riso_compat_tenant="acme")
    try:
        assert not line.usable()
    finally:
        structlog.contextvars.clear_contextvars()
    assert line.usable()
