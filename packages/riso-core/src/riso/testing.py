"""Helpers for tests: package metadata, fault proxy, servers, environments, databases.

Not imported by ``riso``; import ``riso.testing`` from tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "ServerProcess",
    "TcpProxy",
    "clean_environ",
    "free_port",
    "fresh_database",
    "write_distribution",
]

#: variables riso's features read besides ``RISO_*`` (and every ``OTEL_*``)
_READ_BY_RISO = frozenset({"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"})


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (another process may take it before you bind)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def clean_environ(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """A copy of the environment without RISO_* and the common variables riso reads
    (DATABASE_URL, CELERY_BROKER_URL, CELERY_RESULT_BACKEND, OTEL_*), plus overrides.

    ``base`` defaults to ``os.environ``. Give the result to a subprocess so the
    configuration of the shell (or of the test runner) never leaks into it.
    """
    source = os.environ if base is None else base
    env = {
        key: value
        for key, value in source.items()
        if not key.startswith(("RISO_", "OTEL_")) and key not in _READ_BY_RISO
    }
    env.update(overrides)
    return env


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


class ServerProcess:
    """A server subprocess (uvicorn or any command) that starts, waits until it answers,
    retries on another port when the port was taken first, and stops (SIGTERM, then kill).

    ``argv`` may hold the placeholders ``{port}`` and ``{host}``. Ready means a
    ``GET ready_path`` got any HTTP answer below 500, or, with ``ready=``, that
    ``ready(server)`` returned true. The process runs in its own session: ``stop()``
    signals its whole process group, so worker children never outlive it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        ready_path: str = "/health",
        ready: Callable[[ServerProcess], bool] | None = None,
        timeout: float = 30.0,
        log_path: str | os.PathLike[str] | None = None,
        retries: int = 3,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.host = host
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port(host)
        self.ready_path = ready_path
        self._ready = ready
        self.timeout = timeout
        self.retries = max(1, retries)
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="riso-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            weakref.finalize(self, self.log_path.unlink, missing_ok=True)
        else:
            self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        """Start and wait until ready; raise ``RuntimeError`` (with the log's tail) if never."""
        for attempt in range(self.retries):
            if attempt:
                self.port = free_port(self.host)
            argv = [
                arg.replace("{port}", str(self.port)).replace("{host}", self.host)
                for arg in self.argv
            ]
            with self.log_path.open("wb") as log:
                self.proc = subprocess.Popen(  # noqa: S603 (the test's own command line)
                    argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            problem = self._wait_ready()
            if problem is None:
                return self
            self.stop()
            port_taken = "address already in use" in self.log_text().lower()
            if not port_taken or self._fixed_port:
                break
        raise RuntimeError(f"{argv[0]} {problem}:\n{self.log_text()[-4000:]}")

    def _wait_ready(self) -> str | None:
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                return f"exited ({self.proc.returncode}) before it was ready"
            if self._ready is not None and self._ready(self):
                return None
            if self._ready is None and self._answers():
                return None
            if time.monotonic() > deadline:
                return f"was not ready after {self.timeout} s"
            time.sleep(0.05)

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            conn.request("GET", self.ready_path)
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return status < 500 and self.proc.poll() is None  # not another server on the port

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; the exit code."""
        if not hasattr(self, "proc"):
            return None
        proc = self.proc
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(timeout=10)
        self._signal(signal.SIGKILL)  # children left behind by an exited leader
        return proc.returncode

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def log_text(self) -> str:
        """What the process wrote so far (stdout and stderr together)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """CREATE a new uniquely named database on the PostgreSQL (postgresql://) or
    MariaDB/MySQL (mysql://) server of ``server_url``, yield its URL, DROP it at exit.

    A driver suffix (``postgresql+psycopg://``) is kept in the URL yielded.
    PostgreSQL needs psycopg, MariaDB/MySQL needs PyMySQL (riso-db's extras).
    """
    parts = urlsplit(server_url)
    engine = parts.scheme.split("+", 1)[0]
    name = f"riso_{uuid.uuid4().hex[:12]}"
    if engine in {"postgresql", "postgres"}:
        create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        execute = _postgres_executor(urlunsplit(parts._replace(scheme="postgresql")))
    elif engine in {"mysql", "mariadb"}:
        create, drop = f"CREATE DATABASE `{name}`", f"DROP DATABASE IF EXISTS `{name}`"
        execute = _mysql_executor(server_url)
    else:
        raise ValueError(f"fresh_database needs a postgresql:// or mysql:// URL, not {engine!r}")
    execute(create)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        execute(drop)


def _postgres_executor(url: str) -> Callable[[str], None]:
    import psycopg

    def execute(sql: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.encode())

    return execute


def _mysql_executor(url: str) -> Callable[[str], None]:
    import pymysql

    parts = urlsplit(url)

    def execute(sql: str) -> None:
        conn = pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            autocommit=True,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    return execute
