"""Loopback network fakes: a listener that never answers, a refused port, PostgreSQL's wire."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

LOOPBACK = "127.0.0.1"


def listener(port: int = 0) -> socket.socket:
    """A listening loopback TCP socket (``port`` 0: any free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    return sock


class SilentListener:
    """Accepts every connection, reads nothing, answers nothing (the hanging dependency)."""

    def __init__(self) -> None:
        self.sock = listener()
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


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    sock = listener()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


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
    """``SELECT 1`` on PostgreSQL at 127.0.0.1:``port`` (simple query protocol, no driver)."""
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
