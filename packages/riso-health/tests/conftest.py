"""Real network fixtures for riso-health's tests.

- ``silent_port``: a TCP listener on loopback that accepts connections and never
  answers (the hanging dependency).
- ``closed_port``: a loopback port nothing listens on (connections are refused).
- ``pg_proxy``: a TCP forwarder to the real PostgreSQL that can be stopped (its
  port then refuses connections) and restarted on the same port.
- ``serve``: runs an app under a real uvicorn on a free loopback port.

``pg_select_one`` and ``Lifespan`` are in ``riso_test_support``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from riso_test_support import network
from riso_test_support.network import LOOPBACK, SilentListener

from riso.testing import TcpProxy


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def silent_port() -> Iterator[int]:
    listener = SilentListener()
    try:
        yield listener.port
    finally:
        listener.close()


@pytest.fixture
def closed_port() -> int:
    return network.closed_port()


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """(proxy in front of the real PostgreSQL, database name)."""
    parts = urlsplit(postgres_url)
    with TcpProxy(parts.port or 5432, parts.hostname or LOOPBACK) as proxy:
        yield proxy, parts.path.lstrip("/")


class Server:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.sock = network.listener()
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
