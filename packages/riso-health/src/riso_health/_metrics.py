"""Health state changes: logged on ``riso.health`` and, when prometheus_client is
importable, exported as the gauge ``riso_health_check_status{check}``.

The gauge lives in prometheus_client's default registry (that is the contract
riso-obs serves on ``/metrics``), so it is created once per process, lazily, at
the first round of checks: importing riso-health never imports prometheus_client.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

logger = logging.getLogger("riso.health")

#: gauge value per status
STATUS_VALUE = {"pass": 1.0, "warn": 0.5, "fail": 0.0}

_gauge: Any = None
_gauge_missing = False


def _status_gauge() -> Any:
    global _gauge, _gauge_missing
    if _gauge is not None or _gauge_missing:
        return _gauge
    if importlib.util.find_spec("prometheus_client") is None:
        _gauge_missing = True
        return None
    import prometheus_client

    try:
        _gauge = prometheus_client.Gauge(
            "riso_health_check_status",
            "Status of each riso health check: 1 pass, 0.5 warn, 0 fail.",
            ["check"],
        )
    except ValueError:  # already registered (e.g. the module was reloaded)
        existing = prometheus_client.REGISTRY._names_to_collectors.get("riso_health_check_status")
        _gauge = existing
    return _gauge


def export(check: str, status: str) -> None:
    """Set the gauge of ``check`` to the value of ``status``."""
    gauge = _status_gauge()
    if gauge is not None:
        gauge.labels(check=check).set(STATUS_VALUE[status])


def log_transition(check: str, previous: str | None, status: str, output: str | None) -> None:
    """Log a check changing status (a first ``pass`` only at debug level)."""
    extra = {"check": check, "status": status, "previous_status": previous}
    if status == "fail":
        level = logging.ERROR
    elif status == "warn":
        level = logging.WARNING
    elif previous is None:
        level = logging.DEBUG
    else:
        level = logging.INFO
    logger.log(
        level,
        "health check %s: %s -> %s%s",
        check,
        previous or "unknown",
        status,
        f" ({output})" if output else "",
        extra=extra,
    )
