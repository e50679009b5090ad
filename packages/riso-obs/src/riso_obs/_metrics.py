"""Prometheus metrics: the HTTP metrics riso-obs records and ``GET /metrics``.

Every metric lives in prometheus_client's default ``REGISTRY``; other features
create ordinary Counter/Histogram objects there (names ``riso_<feature>_...``)
and ``/metrics`` serves them too. With ``PROMETHEUS_MULTIPROC_DIR`` set (one
directory shared by every worker, emptied before the server starts),
``/metrics`` aggregates the files every worker writes.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from riso_obs._settings import ObsSettings

#: the label value of every request no route matched (never the raw path)
UNMATCHED = "<unmatched>"

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


IN_PROGRESS_HELP = "HTTP requests being served, by method."


class _InProgressCollector(Collector):
    """``http_requests_in_progress{method}`` from a dict the middleware updates."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("http_requests_in_progress", IN_PROGRESS_HELP, labels=["method"])
        for method, value in sorted(self.counts.items()):  # one C-level pass, GIL held
            family.add_metric([method], value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("http_requests_in_progress", IN_PROGRESS_HELP, labels=["method"])


class HttpMetrics:
    """The three HTTP metrics, registered once per process."""

    def __init__(self) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests served, by method, route template and status code.",
            ("method", "endpoint", "status"),
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, by method and route template.",
            ("method", "endpoint"),
            buckets=BUCKETS,
        )
        #: requests being served, by method. A plain dict of ints read at
        #: scrape time by a collector (no lock per request); with
        #: PROMETHEUS_MULTIPROC_DIR a livesum Gauge instead, so workers add up.
        self.in_progress_counts: dict[str, int] = {}
        self.in_progress: Gauge | None = None
        self._in_progress_collector: _InProgressCollector | None = None
        if multiprocess_dir():
            self.in_progress = Gauge(
                "http_requests_in_progress",
                IN_PROGRESS_HELP,
                ("method",),
                multiprocess_mode="livesum",
            )
        else:
            self._in_progress_collector = _InProgressCollector(self.in_progress_counts)
            REGISTRY.register(self._in_progress_collector)

    def unregister(self) -> None:
        collectors: list[Any] = [self.requests, self.duration]
        if self.in_progress is not None:
            collectors.append(self.in_progress)
        if self._in_progress_collector is not None:
            collectors.append(self._in_progress_collector)
        for collector in collectors:
            with contextlib.suppress(KeyError):
                REGISTRY.unregister(collector)


_lock = threading.Lock()
_metrics: HttpMetrics | None = None


def http_metrics() -> HttpMetrics:
    """The process-wide HTTP metrics, created on first use."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = HttpMetrics()
        return _metrics


def reset_metrics() -> None:
    """Unregister the HTTP metrics so the next app creates fresh ones (tests only)."""
    global _metrics
    with _lock:
        if _metrics is not None:
            _metrics.unregister()
        _metrics = None


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def worker_count() -> int:
    """How many server workers this process is one of, as far as can be told.

    Reads ``WEB_CONCURRENCY`` (uvicorn and gunicorn honour it) and the
    ``--workers``/``-w`` option on the server's command line.
    """
    counts = [1]
    with contextlib.suppress(ValueError):
        counts.append(int(os.environ.get("WEB_CONCURRENCY", "1")))
    argv = sys.argv
    for index, arg in enumerate(argv):
        value: str | None = None
        if arg in ("--workers", "-w") and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                counts.append(int(value))
            except ValueError:
                continue
    return max(counts)


def render_metrics() -> bytes:
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _settings_of(request: Request) -> ObsSettings | None:
    import riso

    try:
        settings: ObsSettings = riso.registry(request.app).settings_of("obs")
    except riso.RisoError:
        return None
    return settings


router = APIRouter()


@router.get("/metrics", include_in_schema=False, response_model=None)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the default registry (or every worker's files)."""
    settings = _settings_of(request)
    if settings is not None and not settings.metrics:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if settings is not None and settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse(
                {"detail": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
