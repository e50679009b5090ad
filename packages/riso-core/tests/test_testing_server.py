"""riso.testing.ServerProcess and free_port: start, ready, retry on a taken port, stop."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

import riso.testing
from riso.testing import ServerProcess, free_port

APP = textwrap.dedent(
    """
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}
    """
)


def uvicorn_argv() -> list[str]:
    return [sys.executable, "-m", "uvicorn", "app:app", "--host", "{host}", "--port", "{port}"]


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    return tmp_path


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_starts_uvicorn_on_a_free_port_and_stops_it(app_dir: Path) -> None:
    with ServerProcess(uvicorn_argv(), cwd=app_dir) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok"}
        proc = server.proc
    assert proc.poll() is not None
    assert "Uvicorn running" in server.log_text()


def test_retries_on_another_port_when_the_first_was_taken(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port])
        real_free_port = riso.testing.free_port
        monkeypatch.setattr(
            riso.testing, "free_port", lambda host: next(ports, None) or real_free_port(host)
        )
        with ServerProcess(uvicorn_argv(), cwd=app_dir) as server:
            assert server.port != taken_port
            assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_a_port_given_explicitly_is_not_changed(app_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(uvicorn_argv(), cwd=app_dir, port=port)
        with pytest.raises(RuntimeError, match="exited"):
            server.start()
    assert server.port == port
    assert "address already in use" in server.log_text().lower()


def test_ready_callable_and_log_path(tmp_path: Path) -> None:
    code = "import sys, time; print('listening', flush=True); time.sleep(60)"
    log = tmp_path / "out.log"
    server = ServerProcess(
        [sys.executable, "-c", code], ready=lambda s: "listening" in s.log_text(), log_path=log
    )
    with server:
        assert server.proc.poll() is None
    assert "listening" in log.read_text()


def test_a_server_that_never_answers_times_out_and_is_stopped() -> None:
    server = ServerProcess([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    with pytest.raises(RuntimeError, match=r"not ready after 0\.5 s"):
        server.start()
    assert server.proc.poll() is not None


def test_a_server_that_exits_shows_its_output() -> None:
    code = "import sys; print('bad configuration'); sys.exit(3)"
    server = ServerProcess([sys.executable, "-c", code], retries=3)
    with pytest.raises(RuntimeError, match=r"exited \(3\)[\s\S]*bad configuration"):
        server.start()


def test_stop_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('up', flush=True); time.sleep(60)"
    )
    server = ServerProcess([sys.executable, "-c", code], ready=lambda s: "up" in s.log_text())
    server.start()
    started = time.monotonic()
    assert server.stop(timeout=0.5) == -9
    assert time.monotonic() - started < 5


def test_stop_before_start_returns_none() -> None:
    assert ServerProcess(["true"]).stop() is None
