"""The one pure-ASGI middleware: request id, access log, metrics and server span.

riso-core installs it at stage ``outer``, outside Starlette's
ServerErrorMiddleware, so it sees (and tags) the 500 responses that layer
produces. Everything that can be decided once is decided in ``__init__``; per
request it does one header scan, one ``send`` wrapper, and cache look-ups for
the route's metric children and span name.
"""

from __future__ import annotations

import re
from random import getrandbits
from time import perf_counter
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from starlette.routing import Host, Mount

from riso import request_id_var
from riso_obs import _metrics, _tracing
from riso_obs._logging import access_line, encode_json_string
from riso_obs._metrics import UNMATCHED

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from prometheus_client.metrics import Counter, Gauge, Histogram
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from riso_obs._settings import ObsSettings

#: a request id we accept from a client: short, and nothing that could forge a log line
_VALID_ID = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,128}").fullmatch
_METHODS = {
    m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
}
_RESPONSE_HEADER = b"x-request-id"
_H_REQUEST_ID, _H_TRACEPARENT, _H_TRACESTATE, _H_BAGGAGE, _H_CAPTURE = range(5)
_ERROR_BODY = b'{"detail":"Internal Server Error"}'


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex characters (``random`` reseeds after fork)."""
    return f"{getrandbits(128):032x}"


def is_valid_request_id(value: str) -> bool:
    """Whether an incoming id is kept (at most 128 characters of a safe alphabet)."""
    try:
        return _VALID_ID(value.encode("ascii")) is not None
    except UnicodeEncodeError:
        return False


class _RouteStats:
    """Per (method, route template): span name and cached metric children."""

    __slots__ = (
        "counter_parent",
        "counters",
        "duration",
        "method",
        "route_json",
        "span_name",
        "template",
    )

    def __init__(self, method: str, template: str, metrics: _metrics.HttpMetrics | None) -> None:
        self.method = method
        self.template = template
        self.span_name = f"{method} {template}" if template != UNMATCHED else method
        self.route_json = encode_json_string(template)
        self.counters: dict[int, Counter] = {}
        self.counter_parent = metrics.requests if metrics is not None else None
        self.duration: Histogram | None = (
            metrics.duration.labels(method, template) if metrics is not None else None
        )

    def counter(self, status: int) -> Counter | None:
        child = self.counters.get(status)
        if child is None and self.counter_parent is not None:
            child = self.counter_parent.labels(self.method, self.template, str(status))
            self.counters[status] = child
        return child


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
        self._routes: dict[str, dict[str, _RouteStats]] = {}
        #: id(route), or (id(route), mount path) -> (route, the same per-method
        #: table): skips building the template
        self._by_route: dict[int | tuple[int, str], tuple[object, dict[str, _RouteStats]]] = {}
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
                if request_id is None and _VALID_ID(value) is not None:
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
            rid = f"{getrandbits(128):032x}"
            request_id = rid.encode("ascii")
        else:
            rid = request_id.decode("ascii")
        header = (_RESPONSE_HEADER, request_id)

        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        relative = path[len(root_path) :] if root_path and path.startswith(root_path) else path

        if relative in self._excluded:
            rid_token = request_id_var.set(rid)
            try:

                async def send_with_id(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message.get("headers", ()), header]
                    await send(message)

                await self.app(scope, receive, send_with_id)
            finally:
                request_id_var.reset(rid_token)
            return

        method = _METHODS.get(scope["method"], "OTHER")
        metrics = self._metrics
        gauge = None
        if metrics is not None:
            if metrics.in_progress is None:
                counts = metrics.in_progress_counts
                counts[method] = counts.get(method, 0) + 1
            else:
                gauge = self._in_progress.get(method)
                if gauge is None:
                    gauge = self._in_progress[method] = metrics.in_progress.labels(method)
                gauge.inc()

        span = None
        otel_token = None
        tracer = self._tracer
        if tracer is not None:
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
            otel_token = otel_context.attach(set_span_in_context(span, parent))
            # mounted FastAPI apps must not open a second server span
            scope["fastapi.telemetry"] = None
            if self._io_spans:
                receive = _traced_receive(receive, tracer, f"{method} http receive")
                send = _traced_send(send, tracer, f"{method} http send")
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
            stats: _RouteStats | None = None
            template = UNMATCHED
            try:
                duration = perf_counter() - started
                if status == 0:
                    status = 499 if error is not None else 500
                route = scope.get("route")
                inner_root: str = scope.get("root_path", "")
                # A route's label is cached by the route alone, or, under a
                # mount, by the route and the mount path as sent. (A mounted
                # app that is not a router labels by status: never cached.)
                key: int | tuple[int, str] | None = None
                if route is not None and not isinstance(route, Mount | Host):
                    key = id(route) if inner_root == root_path else (id(route), inner_root)
                by_method = None
                if key is not None:
                    cached = self._by_route.get(key)
                    if cached is not None and cached[0] is route:
                        by_method = cached[1]
                if by_method is None:
                    template = self._template(scope, root_path, status)
                    by_method = self._routes.get(template)
                    if by_method is None:
                        by_method = self._routes[template] = {}
                    # a mount path holding parameter values (/tenants/acme) is
                    # not a key: there would be one per tenant
                    if (
                        key is not None
                        and template.startswith(inner_root[len(root_path) :])
                        and len(self._by_route) < 10_000
                    ):
                        self._by_route[key] = (route, by_method)
                stats = by_method.get(method)
                if stats is None:
                    template = self._template(scope, root_path, status)
                    stats = by_method[method] = _RouteStats(method, template, self._metrics)
                template = stats.template
                if metrics is not None:
                    if gauge is None:
                        metrics.in_progress_counts[method] -= 1
                    else:
                        gauge.dec()
                    assert stats.duration is not None
                    stats.duration.observe(duration)
                    counter = stats.counter(status)
                    assert counter is not None
                    counter.inc()
                log = self._log
                if log is not None:
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
                            method,
                            path,
                            stats.route_json,
                            status,
                            duration_ms,
                            rid,
                            client[0] if client else None,
                            trace_id,
                            span_id,
                        )
                    else:
                        fields: dict[str, Any] = {
                            "method": method,
                            "path": path,
                            "route": template,
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
                        if status >= 500:
                            failure = error if isinstance(error, Exception) else None
                            log.error("request", exc_info=failure, **fields)
                        else:
                            log.info("request", **fields)
            finally:
                if span is not None:
                    if span.is_recording() and stats is not None:
                        span.update_name(stats.span_name)
                        attributes: dict[str, Any] = {"http.response.status_code": status}
                        if template != UNMATCHED:
                            attributes["http.route"] = template
                        span.set_attributes(attributes)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR))
                        if error is not None:
                            span.record_exception(error)
                    span.end()
                    if otel_token is not None:
                        otel_context.detach(otel_token)
                request_id_var.reset(rid_token)

    @staticmethod
    def _template(scope: Scope, root_path: str, status: int) -> str:
        """The matched route's path template, mount prefixes included."""
        route = scope.get("route")
        inner_root: str = scope.get("root_path", "")
        if route is None:
            if inner_root != root_path and status != 404:
                # an app mounted in a FastAPI router (static files...): FastAPI
                # sets no route for it, but the root path shows the mount
                return _mount_prefix(scope, root_path, inner_root) + "/{path}"
            return UNMATCHED
        if isinstance(route, Mount | Host):
            # a mounted app that is not a router (static files...), or a
            # mounted router that matched nothing
            if status == 404:
                return UNMATCHED
            return _mount_prefix(scope, root_path, inner_root) + "/{path}"
        template: str | None = getattr(route, "path", None)
        if template is None:
            return UNMATCHED
        if inner_root == root_path:
            return template
        return _mount_prefix(scope, root_path, inner_root) + template


def _mount_prefix(scope: Scope, root_path: str, inner_root: str) -> str:
    """The templates of the mounts between ``root_path`` and ``inner_root``.

    ``inner_root`` holds the path as sent (``/tenants/acme``): a mount with
    path parameters must not put their values into a label. The mounts are
    found again by matching the request path, from the outermost router
    (``scope["router"]``) inwards; if that fails, a prefix that may hold
    values is replaced by a fixed ``/{mount}``.
    """
    raw = inner_root[len(root_path) :] if inner_root.startswith(root_path) else ""
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    routes = getattr(scope.get("router"), "routes", None)
    template = ""
    consumed = 0
    while routes and consumed < len(raw):
        for candidate in routes:
            match = candidate.path_regex.match(path) if isinstance(candidate, Mount) else None
            if match is not None:
                rest = "/" + match["path"]
                consumed += len(path) - len(rest)
                path = rest
                template += candidate.path
                routes = candidate.routes
                break
        else:
            break
    if consumed == len(raw):
        return template
    route_params = getattr(scope.get("route"), "param_convertors", {})
    mount_params = set(scope.get("path_params", {})) - set(route_params)
    return "/{mount}" if mount_params else raw


def _traced_receive(receive: Receive, tracer: Tracer, name: str) -> Receive:
    """``receive`` inside a child span of the server span (RISO_OBS_TRACE_IO_SPANS)."""

    async def traced() -> Message:
        with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL) as span:
            message = await receive()
            span.set_attribute("asgi.event.type", message["type"])
            return message

    return traced


def _traced_send(send: Send, tracer: Tracer, name: str) -> Send:
    """``send`` inside a child span of the server span (RISO_OBS_TRACE_IO_SPANS)."""

    async def traced(message: Message) -> None:
        with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL) as span:
            span.set_attribute("asgi.event.type", message["type"])
            if message["type"] == "http.response.start":
                span.set_attribute("http.response.status_code", message["status"])
            await send(message)

    return traced


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
