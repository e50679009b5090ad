"""riso-obs: request ids, structured logs, Prometheus metrics and OpenTelemetry traces.

Installed, it registers itself with ``riso.include(app)`` (feature ``obs``).
"""

from riso_obs._exceptions import ObsError, TracingConfigError
from riso_obs._feature import feature
from riso_obs._log_output import flush_logs, set_stream
from riso_obs._log_processors import REDACTED, Redactor
from riso_obs._logging import reset_logging
from riso_obs._metrics import UNMATCHED, HttpMetrics, http_metrics, reset_metrics
from riso_obs._middleware import ObsMiddleware
from riso_obs._request_id import is_valid_request_id, new_request_id
from riso_obs._settings import DEFAULT_EXCLUDE_PATHS, DEFAULT_REDACT, ObsSettings
from riso_obs._tracing import configure_tracing, reset_tracing

__version__ = "0.1.6"


def reset() -> None:
    """Undo every global riso-obs configuration: logging, tracing, metrics (tests)."""
    from riso_obs import _sqlalchemy

    reset_logging()
    reset_tracing()
    reset_metrics()
    _sqlalchemy.uninstrument()


__all__ = [
    "DEFAULT_EXCLUDE_PATHS",
    "DEFAULT_REDACT",
    "REDACTED",
    "UNMATCHED",
    "HttpMetrics",
    "ObsError",
    "ObsMiddleware",
    "ObsSettings",
    "Redactor",
    "TracingConfigError",
    "configure_tracing",
    "feature",
    "flush_logs",
    "http_metrics",
    "is_valid_request_id",
    "new_request_id",
    "reset",
    "reset_logging",
    "reset_metrics",
    "reset_tracing",
    "set_stream",
]
