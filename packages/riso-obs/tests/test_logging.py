"""Logs: one JSON pipeline for structlog and stdlib, one access line, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

import riso
import riso_obs
from riso_obs._logging import RisoHandler, configure_logging, wants_json

SECRET_TOKEN = "tok-AbC123-never-logged"
SECRET_PASSWORD = "pw-S3cr3t-never-logged"


def test_every_line_is_json_with_the_same_shape(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/3")
    records = logs.records()  # raises if any line is not JSON
    assert len(records) >= 3
    for record in records:
        assert {"event", "level", "timestamp", "logger"} <= set(record)
        assert record["timestamp"].endswith("Z")


def test_one_access_line_per_request_with_its_fields(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/3", headers={"X-Request-ID": "acc-1"})
        client.get("/items/4")
    lines = logs.access()
    assert len(lines) == 2
    first = lines[0]
    assert first["event"] == "request"
    assert first["level"] == "info"
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "GET",
        "/items/3",
        "/items/{item_id}",
        200,
    )
    assert first["request_id"] == "acc-1"
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert "trace_id" not in first  # tracing is off without an exporter


def test_authorization_and_password_never_reach_any_line(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_HEADERS", "authorization,cookie,user-agent")
    with TestClient(make_app()) as client:
        response = client.post(
            "/login",
            json={"email": "ann@example.com", "password": SECRET_PASSWORD},
            headers={
                "Authorization": f"Bearer {SECRET_TOKEN}",
                "Cookie": f"session={SECRET_TOKEN}",
            },
        )
        client.get("/boom", headers={"Authorization": f"Bearer {SECRET_TOKEN}"})
    assert response.status_code == 200
    assert SECRET_TOKEN not in logs.text
    assert SECRET_PASSWORD not in logs.text
    access = logs.access()[0]
    assert access["headers"]["authorization"] == riso_obs.REDACTED
    assert access["headers"]["cookie"] == riso_obs.REDACTED
    assert access["headers"]["user-agent"] == "testclient"
    [attempt] = [r for r in logs.records() if r["event"] == "login attempt"]
    assert attempt["body"] == {"email": "ann@example.com", "password": riso_obs.REDACTED}
    assert attempt["headers"]["authorization"] == riso_obs.REDACTED
    [stdlib] = [r for r in logs.records() if r["event"] == "login for ann@example.com"]
    assert stdlib["logger"] == "riso.test.stdlib"


def test_redaction_list_is_extendable(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_REDACT", "email")
    with TestClient(make_app()) as client:
        client.post("/login", json={"email": "hidden@example.com", "password": "x"})
    [attempt] = [r for r in logs.records() if r["event"] == "login attempt"]
    assert attempt["body"]["email"] == riso_obs.REDACTED


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"password": "p"}, {"password": "[REDACTED]"}),
        ({"db_password": "p"}, {"db_password": "[REDACTED]"}),
        ({"Authorization": "Bearer x"}, {"Authorization": "[REDACTED]"}),
        ({"set-cookie": "a=b"}, {"set-cookie": "[REDACTED]"}),
        ({"X-API-Key": "k"}, {"X-API-Key": "[REDACTED]"}),
        ({"refresh_token": "t"}, {"refresh_token": "[REDACTED]"}),
        ({"client_secret": "s"}, {"client_secret": "[REDACTED]"}),
        (
            {"user": {"name": "a", "password": "p"}},
            {"user": {"name": "a", "password": "[REDACTED]"}},
        ),
        (
            {"headers": [(b"authorization", b"x"), (b"accept", b"*/*")]},
            {"headers": [(b"authorization", "[REDACTED]"), (b"accept", b"*/*")]},
        ),
        ({"user_id": 3, "path": "/x"}, {"user_id": 3, "path": "/x"}),
    ],
)
def test_redactor_table(event: dict[str, Any], expected: dict[str, Any]) -> None:
    redactor = riso_obs.Redactor(riso_obs.DEFAULT_REDACT)
    assert redactor(None, "info", dict(event)) == expected


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_tracebacks_never_render_local_variables(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", log_format)
    stream = io.StringIO()
    riso_obs.set_stream(stream)
    with TestClient(make_app()) as client:
        client.get("/boom")
    text = stream.getvalue()
    assert "RuntimeError" in text
    assert "kaboom 19" in text
    assert "hunter2-local-value" not in text


def test_console_format_is_readable_not_json(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", "console")
    stream = io.StringIO()
    riso_obs.set_stream(stream)
    with TestClient(make_app()) as client:
        client.get("/items/1", headers={"X-Request-ID": "console-1"})
    [line] = [ln for ln in stream.getvalue().splitlines() if "riso.access" in ln]
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "request_id=console-1" in line
    assert "\x1b[" not in line  # no colours when not on a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("log_format", "production", "terminal", "json_expected"),
    [
        ("auto", False, True, False),
        ("auto", False, False, True),
        ("auto", True, True, True),
        ("console", True, False, False),
        ("json", False, True, True),
    ],
)
def test_format_choice(
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
    production: bool,
    terminal: bool,
    json_expected: bool,
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", log_format)
    stream = _Terminal() if terminal else io.StringIO()
    assert wants_json(riso_obs.ObsSettings(), production, stream) is json_expected


def test_production_env_selects_json_through_include(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_ENV", "production")
    stream = _Terminal()
    riso_obs.set_stream(stream)
    app = riso_obs_app()
    with TestClient(app) as client:
        client.get("/ok")
    assert [
        json.loads(ln)["route"] for ln in stream.getvalue().splitlines() if "riso.access" in ln
    ] == ["/ok"]


def riso_obs_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    riso.include(app, features=[riso_obs.feature])
    return app


def test_configuring_twice_installs_one_handler_and_logs_once(logs: Any) -> None:
    logging.basicConfig()  # a stray stdlib handler that would print every line again
    riso_obs_app()
    riso_obs_app()
    settings = riso_obs.ObsSettings()
    configure_logging(settings, production=False)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, RisoHandler)]
    assert len(handlers) == 1
    assert not [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    logging.getLogger("riso.once").warning("exactly once")
    assert logs.text.count("exactly once") == 1


def test_log_level_setting_filters(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_LEVEL", "warning")
    with TestClient(make_app()) as client:
        client.get("/items/1")
        client.get("/boom")
    assert [r["status"] for r in logs.access()] == [500]
    assert not [r for r in logs.records() if r["level"] == "info"]


def test_access_log_can_be_turned_off(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_ACCESS_LOG", "false")
    with TestClient(make_app()) as client:
        client.get("/items/1")
    assert logs.access() == []
    assert logging.getLogger("uvicorn.access").disabled is False


def test_reset_restores_the_server_loggers() -> None:
    access = logging.getLogger("uvicorn.access")
    marker = logging.NullHandler()
    access.addHandler(marker)
    access.propagate = False
    try:
        riso_obs_app()
        assert access.disabled
        assert not access.hasHandlers()  # uvicorn skips formatting its access line
        assert marker not in access.handlers
        riso_obs.reset_logging()
        assert not access.disabled
        assert not access.propagate
        assert marker in access.handlers
    finally:
        access.removeHandler(marker)
        access.propagate = True


def test_buffered_output_is_flushed_and_never_repeated_after_fork(tmp_path: Any) -> None:
    """To a file, lines are buffered; a fork must not make the child write them again."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import logging, os
        import riso_obs
        from riso_obs._logging import configure_logging

        configure_logging(riso_obs.ObsSettings(log_format="json"), production=False)
        log = logging.getLogger("riso.fork")
        log.warning("before fork")
        pid = os.fork()
        if pid == 0:
            log.warning("in child")
            riso_obs.flush_logs()
            os._exit(0)
        os.waitpid(pid, 0)
        log.warning("in parent")
        """
    )
    target = tmp_path / "stderr.log"
    with target.open("wb") as err:
        subprocess.run([sys.executable, "-c", code], stderr=err, check=True, timeout=60)
    events = [json.loads(line)["event"] for line in target.read_text().splitlines()]
    assert sorted(events) == ["before fork", "in child", "in parent"]


def test_fast_access_line_equals_what_the_pipeline_writes(make_app: Any, logs: Any) -> None:
    """Plain requests take the direct JSON path; it must write the pipeline's line."""
    import structlog

    with TestClient(make_app()) as client:
        client.get("/items/1", headers={"X-Request-ID": "fast-1"})
        structlog.contextvars.bind_contextvars(tenant="acme")
        try:
            client.get("/items/1", headers={"X-Request-ID": "slow-1"})
        finally:
            structlog.contextvars.clear_contextvars()
    fast, slow = logs.access()
    assert slow["tenant"] == "acme"  # bound context forces the structlog path
    del slow["tenant"]
    for line in (fast, slow):
        del line["timestamp"], line["duration_ms"]
        assert line.pop("request_id") in ("fast-1", "slow-1")
    assert fast == slow
    raw_fast = next(ln for ln in logs.lines if "fast-1" in ln)
    raw_slow = next(ln for ln in logs.lines if "slow-1" in ln)
    assert list(json.loads(raw_fast)) == [k for k in json.loads(raw_slow) if k != "tenant"]


@pytest.mark.parametrize(
    "path", ['/items/"quoted"', "/items/\u00e9t\u00e9", "/items/back\\slash", "/items/%0Anewline"]
)
def test_fast_access_line_escapes_the_path(make_app: Any, logs: Any, path: str) -> None:
    with TestClient(make_app()) as client:
        client.get(path)
    [line] = logs.access()  # parses as JSON
    assert line["route"] == "/items/{item_id}"
    assert len(logs.lines) == len(logs.records())
