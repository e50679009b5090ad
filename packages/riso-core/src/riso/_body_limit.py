"""The request body limit: a pure-ASGI layer that refuses bodies over a size with a JSON 413.

``riso.include`` installs :class:`BodyLimitMiddleware` outside everything that
could read the body (Starlette's error handling, every middleware, the
routes), with ``RISO_MAX_BODY_SIZE`` as the limit. A declared
``Content-Length`` over the limit is refused before the app runs; a body
without one (chunked) is counted as it streams and cut at the limit. A route
decorated with :func:`body_limit` (or given FastAPI's own ``max_body_size``)
has its own limit, found by matching the request against the app's routes,
and only when the limit could change the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])

#: the attribute body_limit() sets on an endpoint
LIMIT_ATTRIBUTE = "__riso_body_limit__"
#: "no limit" (as FastAPI's ``max_body_size=None``)
UNLIMITED = -1


def body_limit(max_bytes: int | None) -> Callable[[F], F]:
    """Give one endpoint its own request body limit (``None``: no limit).

    Decorate the endpoint, above or below the route decorator::

        @app.post("/uploads")
        @riso.body_limit(50 * 1024 * 1024)
        async def upload(request: Request) -> dict[str, int]: ...
    """
    if max_bytes is not None and (isinstance(max_bytes, bool) or max_bytes < 0):
        raise ValueError(f"body_limit() takes a number of bytes >= 0 or None, not {max_bytes!r}")

    def mark(endpoint: F) -> F:
        setattr(endpoint, LIMIT_ATTRIBUTE, UNLIMITED if max_bytes is None else max_bytes)
        return endpoint

    return mark


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit.

    An HTTPException, so the app's own handlers answer 413 as they answer
    any other; the middleware answers itself when they do not.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes"


class RouteBodyLimits:
    """The body limit of the route a request goes to, from the routes' own markers.

    The routes are read on first use, when the app has all of them, and read
    again when their number changes.
    """

    def __init__(self, router: Router) -> None:
        self._router = router
        self._seen = -1
        self._smallest: int | None = None

    @property
    def smallest(self) -> int | None:
        """The smallest route limit (UNLIMITED if all are), None when no route has one."""
        routes = self._router.routes
        if len(routes) != self._seen:
            self._seen = len(routes)
            self._smallest = _smallest(routes)
        return self._smallest

    def limit_for(self, scope: Scope) -> int | None:
        """The limit of the route ``scope`` goes to; None when it has none of its own."""
        return _match(self._router.routes, scope)


def _route_limit(route: BaseRoute) -> int | None:
    endpoint = getattr(route, "endpoint", None)
    marked = getattr(endpoint, LIMIT_ATTRIBUTE, None)
    if isinstance(marked, int):
        return marked
    native = getattr(route, "max_body_size", None)  # FastAPI's own per-route limit
    return native if isinstance(native, int) and not isinstance(native, bool) else None


def _smallest(routes: Iterable[BaseRoute]) -> int | None:
    found: list[int] = []
    for route in routes:
        limit = _smallest(route.routes) if isinstance(route, Mount) else _route_limit(route)
        if limit is not None:
            found.append(limit)
    finite = [limit for limit in found if limit != UNLIMITED]
    return min(finite) if finite else (UNLIMITED if found else None)


def _match(routes: Iterable[BaseRoute], scope: Scope) -> int | None:
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount):
            return _match(route.routes, {**scope, **child})
        return _route_limit(route)
    return None


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body_size`` bytes (0: no default limit)."""

    def __init__(
        self, app: ASGIApp, max_body_size: int, route_limits: RouteBodyLimits | None = None
    ) -> None:
        self.app = app
        self.default = UNLIMITED if max_body_size == 0 else max_body_size
        self.route_limits = route_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        framed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None  # the server refuses it; nothing to add
                framed = True
            elif name == b"transfer-encoding":
                framed = True
        if not framed and scope.get("http_version", "1.1") in {"1.0", "1.1"}:
            # HTTP/1 without Content-Length or Transfer-Encoding: no body (RFC 9112 6.3)
            await self.app(scope, receive, send)
            return

        limit = self._limit(scope, declared)
        if limit == UNLIMITED:
            await self.app(scope, receive, send)
            return
        if declared is not None:
            if declared > limit:
                await _refuse(send, limit)
                return
            # within the limit: HTTP/1 servers deliver exactly the declared length
            if scope.get("http_version", "1.1") in {"1.0", "1.1"}:
                await self.app(scope, receive, send)
                return
        await _Counted(self, scope, receive, send, limit).run()

    def _limit(self, scope: Scope, declared: int | None) -> int:
        routes = self.route_limits
        smallest = None if routes is None else routes.smallest
        if routes is None or smallest is None:
            return self.default
        # Routes are matched only when their limit could change the answer: a
        # declared size the default accepts and no route limit refuses skips it.
        if (
            declared is not None
            and (self.default == UNLIMITED or declared <= self.default)
            and (smallest == UNLIMITED or smallest >= declared)
        ):
            return self.default
        own = routes.limit_for(scope)
        return self.default if own is None else own


class _Counted:
    """One request whose body is counted as it streams."""

    def __init__(
        self, owner: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        self.owner, self.scope, self._receive, self._send = owner, scope, receive, send
        self.limit = limit
        self.received = 0
        self.exceeded = False
        self.started = False

    async def run(self) -> None:
        try:
            await self.owner.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.exceeded:
                raise
            # The app let the limit's exception through (or failed on it): the 413 is ours.
            if not self.started:
                await _refuse(self._send, self.limit)

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.started:
            # Whatever the app answers to a body it could not read, the client gets the 413.
            self.started = True
            await _refuse(self._send, self.limit)
            return
        if self.exceeded:
            return  # the app's answer to a cut body: dropped, the 413 went out
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_detail(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # the rest of the body is never read: the connection cannot be reused
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
