"""Request ids: kept when valid, replaced otherwise, on every response, visible everywhere."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

import riso
import riso_obs
from riso_obs._middleware import ObsMiddleware


def test_500_from_endpoint_carries_request_id_and_its_log_line_has_it(
    make_app: Any, logs: Any
) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-500-abc"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500-abc"
    [line] = [r for r in logs.access() if r["path"] == "/boom"]
    assert line["request_id"] == "req-500-abc"
    assert line["status"] == 500
    assert line["level"] == "error"
    assert line["exception"][0]["exc_type"] == "RuntimeError"


def test_500_gets_a_generated_id_when_none_was_sent(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/boom")
    generated = response.headers["x-request-id"]
    assert riso_obs.is_valid_request_id(generated)
    assert len(generated) == 32
    assert [r["request_id"] for r in logs.access()] == [generated]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", True),
        ("trace:span/1+2=3@x_y.z", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ('quote"inject', False),
        ("<script>", False),
    ],
)
def test_incoming_id_kept_only_when_valid(make_app: Any, logs: Any, sent: str, kept: bool) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items/1", headers={"X-Request-ID": sent})
    returned = response.headers["x-request-id"]
    assert (returned == sent) is kept
    assert riso_obs.is_valid_request_id(returned)
    logged = [r["request_id"] for r in logs.access()]
    assert logged == [returned]
    if not kept:
        assert sent not in logs.text


@pytest.mark.parametrize(
    "raw",
    [
        b"line\nbreak",
        b"carriage\rreturn",
        b"nul\x00byte",
        b"tab\tchar",
        b"esc\x1b[31m",
        "é".encode(),
    ],
)
def test_control_characters_are_replaced_not_echoed(logs: Any, raw: bytes) -> None:
    """Clients cannot put these in an HTTP/1.1 header through httpx, so drive ASGI directly."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    from riso_obs._logging import configure_logging

    settings = riso_obs.ObsSettings()
    configure_logging(settings, production=False)
    middleware = ObsMiddleware(inner, settings)
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-request-id", raw)],
        "scheme": "http",
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(middleware(scope, receive, send))
    headers = dict(sent[0]["headers"])
    assert headers[b"x-request-id"] != raw
    assert riso_obs.is_valid_request_id(headers[b"x-request-id"].decode())
    assert raw.decode("latin-1") not in logs.text
    assert len(logs.lines) == 1


def test_id_reaches_threadpool_dependencies_and_endpoints(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        body = client.get("/threaded", headers={"X-Request-ID": "thread-id-1"}).json()
    assert body == {"dependency": "thread-id-1", "endpoint": "thread-id-1"}


def test_id_reaches_exception_handlers(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/teapot", headers={"X-Request-ID": "handler-id"})
    assert response.status_code == 418
    assert response.json() == {"detail": "teapot", "request_id": "handler-id"}
    assert response.headers["x-request-id"] == "handler-id"


def test_every_log_line_of_the_request_has_the_id(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/7", headers={"X-Request-ID": "all-lines"})
    mine = [r for r in logs.records() if r.get("logger", "").startswith("riso.")]
    assert {r["event"] for r in mine} >= {"item fetched", "stdlib says 7", "request"}
    assert {r["request_id"] for r in mine} == {"all-lines"}


def test_id_is_reset_after_the_request(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/1")
    assert riso.current_request_id() is None


def test_configurable_header_list(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_REQUEST_ID_HEADERS", "X-Correlation-ID, X-Request-ID")
    with TestClient(make_app()) as client:
        by_correlation = client.get("/items/1", headers={"X-Correlation-ID": "corr-1"})
        by_request = client.get("/items/1", headers={"X-Request-ID": "req-1"})
    assert by_correlation.headers["x-request-id"] == "corr-1"
    assert by_request.headers["x-request-id"] == "req-1"


def test_excluded_paths_still_get_an_id_but_no_access_line(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/metrics", headers={"X-Request-ID": "scrape-1"})
    assert response.headers["x-request-id"] == "scrape-1"
    assert logs.access() == []


def test_404_and_validation_errors_carry_the_id(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        missing = client.get("/nowhere", headers={"X-Request-ID": "n-1"})
        invalid = client.get("/items/not-a-number", headers={"X-Request-ID": "n-2"})
    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "n-1")
    assert (invalid.status_code, invalid.headers["x-request-id"]) == (422, "n-2")
    assert "detail" in invalid.json()


def test_a_broken_log_sink_never_breaks_a_request(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", "json")
    sink = io.StringIO()
    riso_obs.set_stream(sink)
    app = make_app()
    sink.close()
    with TestClient(app) as client:
        ok = client.get("/items/1", headers={"X-Request-ID": "sink-1"})
        boom = client.get("/boom", headers={"X-Request-ID": "sink-2"})
    assert (ok.status_code, ok.headers["x-request-id"]) == (200, "sink-1")
    assert (boom.status_code, boom.headers["x-request-id"]) == (500, "sink-2")
    assert riso.current_request_id() is None
