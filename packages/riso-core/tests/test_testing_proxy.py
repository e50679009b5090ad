"""riso.testing.TcpProxy: forwarding, a hung server (pause) and a dead one (stop)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from riso.testing import TcpProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback server that echoes every byte back."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(1024):
                    conn.sendall(data)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def test_forwards_both_ways(echo_port: int) -> None:
    with TcpProxy(echo_port) as proxy, connect(proxy) as conn:
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"


def test_pause_holds_bytes_until_resume(echo_port: int) -> None:
    with TcpProxy(echo_port) as proxy, connect(proxy) as conn:
        proxy.pause()
        conn.sendall(b"held")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(16)
        proxy.resume()
        conn.settimeout(2)
        assert conn.recv(16) == b"held"


def test_stop_resets_and_refuses_then_start_listens_on_the_same_port(echo_port: int) -> None:
    with TcpProxy(echo_port) as proxy:
        port = proxy.port
        conn = connect(proxy)
        conn.sendall(b"a")
        assert conn.recv(16) == b"a"
        proxy.stop()
        with contextlib.suppress(ConnectionResetError):  # closed, or reset
            assert conn.recv(16) == b""
        conn.close()
        with pytest.raises(ConnectionRefusedError):
            connect(proxy)
        proxy.start()
        assert proxy.port == port
        with connect(proxy) as again:
            again.sendall(b"b")
            assert again.recv(16) == b"b"
