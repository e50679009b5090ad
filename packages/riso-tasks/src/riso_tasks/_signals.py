"""Context and metrics across the publish/run boundary, via Celery signals.

Publishing (``before_task_publish``, so ``send_task`` and plain shared tasks are
covered) adds headers: the request id, the W3C trace context and the publish
time. ``task_prerun`` restores them around the task; ``task_postrun`` resets
them so nothing leaks into the next task run by the same thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from contextvars import Token
from datetime import datetime
from typing import Any

from celery import signals

import riso
from riso_tasks import _loop_publish
from riso_tasks._metrics import metrics
from riso_tasks._sensitive import install_pool_filter

REQUEST_ID_HEADER = "riso_request_id"
PUBLISHED_AT_HEADER = "riso_published_at"
_TRACE_HEADERS = ("traceparent", "tracestate", "baggage")

_connected = False
_connect_lock = threading.Lock()
_running: dict[str, _Running] = {}
_running_lock = threading.Lock()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the request or task's request id, or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = riso.request_id_var.get() or "-"
        return True


class _Running:
    __slots__ = ("otel_token", "request_token", "span", "started")

    def __init__(self) -> None:
        self.request_token: Token[str | None] | None = None
        self.otel_token: object = None
        self.span: Any = None
        self.started = time.perf_counter()


def connect() -> None:
    """Connect riso's receivers once per process (idempotent)."""
    global _connected
    with _connect_lock:
        if _connected:
            return
        signals.before_task_publish.connect(_before_publish, weak=False)
        signals.after_task_publish.connect(_after_publish, weak=False)
        signals.task_prerun.connect(_prerun, weak=False)
        signals.task_postrun.connect(_postrun, weak=False)
        signals.task_success.connect(_success, weak=False)
        signals.task_failure.connect(_failure, weak=False)
        signals.task_retry.connect(_retry, weak=False)
        signals.after_setup_logger.connect(_add_filter, weak=False)
        signals.after_setup_task_logger.connect(_add_filter, weak=False)
        install_pool_filter()
        _connected = True


def _before_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    request_id = riso.request_id_var.get()
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    headers[PUBLISHED_AT_HEADER] = time.time()
    try:
        from opentelemetry import propagate
    except ImportError:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.update(carrier)


def _after_publish(sender: str | None = None, **_: Any) -> None:
    m = metrics()
    if m is not None and sender:
        # Counted once the message is with the broker (later, on the event loop path).
        _loop_publish.on_sent(m.sent.labels(sender).inc)


def _prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    request = task.request
    running = _Running()
    running.request_token = riso.request_id_var.set(getattr(request, REQUEST_ID_HEADER, None))
    _attach_trace(running, request, task.name)
    with _running_lock:
        _running[task_id] = running
    m = metrics()
    if m is not None:
        m.started.labels(task.name).inc()
        published = getattr(request, PUBLISHED_AT_HEADER, None)
        if isinstance(published, int | float):
            start = float(published)
            eta = getattr(request, "eta", None)
            if eta:
                with contextlib.suppress(ValueError):
                    start = max(start, datetime.fromisoformat(str(eta)).timestamp())
            m.queue.labels(task.name).observe(max(time.time() - start, 0.0))


def _attach_trace(running: _Running, request: Any, name: str) -> None:
    try:
        from opentelemetry import context, propagate, trace
    except ImportError:
        return
    carrier = {h: getattr(request, h) for h in _TRACE_HEADERS if getattr(request, h, None)}
    parent = propagate.extract(carrier)
    span = trace.get_tracer("riso.tasks").start_span(
        f"run {name}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"celery.task_name": name, "celery.task_id": str(request.id)},
    )
    running.span = span
    running.otel_token = context.attach(trace.set_span_in_context(span, parent))


def _postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    if task_id is None:
        return
    with _running_lock:
        running = _running.pop(task_id, None)
    if running is None:
        return
    m = metrics()
    if m is not None and task is not None:
        m.runtime.labels(task.name).observe(time.perf_counter() - running.started)
    if running.span is not None:
        from opentelemetry import context

        if state and state not in ("SUCCESS", "RETRY"):
            from opentelemetry.trace import Status, StatusCode

            running.span.set_status(Status(StatusCode.ERROR, state))
        running.span.end()
        context.detach(running.otel_token)  # type: ignore[arg-type]
    if running.request_token is not None:
        riso.request_id_var.reset(running.request_token)


def _name(sender: Any) -> str:
    return str(getattr(sender, "name", sender))


def _success(sender: Any = None, **_: Any) -> None:
    m = metrics()
    if m is not None:
        m.succeeded.labels(_name(sender)).inc()


def _failure(sender: Any = None, **_: Any) -> None:
    m = metrics()
    if m is not None:
        m.failed.labels(_name(sender)).inc()


def _retry(sender: Any = None, **_: Any) -> None:
    m = metrics()
    if m is not None:
        m.retried.labels(_name(sender)).inc()


def _add_filter(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is None:
        return
    for handler in logger.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
