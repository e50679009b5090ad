"""The starter served exactly as shipped (the image's CMD) survives hostile HTTP clients.

Each test starts the server process the Dockerfile runs (on a free loopback
port, SQLite in a temporary folder) and measures it from the outside: memory
as ``VmRSS`` of ``/proc/<pid>/status``, connections by whether the server
closes them.

- a 100 MB body (declared, or chunked) is refused with a JSON 413 while the
  server's peak memory grows by less than 20 MiB;
- request heads with 100,000 headers or a 16 MB header value are refused
  (never a 200), and eight of each leave memory within 20 MiB of where it was;
- half-sent heads and bodies are dropped after the configured timeout while
  ``/health`` keeps answering, and connections beyond the configured limit
  are refused at once.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "limits-test-secret-key-0123456789abcdef"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def shipped_command(port: int) -> list[str]:
    """The Dockerfile's CMD, bound to 127.0.0.1:<port>, with the venv's executable."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, flags=re.MULTILINE)
    argv = [str(a) for a in json.loads(cmd)]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return [str(BIN / argv[0]), *argv[1:]]


def image_environment() -> dict[str, str]:
    """The ENV of the Dockerfile's runtime stage that riso reads (RISO_APP)."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(r"\b(RISO_[A-Z_]+)=(\S+)", text)
    return dict(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the starter's SQLite database migrated."""
    folder = tmp_path_factory.mktemp("limits")
    done = subprocess.run(
        [BIN / "riso", "--app", "starter.main:app", "db", "upgrade"],
        cwd=folder, env=_env({}), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISO_", "OTEL_"))}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(image_environment())
    env.update(RISO_AUTH_SECRET_KEY=SECRET, RISO_OBS_LOG_LEVEL="WARNING", **extra)
    return env


@dataclass
class Served:
    pid: int
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        (kib,) = re.findall(r"^VmRSS:\s+(\d+) kB", status, flags=re.MULTILINE)
        return int(kib) / 1024


@contextmanager
def shipped_server(workdir: Path, **settings: str) -> Iterator[Served]:
    """The shipped server command, running until the block ends."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    argv = shipped_command(port)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, env=_env(settings), stdout=out, stderr=out)
    served = Served(proc.pid, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{served.base}/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{shlex.join(argv)} never answered:\n{log.read_text()}")
            time.sleep(0.2)
        # warm up: the first register imports and builds what later ones reuse
        httpx.post(f"{served.base}/auth/register", json={"email": "x", "password": "y"})
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def peak_rss(served: Served) -> Iterator[list[float]]:
    """Sample VmRSS every few milliseconds; yields [before, peak] (peak filled at exit)."""
    result = [served.rss_mib(), 0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with suppress(OSError, ValueError):
                result[1] = max(result[1], served.rss_mib())
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        time.sleep(0.5)  # what the server still does after the answer
        stop.set()
        thread.join()


def exchange(port: int, head: bytes, body: Iterable[bytes] = (), timeout: float = 60) -> bytes:
    """Send ``head`` then ``body`` (stopping once the server answers); the answer's bytes.

    Checks for an answer between chunks, so a server that answers early and
    closes is read before its reset can discard the answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        answer = b""
        try:
            for chunk in (head, *body):
                if select.select([sock], [], [], 0)[0]:
                    break
                for offset in range(0, len(chunk), 1 << 16):
                    sock.sendall(chunk[offset : offset + (1 << 16)])
                    if select.select([sock], [], [], 0)[0]:
                        break
                else:
                    continue
                break
        except OSError:
            pass  # the server closed while we sent: read what it answered
        deadline = time.monotonic() + timeout
        with suppress(OSError):
            while time.monotonic() < deadline:
                data = sock.recv(1 << 16)
                if not data:
                    break
                answer += data
                if _complete(answer):
                    break
        return answer


def _complete(answer: bytes) -> bool:
    head, sep, rest = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(rest) >= int(length.group(1))


def status_of(answer: bytes) -> int | None:
    found = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(found.group(1)) if found else None


def body_of(answer: bytes) -> object:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


# -- 1. request bodies --------------------------------------------------------------

HUNDRED_MB = 100 * MIB
DECLARED = (
    b"POST /auth/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % HUNDRED_MB
)
CHUNKED = (
    b"POST /auth/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _declared_body() -> Iterator[bytes]:
    yield b'{"email": "big@example.com", "password": "' + b"p" * (MIB - 43)
    for _ in range(99):
        yield b"p" * MIB


def _chunked_body() -> Iterator[bytes]:
    for chunk in _declared_body():
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "body"),
    [(DECLARED, _declared_body), (CHUNKED, _chunked_body)],
    ids=["declared", "chunked"],
)
def test_a_100_mb_body_is_refused_and_memory_stays_flat(
    workdir: Path, head: bytes, body: object
) -> None:
    assert callable(body)
    with shipped_server(workdir) as served, peak_rss(served) as rss:
        answer = exchange(served.port, head, body())
    before, peak = rss
    assert status_of(answer) == 413, answer[:300]
    assert "detail" in body_of(answer)  # type: ignore[operator]
    assert peak - before < 20, f"peak RSS grew {peak - before:.1f} MiB ({before:.1f} -> {peak:.1f})"


# -- 2. request heads -------------------------------------------------------------------


def _many_headers() -> bytes:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(100_000))
    return b"GET /health HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n"


def _huge_header() -> bytes:
    return b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * (16 * MIB) + b"\r\n\r\n"


def test_header_floods_are_refused_and_leave_memory_where_it_was(workdir: Path) -> None:
    floods = {"100,000 headers": _many_headers(), "a 16 MB header": _huge_header()}
    with shipped_server(workdir) as served:
        start = served.rss_mib()
        for what, head in floods.items():
            for _ in range(8):
                answer = exchange(served.port, head)
                assert status_of(answer) != 200, f"{what} answered 200"
                assert status_of(answer) in {None, 400, 413, 431}, answer[:200]
        time.sleep(1)
        after = served.rss_mib()
        assert httpx.get(f"{served.base}/health", timeout=5).status_code == 200
    assert after - start < 20, f"RSS grew {after - start:.1f} MiB ({start:.1f} -> {after:.1f})"


# -- 3. slow and idle clients ------------------------------------------------------------

TIMEOUTS = {"RISO_HEAD_TIMEOUT": "2", "RISO_BODY_TIMEOUT": "2"}


def _open(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed (EOF, reset, or an answer followed by EOF)."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait_all_closed(socks: list[socket.socket], within: float) -> list[socket.socket]:
    deadline = time.monotonic() + within
    open_ = list(socks)
    while open_ and time.monotonic() < deadline:
        open_ = [s for s in open_ if not _closed_by_server(s)]
        time.sleep(0.1)
    return open_


def test_half_sent_requests_are_dropped_and_health_keeps_answering(workdir: Path) -> None:
    partial_head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: "
    partial_body = (
        b"POST /auth/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"email": '
    )
    with shipped_server(workdir, **TIMEOUTS) as served:
        socks = [_open(served.port, partial_head) for _ in range(100)]
        socks += [_open(served.port, partial_body) for _ in range(100)]
        socks += [_open(served.port, b"") for _ in range(20)]  # connect, say nothing
        try:
            started = time.monotonic()
            health = httpx.get(f"{served.base}/health", timeout=5)
            assert health.status_code == 200
            assert time.monotonic() - started < 2
            still_open = _wait_all_closed(socks, within=2 + 8)
            assert still_open == [], f"{len(still_open)} of {len(socks)} still open"
            assert httpx.get(f"{served.base}/health", timeout=5).status_code == 200
        finally:
            for sock in socks:
                sock.close()


def test_connections_beyond_the_limit_are_refused_until_idle_ones_time_out(
    workdir: Path,
) -> None:
    with shipped_server(workdir, RISO_LIMIT_CONCURRENCY="20", **TIMEOUTS) as served:
        time.sleep(0.5)  # the warm-up connections are gone
        socks = [_open(served.port, b"") for _ in range(40)]
        try:
            time.sleep(1)  # well inside the head timeout
            kept = [s for s in socks if not _closed_by_server(s)]
            assert len(kept) <= 20, f"{len(kept)} connections kept open, the limit is 20"
            assert _wait_all_closed(kept, within=2 + 8) == []
            assert httpx.get(f"{served.base}/health", timeout=5).status_code == 200
        finally:
            for sock in socks:
                sock.close()
