"""A task declared ``sensitive_args=True`` never has its arguments in a log line, at any level."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import riso
import riso_tasks

SECRET = "reset-token-Zq8w1x-very-secret"
RAN: list[str] = []


@riso_tasks.task(name="tests.sensitive_mail", sensitive_args=True, ignore_result=False)
def sensitive_mail(message: dict[str, str]) -> None:
    RAN.append("mail")


@riso_tasks.task(name="tests.sensitive_failing", sensitive_args=True, max_retries=0)
def sensitive_failing(api_key: str) -> None:
    RAN.append("failing")
    raise RuntimeError("the mail server refused the message")


@pytest.fixture
def obs_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """riso-obs' JSON lines at DEBUG (the app's and the embedded worker's), captured."""
    riso_obs = pytest.importorskip("riso_obs")
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", "json")
    monkeypatch.setenv("RISO_OBS_LOG_LEVEL", "DEBUG")
    stream = io.StringIO()
    riso_obs.reset()
    riso_obs.set_stream(stream)
    yield stream
    riso_obs.reset()


def test_arguments_of_a_sensitive_task_reach_no_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, obs_output: io.StringIO
) -> None:
    import riso_obs

    monkeypatch.setenv("RISO_TASKS_EMBEDDED_CONCURRENCY", "1")
    RAN.clear()
    app = FastAPI()

    @app.post("/send")
    async def send() -> dict[str, str]:
        link = f"https://example.com/reset?token={SECRET}"
        sent = await riso_tasks.enqueue(sensitive_mail, {"to": "a@example.com", "link": link})
        await riso_tasks.enqueue(sensitive_failing, api_key=SECRET)
        return {"id": sent.id}

    riso.include(app, features=[riso_obs.feature, riso_tasks.feature])
    caplog.set_level(logging.DEBUG)
    with TestClient(app) as client:
        assert client.post("/send").status_code == 200
        deadline = time.monotonic() + 10
        while len(RAN) < 2 or "failing" not in caplog.text:
            assert time.monotonic() < deadline, RAN
            threading.Event().wait(0.05)
        threading.Event().wait(0.3)  # the succeeded/failed lines follow the task
    riso_obs.flush_logs()
    lines = [caplog.handler.format(record) for record in caplog.records]
    assert any("TaskPool: Apply" in line for line in lines), lines
    assert any("tests.sensitive_mail" in line and "succeeded" in line for line in lines), lines
    assert any("tests.sensitive_failing" in line and "raised" in line for line in lines), lines
    for line in lines:
        assert SECRET not in line
    assert "TaskPool: Apply" in obs_output.getvalue()
    assert SECRET not in obs_output.getvalue()
