"""The one pure-ASGI middleware: request id, access log, metrics and server span.

riso-core installs it at stage ``outer``, outside Starlette's
ServerErrorMiddleware, so it sees (and tags) the 500 responses that layer
produces. Everything that can be decided once is decided in ``__init__``; per
request it does one header scan, one ``send`` wrapper, and, at the end, a
cache look-up (``RouteLabeler``) for the route's label, metric children and
span name, then the named steps: metrics, access line, span.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from riso import request_id_var
from riso_obs import _metrics, _tracing
from riso_obs._access_log import access_line
from riso_obs._compat import FASTAPI_TELEMETRY_SCOPE_KEY
from riso_obs._io_spans import traced_receive, traced_send
from riso_obs._metrics import UNMATCHED
from riso_obs._request_id import VALID_ID, new_request_id
from riso_obs._route_labels import RouteLabeler

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from prometheus_client.metrics import Gauge
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from riso_obs._route_labels import RouteStats
    from riso_obs._settings import ObsSettings

_METHODS = {
    m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
}
_RESPONSE_HEADER = b"x-request-id"
_H_REQUEST_ID, _H_TRACEPARENT, _H_TRACESTATE, _H_BAGGAGE, _H_CAPTURE = range(5)
_ERROR_BODY = b'{"detail":"Internal Server Error"}'


class ObsMiddleware:
    """Request id + access log + HTTP metrics + server span, in one ``send`` wrapper."""

    def __init__(self, app: ASGIApp, settings: ObsSettings) -> None:
        self.app = app
        lookup: dict[bytes, int] = {}
        for name in settings.log_header_list:
            lookup[name.encode("latin-1")] = _H_CAPTURE
        lookup[b"traceparent"] = _H_TRACEPARENT
        lookup[b"tracestate"] = _H_TRACESTATE
        lookup[b"baggage"] = _H_BAGGAGE
        for name in settings.request_id_header_list:
            lookup[name.lower().encode("latin-1")] = _H_REQUEST_ID
        self._lookup = lookup
        self._excluded = settings.exclude_path_set
        self._metrics = _metrics.http_metrics() if settings.metrics else None
        self._in_progress: dict[str, Gauge] = {}
        self._labeler = RouteLabeler(self._metrics)
        self._route_stats = self._labeler.stats  # bound once: called per request
        self._tracer = _tracing.tracer() if settings.tracing else None
        self._io_spans = settings.trace_io_spans
        self._propagator = get_global_textmap()
        self._log = structlog.get_logger("riso.access").bind() if settings.access_log else None
        self._fast_log = access_line() if settings.access_log else None

    # -- per request -------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id: bytes | None = None
        traceparent: bytes | None = None
        tracestate: bytes | None = None
        baggage: bytes | None = None
        captured: dict[str, str] | None = None
        lookup = self._lookup
        for name, value in scope["headers"]:
            code = lookup.get(name)
            if code is None:
                continue
            if code == _H_REQUEST_ID:
                if request_id is None and VALID_ID(value) is not None:
                    request_id = value
            elif code == _H_TRACEPARENT:
                traceparent = value
            elif code == _H_TRACESTATE:
                tracestate = value
            elif code == _H_BAGGAGE:
                baggage = value
            else:
                if captured is None:
                    captured = {}
                captured[name.decode("latin-1")] = value.decode("latin-1")
        if request_id is None:
            rid = new_request_id()
            request_id = rid.encode("ascii")
        else:
            rid = request_id.decode("ascii")
        header = (_RESPONSE_HEADER, request_id)

        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        relative = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        if relative in self._excluded:
            await self._call_excluded(scope, receive, send, rid, header)
            return

        method = _METHODS.get(scope["method"], "OTHER")
        gauge = self._count_in_progress(method) if self._metrics is not None else None
        span: Span | None = None
        otel_token: Token[Context] | None = None
        tracer = self._tracer
        if tracer is not None:
            span, otel_token = self._start_span(
                tracer, scope, method, path, rid, traceparent, tracestate, baggage
            )
            if self._io_spans:
                receive = traced_receive(receive, tracer, f"{method} http receive")
                send = traced_send(send, tracer, f"{method} http send")
        rid_token = request_id_var.set(rid)

        status = 0
        started = perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Starlette's ServerErrorMiddleware has already sent its 500 and
            # re-raises for the server to log: we log it (once, with the
            # request id) and stop it here. If nothing was sent, send a 500.
            error = exc
            if status == 0:
                await _send_500(send_wrapper)
        except BaseException as exc:  # cancelled: the client went away
            error = exc
            raise
        finally:
            duration = perf_counter() - started
            if status == 0:
                status = 499 if error is not None else 500
            self._finish(
                scope,
                root_path,
                method,
                path,
                rid,
                captured,
                gauge,
                status,
                duration,
                error,
                span,
                otel_token,
                rid_token,
            )

    async def _call_excluded(
        self, scope: Scope, receive: Receive, send: Send, rid: str, header: tuple[bytes, bytes]
    ) -> None:
        """An excluded path (probes, /metrics): the request id only; no log, metrics or span."""
        rid_token = request_id_var.set(rid)
        try:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(rid_token)

    def _count_in_progress(self, method: str) -> Gauge | None:
        """One more ``method`` request in progress: its gauge child (None in multiprocess mode)."""
        metrics = self._metrics
        assert metrics is not None
        if metrics.in_progress is None:
            counts = metrics.in_progress_counts
            counts[method] = counts.get(method, 0) + 1
            return None
        gauge = self._in_progress.get(method)
        if gauge is None:
            gauge = self._in_progress[method] = metrics.in_progress.labels(method)
        gauge.inc()
        return gauge

    def _start_span(
        self,
        tracer: Tracer,
        scope: Scope,
        method: str,
        path: str,
        rid: str,
        traceparent: bytes | None,
        tracestate: bytes | None,
        baggage: bytes | None,
    ) -> tuple[Span, Token[Context]]:
        """The server span, child of the caller's trace context, made current: (span, token)."""
        parent = None
        if traceparent is not None:
            carrier = {"traceparent": traceparent.decode("latin-1")}
            if tracestate is not None:
                carrier["tracestate"] = tracestate.decode("latin-1")
            if baggage is not None:
                carrier["baggage"] = baggage.decode("latin-1")
            parent = self._propagator.extract(carrier)
        span = tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": path,
                "url.scheme": scope.get("scheme", "http"),
                "riso.request_id": rid,
            },
        )
        token = otel_context.attach(set_span_in_context(span, parent))
        # mounted FastAPI apps must not open a second server span
        scope[FASTAPI_TELEMETRY_SCOPE_KEY] = None
        return span, token

    def _finish(
        self,
        scope: Scope,
        root_path: str,
        method: str,
        path: str,
        rid: str,
        captured: dict[str, str] | None,
        gauge: Gauge | None,
        status: int,
        duration: float,
        error: BaseException | None,
        span: Span | None,
        otel_token: Token[Context] | None,
        rid_token: Token[str | None],
    ) -> None:
        """The end of a request: label, metrics, access line; then, whatever failed, the span."""
        stats: RouteStats | None = None
        try:
            stats = self._route_stats(scope, root_path, method, status)
            if self._metrics is not None:
                self._record_metrics(stats, gauge, status, duration)
            if self._log is not None:
                self._write_access_line(
                    scope, stats, path, rid, captured, status, duration, error, span
                )
        finally:
            if span is not None:
                _end_span(span, otel_token, stats, status, error)
            request_id_var.reset(rid_token)

    def _record_metrics(
        self, stats: RouteStats, gauge: Gauge | None, status: int, duration: float
    ) -> None:
        """In progress one fewer; the duration and the count by status observed."""
        if gauge is None:
            metrics = self._metrics
            assert metrics is not None
            metrics.in_progress_counts[stats.method] -= 1
        else:
            gauge.dec()
        assert stats.duration is not None
        stats.duration.observe(duration)
        counter = stats.counters.get(status)  # the common case without a call
        if counter is None:
            counter = stats.counter(status)
            assert counter is not None
        counter.inc()

    def _write_access_line(
        self,
        scope: Scope,
        stats: RouteStats,
        path: str,
        rid: str,
        captured: dict[str, str] | None,
        status: int,
        duration: float,
        error: BaseException | None,
        span: Span | None,
    ) -> None:
        """The access line: straight to JSON when it can be, else through structlog."""
        client = scope.get("client")
        duration_ms = round(duration * 1000.0, 3)
        trace_id = span_id = None
        if span is not None:
            span_context = span.get_span_context()
            trace_id = f"{span_context.trace_id:032x}"
            span_id = f"{span_context.span_id:016x}"
        fast = self._fast_log
        if fast is not None and status < 500 and captured is None and fast.usable():
            fast.write(
                stats.method,
                path,
                stats.route_json,
                status,
                duration_ms,
                rid,
                client[0] if client else None,
                trace_id,
                span_id,
            )
            return
        fields: dict[str, Any] = {
            "method": stats.method,
            "path": path,
            "route": stats.template,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": rid,
        }
        if client:
            fields["client"] = client[0]
        if captured is not None:
            fields["headers"] = captured
        if trace_id is not None:
            fields["trace_id"] = trace_id
            fields["span_id"] = span_id
        log = self._log
        assert log is not None
        if status >= 500:
            failure = error if isinstance(error, Exception) else None
            log.error("request", exc_info=failure, **fields)
        else:
            log.info("request", **fields)


def _end_span(
    span: Span,
    otel_token: Token[Context] | None,
    stats: RouteStats | None,
    status: int,
    error: BaseException | None,
) -> None:
    """Name the span by its route, set status and error, end it and detach it."""
    if span.is_recording() and stats is not None:
        span.update_name(stats.span_name)
        attributes: dict[str, Any] = {"http.response.status_code": status}
        if stats.template != UNMATCHED:
            attributes["http.route"] = stats.template
        span.set_attributes(attributes)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        if error is not None:
            span.record_exception(error)
    span.end()
    if otel_token is not None:
        otel_context.detach(otel_token)


async def _send_500(send: Send) -> None:
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_ERROR_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _ERROR_BODY})
    except Exception:  # noqa: S110 - the connection is gone; the error is logged
        pass
