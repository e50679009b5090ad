"""``riso serve`` believes proxy headers only from ``RISO_TRUSTED_PROXIES`` (none by default).

uvicorn on its own trusts ``X-Forwarded-For`` from 127.0.0.1 and rewrites the
client address before the app sees it: from loopback every request could
claim a fresh address (escaping per-address rate limits, forging the access
log). The real ``riso serve`` process must show the app the real peer unless
the proxy is configured.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from riso.testing import ServerProcess, clean_environ

BIN = Path(sys.executable).parent
FORGED = "203.0.113.77"

PEER_APP = """
from fastapi import FastAPI, Request

import riso
import riso_obs

app = FastAPI()


@app.get("/peer")
async def peer(request: Request) -> dict[str, object]:
    return {"host": request.client.host if request.client else None}


riso.include(app, features=[riso_obs.feature])
"""


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("proxy")
    (folder / "peer_app.py").write_text(PEER_APP, encoding="utf-8")
    return folder


def _serve(app_dir: Path, **env: str) -> ServerProcess:
    return ServerProcess(
        [str(BIN / "riso"), "--app", "peer_app:app", "serve", "--port", "{port}"],
        env=clean_environ(None, RISO_OBS_LOG_FORMAT="json", **env),
        cwd=app_dir,
        ready_path="/peer",
    )


@pytest.fixture
def default_server(app_dir: Path) -> Iterator[ServerProcess]:
    with _serve(app_dir) as server:
        yield server


def _peer_seen(server: ServerProcess, forwarded: str) -> str:
    answer = httpx.get(f"{server.base_url}/peer", headers={"X-Forwarded-For": forwarded})
    assert answer.status_code == 200
    return str(answer.json()["host"])


def _access_clients(server: ServerProcess) -> list[str]:
    clients = []
    for line in server.log_text().splitlines():
        if '"riso.access"' in line and '"/peer"' in line:
            clients.append(json.loads(line)["client"])
    return clients


def test_forged_forwarded_for_from_loopback_is_not_believed(default_server: ServerProcess) -> None:
    for n in range(5):
        assert _peer_seen(default_server, f"198.51.100.{n}, {FORGED}") == "127.0.0.1"
    default_server.stop()  # flushes the buffered log lines
    clients = _access_clients(default_server)
    assert set(clients) == {"127.0.0.1"}


def test_a_configured_proxy_is_believed(app_dir: Path) -> None:
    with _serve(app_dir, RISO_TRUSTED_PROXIES="127.0.0.0/8,::1") as server:
        assert _peer_seen(server, FORGED) == FORGED
        server.stop()
        assert FORGED in _access_clients(server)


def test_uvicorns_own_variable_does_not_override_the_setting(app_dir: Path) -> None:
    with _serve(app_dir, FORWARDED_ALLOW_IPS="*") as server:
        assert _peer_seen(server, FORGED) == "127.0.0.1"
