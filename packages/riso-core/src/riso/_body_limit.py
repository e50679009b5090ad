"""The request body limit: a pure-ASGI layer that refuses bodies over a size with a JSON 413.

``riso.include`` installs :class:`BodyLimitMiddleware` outside everything that
could read the body (Starlette's error handling, every middleware, the
routes), with ``RISO_MAX_BODY_SIZE`` as the limit. The limit is decided when
the app first asks for the body, once routing has chosen the endpoint: an
endpoint decorated with :func:`body_limit` has its own, and so has a route
given FastAPI's own ``max_body_size`` (Starlette's ``starlette.max_body_size``
scope key). A declared ``Content-Length`` over the limit is refused before a
byte of the body reaches the app; a body without one (chunked) is counted as
it streams and cut at the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])

#: the attribute body_limit() sets on an endpoint
LIMIT_ATTRIBUTE = "__riso_body_limit__"
#: the scope key Starlette's (and FastAPI's per-route) body limit sets
STARLETTE_LIMIT_KEY = "starlette.max_body_size"
#: "no limit"
UNLIMITED = -1
_HTTP1 = frozenset({"1.0", "1.1"})


def body_limit(max_bytes: int | None) -> Callable[[F], F]:
    """Give one endpoint its own request body limit in bytes (``None``: no limit).

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


def too_large_detail(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit.

    An HTTPException, so the app's own handlers answer 413 as they answer
    any other; the middleware answers itself when they do not.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body_size`` bytes (0: no default limit)."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.default = UNLIMITED if max_body_size == 0 else max_body_size

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
        if not framed and scope.get("http_version", "1.1") in _HTTP1:
            # HTTP/1 without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3)
            await self.app(scope, receive, send)
            return
        await _LimitedRequest(self.app, self.default, scope, receive, send, declared).run()


def _endpoint_limit(scope: Scope, default: int) -> int:
    """The limit for the endpoint routing chose (read when the body is first asked for)."""
    marked = getattr(scope.get("endpoint"), LIMIT_ATTRIBUTE, None)
    if isinstance(marked, int):
        return marked
    native = scope.get(STARLETTE_LIMIT_KEY)
    if isinstance(native, int) and not isinstance(native, bool):
        return native
    return default


class _LimitedRequest:
    """One request whose body is checked against its limit and counted as it streams."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        scope: Scope,
        receive: Receive,
        send: Send,
        declared: int | None,
    ) -> None:
        self.app, self.default = app, default
        self.scope, self._receive, self._send = scope, receive, send
        self.declared = declared
        self.limit: int | None = None  # decided on the first receive
        self.received = 0
        self.exceeded = False
        self.started = False

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.exceeded:
                raise
            # The app let the limit's exception through (or failed on it): the 413 is ours.
            if not self.started:
                self.started = True
                await _refuse(self._send, self._limit())

    def _limit(self) -> int:
        if self.limit is None:
            self.limit = _endpoint_limit(self.scope, self.default)
        return self.limit

    async def receive(self) -> Message:
        limit = self._limit()
        if limit == UNLIMITED:
            return await self._receive()
        if self.exceeded or (self.declared is not None and self.declared > limit):
            self.exceeded = True
            raise BodyTooLarge(limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > limit:
                self.exceeded = True
                raise BodyTooLarge(limit)
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded:
            if not self.started:
                # Whatever the app answers to a body it could not read, the client gets the 413.
                self.started = True
                await _refuse(self._send, self._limit())
            return  # the rest of the app's answer goes nowhere: the 413 went out
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
