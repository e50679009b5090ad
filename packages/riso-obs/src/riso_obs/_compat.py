"""Every private API of a dependency riso-obs relies on, one function or constant per use.

Each has a comment saying why no public API serves; ``tests/test_compat.py``
fails the day an upstream release renames or changes one of them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from fastapi import FastAPI
    from opentelemetry._logs import LoggerProvider

#: The ASGI scope key by which FastAPI's native telemetry knows an outer layer
#: already traces the request: with it set (to None), a mounted FastAPI app
#: opens no second server span. Why private: undocumented, FastAPI sets it
#: itself for the apps mounted in it, and no public switch exists per request.
FASTAPI_TELEMETRY_SCOPE_KEY = "fastapi.telemetry"


def fastapi_telemetry_config(app: FastAPI) -> MutableMapping[str, Any] | None:
    """The app's live telemetry settings (``FastAPI(telemetry=...)``), None before FastAPI had them.

    Why private: FastAPI takes these settings only as a constructor argument,
    and riso-obs meets the app after it was built; its native telemetry reads
    this very dict per request, so changing it turns that telemetry off.
    """
    config = getattr(app, "_telemetry", None)
    return config if isinstance(config, dict) else None


def global_logger_provider() -> LoggerProvider:
    """OpenTelemetry's global logger provider.

    Why private: the logs API is still published as ``opentelemetry._logs``
    (no public module yet); riso-obs only asks whether one is configured.
    """
    from opentelemetry import _logs

    return _logs.get_logger_provider()


def reset_global_tracer_provider() -> None:
    """Let ``trace.set_tracer_provider`` set a provider again (tests only).

    Why private: OpenTelemetry allows one global provider per process and
    offers no way to undo it; ``riso_obs.reset()`` must, so that each test can
    install its own exporter.
    """
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


def structlog_context_vars() -> dict[str, ContextVar[Any]] | None:
    """structlog's live registry of the context variables ``bind_contextvars`` made.

    Why private: the public ``get_contextvars``/``merge_contextvars`` copy the
    whole ``contextvars`` context and scan every variable in it (OpenTelemetry's,
    riso's, the server's) per call; on the access-line path, once per request,
    reading structlog's own few variables is what keeps the cost down.
    None if structlog no longer has the registry (callers fall back).
    """
    from structlog import contextvars

    registry = getattr(contextvars, "_CONTEXT_VARS", None)
    return registry if isinstance(registry, dict) else None
