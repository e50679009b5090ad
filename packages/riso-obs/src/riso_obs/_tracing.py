"""OpenTelemetry tracing, configured from the standard ``OTEL_*`` variables only.

Tracing is off unless an exporter is configured: ``OTEL_TRACES_EXPORTER``
(``otlp``, ``console``, ``none``) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``).
The sampler (``OTEL_TRACES_SAMPLER``, default parent-based always-on), the
service name (``OTEL_SERVICE_NAME``) and resource attributes are read by the
SDK itself. ``configure_tracing(exporter)`` sets an exporter from code (tests,
benchmarks) and wins over the environment. If the process already has an SDK
tracer provider (set up by the application or ``opentelemetry-instrument``),
riso-obs uses it instead of building its own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace

from riso_obs import _compat
from riso_obs._exceptions import TracingConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

INSTRUMENTATION_NAME = "riso_obs"


class _State:
    provider: TracerProvider | None = None
    tracer: trace.Tracer | None = None
    #: True when riso-obs built the provider (it then flushes it at shutdown)
    owned: bool = False


STATE = _State()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def exporter_names() -> list[str]:
    """The exporters the environment asks for (``[]``: tracing off)."""
    if _truthy(os.environ.get("OTEL_SDK_DISABLED")):
        return []
    raw = os.environ.get("OTEL_TRACES_EXPORTER")
    if raw is None:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [n for n in names if n != "none"]


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,assignment,unused-ignore]
                OTLPSpanExporter,
            )
        elif protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,assignment,unused-ignore]
                OTLPSpanExporter,
            )
        else:
            raise TracingConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; "
                "use 'http/protobuf' or 'grpc'"
            )
    except ImportError as exc:
        raise TracingConfigError(
            "OTEL_TRACES_EXPORTER asks for OTLP but the exporter is not installed: "
            "pip install 'riso-obs[otlp]'"
        ) from exc
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


def exporters_from_env() -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in exporter_names():
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER names {name!r}, which riso-obs does not support; "
                "use otlp, console or none"
            )
    return exporters


def _service_resource(default_service_name: str | None) -> dict[str, str]:
    if not default_service_name or os.environ.get("OTEL_SERVICE_NAME"):
        return {}
    if "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        return {}
    return {"service.name": default_service_name}


def configure_tracing(
    exporter: SpanExporter | None = None,
    *,
    sampler: Sampler | None = None,
    simple: bool = False,
    service_name: str | None = None,
) -> TracerProvider:
    """Build riso-obs's tracer provider around ``exporter`` and make it global.

    Call before ``riso.include(app)``; the environment is then not consulted
    for exporters. ``simple=True`` exports each span as it ends (tests);
    otherwise spans are batched. The sampler defaults to ``OTEL_TRACES_SAMPLER``
    (parent-based always-on when unset).
    """
    exporters = [exporter] if exporter is not None else exporters_from_env()
    return _install(exporters, sampler=sampler, simple=simple, service_name=service_name)


def _install(
    exporters: list[SpanExporter],
    *,
    sampler: Sampler | None,
    simple: bool,
    service_name: str | None,
) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        sampler=sampler, resource=Resource.create(_service_resource(service_name))
    )
    for exporter in exporters:
        provider.add_span_processor(
            SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
        )
    trace.set_tracer_provider(provider)
    STATE.provider = provider
    STATE.owned = True
    STATE.tracer = provider.get_tracer(INSTRUMENTATION_NAME)
    return provider


def setup_from_env(service_name: str | None) -> None:
    """From ``on_include``: keep an existing setup, else configure from ``OTEL_*``."""
    if STATE.tracer is not None:
        return
    from opentelemetry.sdk.trace import TracerProvider

    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        STATE.provider = existing
        STATE.owned = False
        STATE.tracer = existing.get_tracer(INSTRUMENTATION_NAME)
        return
    exporters = exporters_from_env()
    if exporters:
        _install(exporters, sampler=None, simple=False, service_name=service_name)


def tracer() -> trace.Tracer | None:
    """riso-obs's tracer, or None when tracing is off."""
    return STATE.tracer


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as hex, when there is a valid one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def flush() -> None:
    """Export what is buffered (lifespan exit). The SDK shuts down at process exit."""
    if STATE.provider is not None:
        STATE.provider.force_flush()


def reset_tracing() -> None:
    """Forget the provider and let a new one become global (tests only)."""
    if STATE.provider is not None and STATE.owned:
        STATE.provider.shutdown()
    STATE.provider = None
    STATE.tracer = None
    STATE.owned = False
    _compat.reset_global_tracer_provider()
