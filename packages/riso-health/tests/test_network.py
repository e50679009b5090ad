"""Real sockets: uvicorn on loopback, a hanging listener, a refused port, PostgreSQL.

The client's timeout is a probe's default one second: a readiness answer that
does not come within it is a failed probe (httpx raises), so "503 within one
second" is checked the way a kubelet checks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from riso_test_support.network import pg_select_one

import riso
import riso_health
from riso import HealthCheck

PROBE_TIMEOUT = 1.0


def build(checks: list[HealthCheck]) -> FastAPI:
    app = FastAPI()
    deps = riso.Feature(name="deps", core=">=0.1,<0.2", health_checks=checks)
    riso.include(app, features=[riso_health.feature, deps])
    return app


def probe(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, timeout=PROBE_TIMEOUT)


def waits_for_a_reply(port: int) -> Callable[[Any], Awaitable[None]]:
    """A check that connects, sends a request and waits for the answer."""

    async def check(app: Any) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            if not await reader.readline():
                raise ConnectionError("closed without a reply")
        finally:
            writer.close()

    return check


@pytest.mark.parametrize(
    ("make_check", "env"),
    [
        # the check's own timeout (0.5 s by default) ends it
        (lambda port: HealthCheck("db", waits_for_a_reply(port)), {}),
        # a check with a long timeout is still cut by the round deadline
        # (0.6 s instead of the default 0.8 s keeps a margin on a loaded CI machine)
        (
            lambda port: HealthCheck("db", waits_for_a_reply(port), timeout=30),
            {"RISO_HEALTH_TIMEOUT": "0.6"},
        ),
        (lambda port: riso_health.http_check(f"http://127.0.0.1:{port}/ping", name="db"), {}),
    ],
    ids=["own-timeout", "round-deadline", "http_check"],
)
def test_ready_is_503_within_a_second_when_a_dependency_hangs(
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[FastAPI], str],
    silent_port: int,
    make_check: Callable[[int], HealthCheck],
    env: dict[str, str],
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    base = serve(build([make_check(silent_port)]))
    response = probe(base, "/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/health+json"
    (entry,) = response.json()["checks"]["db:responseTime"]
    assert entry["output"].startswith("timed out after")
    # liveness does not care
    assert probe(base, "/health").status_code == 200


def test_health_stays_200_and_ready_503_while_the_database_refuses_connections(
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[FastAPI], str],
    closed_port: int,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")

    async def database(app: Any) -> None:
        await pg_select_one(closed_port, "postgres")

    base = serve(build([HealthCheck("database", database)]))
    for _ in range(3):
        assert probe(base, "/health").status_code == 200
    response = probe(base, "/ready")
    assert response.status_code == 503
    (entry,) = response.json()["checks"]["database:responseTime"]
    assert entry["output"].startswith(("ConnectionRefusedError", "OSError"))


def test_ready_follows_a_real_postgresql_going_away_and_coming_back(
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[FastAPI], str],
    pg_proxy: Any,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "0")
    proxy, database_name = pg_proxy
    queries = [0]

    async def database(app: Any) -> None:
        queries[0] += 1
        await pg_select_one(proxy.port, database_name)

    base = serve(build([HealthCheck("database", database)]))
    assert probe(base, "/ready").json() == {"status": "pass"}

    proxy.stop()  # the database's port now refuses connections
    assert probe(base, "/ready").status_code == 503
    assert probe(base, "/health").status_code == 200

    proxy.start()  # it is back, on the same port
    response = probe(base, "/ready")
    assert (response.status_code, response.json()) == (200, {"status": "pass"})
    assert queries[0] == 3


def test_http_check_against_a_real_server(
    serve: Callable[[FastAPI], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = FastAPI()
    seen: list[str | None] = []

    @upstream.get("/ok")
    async def ok_endpoint(request: Request) -> PlainTextResponse:
        seen.append(request.headers.get("authorization"))
        return PlainTextResponse("ok")

    @upstream.get("/broken")
    async def broken() -> PlainTextResponse:
        return PlainTextResponse("no", status_code=500)

    upstream_url = serve(upstream)
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    with_credentials = upstream_url.replace("http://", "http://svc:s3cret@") + "/ok"
    app = build(
        [
            riso_health.http_check(with_credentials, name="upstream"),
            riso_health.http_check(upstream_url + "/broken", name="broken", critical=False),
            riso_health.http_check(upstream_url + "/missing", name="missing", critical=False),
        ]
    )
    response = probe(serve(app), "/ready")
    body = response.json()
    assert response.status_code == 200
    assert body["checks"]["upstream:responseTime"][0]["status"] == "pass"
    assert body["checks"]["broken:responseTime"][0]["output"] == (
        "CheckFailedError: unexpected HTTP status 500"
    )
    assert body["checks"]["missing:responseTime"][0]["output"] == (
        "CheckFailedError: unexpected HTTP status 404"
    )
    assert seen == ["Basic c3ZjOnMzY3JldA=="]  # credentials from the URL, sent as Basic auth
    assert "s3cret" not in response.text


@pytest.mark.parametrize(
    ("minimum", "status", "output"),
    [
        (0, "pass", None),
        (2**50, "fail", "CheckFailedError: "),
    ],
)
def test_disk_space_check(
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[FastAPI], str],
    tmp_path: Path,
    minimum: int,
    status: str,
    output: str | None,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build([riso_health.disk_space_check(tmp_path, minimum)])
    (entry,) = probe(serve(app), "/ready").json()["checks"]["disk:responseTime"]
    assert entry["status"] == status
    if output is None:
        assert "output" not in entry
    else:
        assert entry["output"].startswith(output)
        assert "below the minimum of 1024.0 TiB" in entry["output"]


def test_disk_space_check_on_a_missing_path_fails_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[FastAPI], str], tmp_path: Path
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build([riso_health.disk_space_check(tmp_path / "gone", 1)])
    response = probe(serve(app), "/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["disk:responseTime"][0]["output"].startswith(
        "FileNotFoundError: "
    )
