"""Helpers for tests: real package metadata, and a TCP proxy for fault tests.

Not imported by ``riso``; import ``riso.testing`` from tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import socket
import textwrap
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["TcpProxy", "write_distribution"]


def write_distribution(
    root: Path,
    dist: str,
    version: str,
    modules: Mapping[str, str],
    features: Mapping[str, str],
) -> Path:
    """Write an installed distribution into ``root`` and return ``root``.

    ``modules`` maps module names to their source; ``features`` maps feature
    names to ``module:attr`` entry points. Put ``root`` on ``sys.path`` (or
    ``PYTHONPATH``) and importlib.metadata finds the distribution exactly as
    it finds one pip installed.
    """
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in features.items())
    (info / "entry_points.txt").write_text(f"[riso.features]\n{lines}", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return root


class TcpProxy:
    """A loopback TCP proxy in front of a real server, for fault tests.

    Point the code under test at ``127.0.0.1:<proxy.port>``, then:

    * ``stop()``: the server looks down. The listener and every forwarded
      connection close (clients see resets, new connections are refused);
      ``start()`` listens again on the same port.
    * ``pause()``: the server hangs. Connections stay open but no byte moves,
      and new ones are accepted but not forwarded; ``resume()`` forwards
      again, buffered bytes included.

    A context manager; ``close()`` stops it for good.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.start()

    def start(self) -> None:
        """Listen (again, on the same port after ``stop()``)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every connection: refused and reset, like a server that died."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def pause(self) -> None:
        """Forward nothing until ``resume()``, like a server that stopped answering."""
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def close(self) -> None:
        self._closed = True
        self._forwarding.set()  # releases the waiting threads, which then see closed
        self.stop()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._forwarding.wait()  # paused: the connection is held, never forwarded
        if self._closed:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.append(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                while not self._forwarding.wait(0.05):
                    if self._closed:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
