"""Prometheus metrics in the default registry, when prometheus_client is installed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()
#: [metrics or None] once created (a list: no module-level rebinding)
_STATE: list[Metrics | None] = []


@dataclass(frozen=True, slots=True)
class Metrics:
    sent: Any
    started: Any
    succeeded: Any
    failed: Any
    retried: Any
    runtime: Any
    queue: Any


def metrics() -> Metrics | None:
    """The metric objects, created once per process; None without prometheus_client."""
    if _STATE:
        return _STATE[0]
    with _LOCK:
        if not _STATE:
            _STATE.append(_create())
        return _STATE[0]


def _create() -> Metrics | None:
    try:
        from prometheus_client import Counter, Histogram
    except ImportError:
        return None
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
    return Metrics(
        sent=Counter("riso_tasks_sent_total", "Tasks published to the broker.", ["task"]),
        started=Counter("riso_tasks_started_total", "Tasks started by a worker.", ["task"]),
        succeeded=Counter("riso_tasks_succeeded_total", "Tasks that succeeded.", ["task"]),
        failed=Counter("riso_tasks_failed_total", "Tasks that failed for good.", ["task"]),
        retried=Counter("riso_tasks_retried_total", "Task retries scheduled.", ["task"]),
        runtime=Histogram(
            "riso_tasks_runtime_seconds", "Time a task ran.", ["task"], buckets=buckets
        ),
        queue=Histogram(
            "riso_tasks_queue_seconds",
            "Time from publish (or ETA) to start.",
            ["task"],
            buckets=buckets,
        ),
    )
