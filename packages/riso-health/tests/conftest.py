"""Real network fixtures for riso-health's tests.

- ``silent_port``: a TCP listener on loopback that accepts connections and never
  answers (the hanging dependency).
- ``closed_port``: a loopback port nothing listens on (connections are refused).
- ``pg_proxy``: a TCP forwarder to the real PostgreSQL that can be stopped (its
  port then refuses connections) and restarted on the same port.
- ``pg_select_one``: ``await pg_select_one(port, database)`` runs ``SELECT 1``
  over PostgreSQL's wire protocol (trust authentication), with no driver.
- ``serve``: runs an app under a real uvicorn on a free loopback port.
- ``Lifespan``: drives an app's ASGI lifespan by hand, in the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from riso.testing import TcpProxy

LOOPBACK = "127.0.0.1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _listener(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    return sock


class SilentListener:
    """Accepts every connection, reads nothing, answers nothing."""

    def __init__(self) -> None:
        self.sock = _listener()
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    listener = SilentListener()
    try:
        yield listener.port
    finally:
        listener.close()


@pytest.fixture
def closed_port() -> int:
    sock = _listener()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """(proxy in front of the real PostgreSQL, database name)."""
    parts = urlsplit(postgres_url)
    with TcpProxy(parts.port or 5432, parts.hostname or LOOPBACK) as proxy:
        yield proxy, parts.path.lstrip("/")


async def _until_ready(reader: asyncio.StreamReader) -> None:
    while True:
        kind = await reader.readexactly(1)
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        payload = await reader.readexactly(length - 4)
        if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
            raise ConnectionError("the server asks for a password")
        if kind == b"E":
            fields = {f[:1]: f[1:].decode(errors="replace") for f in payload.split(b"\0") if f}
            raise ConnectionError(f"database error {fields.get(b'C', '?')}")
        if kind == b"Z":
            return


async def pg_select_one(port: int, database: str, user: str = "postgres") -> None:
    """``SELECT 1`` on PostgreSQL at 127.0.0.1:``port`` (simple query protocol)."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
        writer.write(struct.pack("!ii", 8 + len(params), 196608) + params)
        await _until_ready(reader)
        query = b"SELECT 1\0"
        writer.write(b"Q" + struct.pack("!i", 4 + len(query)) + query)
        await _until_ready(reader)
        writer.write(b"X" + struct.pack("!i", 4))
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@pytest.fixture(name="pg_select_one")
def _pg_select_one() -> Callable[..., Awaitable[None]]:
    return pg_select_one


class Server:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.sock = _listener()
        self.url = f"http://{LOOPBACK}:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        for _ in range(500):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(app)`` -> base URL of a real uvicorn serving ``app``."""
    servers: list[Server] = []

    def _serve(app: Any) -> str:
        servers.append(Server(app))
        return servers[-1].url

    yield _serve
    for server in servers:
        server.stop()


class Lifespan:
    """Drive an app's ASGI lifespan from the test, one step at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def begin_startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})

    async def begin_shutdown(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})

    async def expect(self, message_type: str) -> None:
        message = await asyncio.wait_for(self._outbox.get(), timeout=10)
        assert message["type"] == message_type, message

    async def finish(self) -> None:
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout=10)


@pytest.fixture(name="Lifespan")
def _lifespan_class() -> type[Lifespan]:
    return Lifespan
