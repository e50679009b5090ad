"""uvicorn's private protocol internals that ``riso serve`` builds on, in one place.

uvicorn's httptools protocol bounds neither the request head (a 16 MB header
or 100,000 headers are parsed and kept) nor the time a client may take to
send a request (a half-sent head or body holds its connection forever), and
uvicorn has no setting for either. :class:`BoundedHttpToolsProtocol`
subclasses it and relies on these parts of ``HttpToolsProtocol``, which are
not public API (``tests/test_compat.py`` fails the day one changes):

- ``__init__(config, server_state, app_state, _loop=None)``; the attributes
  ``loop``, ``transport``, ``connections``, ``flow`` (``FlowControl`` with
  ``read_paused``), ``cycle`` (``response_started``, ``response_complete``)
  and ``server_state.default_headers``;
- the asyncio callbacks ``connection_made``, ``data_received``,
  ``connection_lost``, and the parser callbacks ``on_message_begin``,
  ``on_header``, ``on_headers_complete``, ``on_body``, ``on_message_complete``;
- ``data_received`` answers a parser error (which an exception raised in a
  parser callback becomes) through ``send_400_response(msg)``.

:func:`run_workers` starts uvicorn's process supervisor, whose constructor
lost its ``target`` argument in recent releases.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from asyncio import TimerHandle
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from riso._settings import CoreSettings, ServerLimits

__all__ = ["BoundedHttpToolsProtocol", "RisoConfig", "run_workers"]

_HEAD_TOO_LARGE = (431, "Request header fields too large")
_TOO_MANY_HEADERS = (431, "Too many header fields")
_TIMED_OUT = (408, "Request not received in time")
_BUSY = (503, "Too many connections")


class RisoConfig(uvicorn.Config):
    """uvicorn's Config carrying riso's server limits to every connection (and worker)."""

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.riso_limits = limits


def run_workers(config: uvicorn.Config, server: uvicorn.Server) -> None:
    """Serve with ``config.workers`` processes, as ``uvicorn --workers`` does."""
    from uvicorn.supervisors import Multiprocess

    sockets = [config.bind_socket()]
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before the change
        Multiprocess(config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=sockets).run()


class _HeaderLimit(Exception):
    """Raised in a parser callback to stop parsing (httptools turns it into a parser error)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and read timeouts.

    - The head (request line and headers) may be ``max_head_size`` bytes and
      hold ``max_header_count`` fields; past either the answer is 431 and the
      connection closes. Bytes are counted as they arrive, before httptools
      buffers a field.
    - A head must arrive within ``head_timeout`` seconds of the connection
      (or of its first byte on a kept-alive connection), and a body may go
      ``body_timeout`` seconds without a byte; else 408 and close. Time the
      server itself holds the client back (busy answering, reading paused
      by flow control) does not count.
    - At most ``limit_concurrency`` connections are open; one more is
      answered 503 and closed at once.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = getattr(config, "riso_limits", None)
        self.limits = limits if isinstance(limits, ServerLimits) else CoreSettings().server_limits
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._refusal: tuple[int, str] | None = None
        self._timer: TimerHandle | None = None
        self._last_read = 0.0

    # -- asyncio callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cap = self.limits.limit_concurrency
        full = cap > 0 and len(self.connections) >= cap
        super().connection_made(transport)
        if full:
            self._answer(*_BUSY)
            return
        self._arm(self.limits.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._feed(data)
        if not self._in_head and self._timer is None and not self.transport.is_closing():
            self._arm(self.limits.body_timeout, self._body_timed_out)  # a body is due

    def _feed(self, data: bytes) -> None:
        limit = self.limits.max_head_size
        while data and not self.transport.is_closing():
            if not self._in_head or limit <= 0:
                super().data_received(data)
                return
            if self._timer is None:  # the first byte of a head after keep-alive
                self._arm(self.limits.head_timeout, self._head_timed_out)
            room = limit - self._head_bytes
            if room <= 0:
                self._answer(*_HEAD_TOO_LARGE)
                return
            # Feed at most what the head may still hold: httptools keeps a
            # partial field in memory until it ends.
            part, data = data[:room], data[room:]
            self._head_bytes += len(part)
            super().data_received(part)
            if self.transport.get_protocol() is not self:  # upgraded to WebSocket
                return

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # a parser error we caused on purpose
            self._answer(*self._refusal)
            return
        super().send_400_response(msg)

    # -- parser callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        self._header_count = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if 0 < self.limits.max_header_count < self._header_count:
            self._refusal = _TOO_MANY_HEADERS
            raise _HeaderLimit
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        self._last_read = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._last_read = self.loop.time()  # one clock read, not a timer, per chunk
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # -- timeouts --------------------------------------------------------------

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._disarm()
        if delay > 0:
            self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _busy(self) -> bool:
        """Whether the server, not the client, is why no byte arrives."""
        answering = self.cycle is not None and not self.cycle.response_complete
        return answering or self.flow.read_paused

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._busy():  # a pipelined head waits for the current answer
            self._arm(self.limits.head_timeout, self._head_timed_out)
            return
        self._answer(*_TIMED_OUT)

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self._in_head:
            return
        idle = self.loop.time() - self._last_read
        if idle < self.limits.body_timeout:
            self._arm(self.limits.body_timeout - idle, self._body_timed_out)
            return
        if self.flow.read_paused:  # the app has not read what arrived yet
            self._last_read = self.loop.time()
            self._arm(self.limits.body_timeout, self._body_timed_out)
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._answer(*_TIMED_OUT)

    # -- answers ---------------------------------------------------------------

    def _answer(self, status: int, detail: str) -> None:
        """Write a JSON error and close the connection (the app never sees the request)."""
        self._disarm()
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app's answer, if any, goes nowhere
        body = json.dumps({"detail": detail}).encode()
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()
