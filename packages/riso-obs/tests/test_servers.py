"""Real servers in subprocesses: uvicorn's logs routed once, multi-process metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from riso.testing import clean_environ, free_port

APP = textwrap.dedent(
    """
    import os

    import riso
    import riso_obs
    import structlog
    from fastapi import FastAPI, Request
    from pydantic import BaseModel

    app = FastAPI()
    log = structlog.get_logger("riso.app")


    class Login(BaseModel):
        email: str
        password: str


    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"id": item_id}


    @app.get("/pid")
    async def pid() -> dict:
        return {"pid": os.getpid()}


    @app.post("/login")
    async def login(body: Login, request: Request) -> dict:
        log.info("login attempt", body=body.model_dump(), headers=dict(request.headers))
        return {"email": body.email}


    riso.include(app, features=[riso_obs.feature])
    """
)

SECRET_TOKEN = "tok-uvicorn-never-logged"
SECRET_PASSWORD = "pw-uvicorn-never-logged"


def server_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in clean_environ().items()
        if not k.startswith("PROMETHEUS_") and k != "WEB_CONCURRENCY"
    }
    env.update(extra)
    return env


def get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@contextmanager
def uvicorn(tmp_path: Path, *args: str, env: dict[str, str]) -> Iterator[tuple[str, Path, Path]]:
    (tmp_path / "obs_app.py").write_text(APP)
    port = free_port()
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "obs_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *args,
            ],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                if proc.poll() is not None:
                    pytest.fail(f"uvicorn exited early:\n{err.read_text()}\n{out.read_text()}")
                try:
                    get(base + "/metrics")
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                pytest.fail("uvicorn did not start")
            yield base, out, err
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_uvicorn_logs_go_through_the_pipeline_once_and_secrets_never_show(tmp_path: Path) -> None:
    env = server_env(RISO_OBS_LOG_FORMAT="json", RISO_OBS_LOG_HEADERS="authorization,user-agent")
    with uvicorn(tmp_path, env=env) as (base, out, err):
        for _ in range(3):
            get(base + "/items/1")
        status, _ = get(
            base + "/login",
            headers={"Authorization": f"Bearer {SECRET_TOKEN}", "Content-Type": "application/json"},
            data=json.dumps({"email": "a@example.com", "password": SECRET_PASSWORD}).encode(),
        )
        assert status == 200
    stdout, stderr = out.read_text(), err.read_text()
    everything = stdout + stderr
    assert SECRET_TOKEN not in everything
    assert SECRET_PASSWORD not in everything
    assert stdout.strip() == ""  # uvicorn's own handlers are gone; logs go to stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    access = [r for r in records if r.get("logger") == "riso.access"]
    assert [r["path"] for r in access] == ["/items/1"] * 3 + ["/login"]
    assert "/items/1" not in json.dumps([r for r in records if r not in access])
    assert "HTTP/1.1" not in everything  # uvicorn's access format never appears
    started = [r for r in records if "Application startup complete" in r["event"]]
    assert len(started) == 1
    assert started[0]["logger"] == "uvicorn.error"
    assert any("Shutting down" in r["event"] for r in records)


def _requests_total(text: str, endpoint: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels["endpoint"] == endpoint:
                total += sample.value
    return total


WORKER = textwrap.dedent(
    """
    import sys
    import riso, riso_obs
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"id": item_id}

    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        if sys.argv[1] == "scrape":
            with open(sys.argv[2], "w") as out:
                out.write(client.get("/metrics").text)
        else:
            for n in range(int(sys.argv[1])):
                assert client.get(f"/items/{n}").status_code == 200
    """
)


def test_two_processes_share_one_multiprocess_dir(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    env = server_env(PROMETHEUS_MULTIPROC_DIR=str(directory), RISO_OBS_LOG_FORMAT="json")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [subprocess.Popen([sys.executable, str(script), str(n)], env=env) for n in (3, 4)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    target = tmp_path / "scrape.txt"
    subprocess.run(
        [sys.executable, str(script), "scrape", str(target)], env=env, timeout=60, check=True
    )
    scrape = target.read_text()
    assert _requests_total(scrape, "/items/{item_id}") == 7


def test_uvicorn_workers_aggregate_with_multiproc_dir(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    env = server_env(PROMETHEUS_MULTIPROC_DIR=str(directory), RISO_OBS_LOG_FORMAT="json")
    with uvicorn(tmp_path, "--workers", "2", env=env) as (base, _out, err):
        pids: set[int] = set()
        sent = 0
        while len(pids) < 2 and sent < 400:
            _, body = get(base + "/pid")
            pids.add(json.loads(body)["pid"])
            sent += 1
        if len(pids) < 2:
            pytest.skip("the kernel sent every connection to one worker")
        # the last response may reach the client a moment before its worker
        # counts it: wait (bounded) for the total, then check every scrape
        for _ in range(200):
            if _requests_total(get(base + "/metrics")[1], "/pid") == sent:
                break
            time.sleep(0.02)
        scrapes = [get(base + "/metrics")[1] for _ in range(6)]
    # whichever worker answered the scrape, it reports every worker's requests
    assert {_requests_total(text, "/pid") for text in scrapes} == {float(sent)}
    assert "PROMETHEUS_MULTIPROC_DIR" not in err.read_text()


def test_several_workers_without_multiproc_dir_warn(tmp_path: Path) -> None:
    env = server_env(RISO_OBS_LOG_FORMAT="json")
    with uvicorn(tmp_path, "--workers", "2", env=env) as (_base, _out, err):
        # the second worker may still be starting: wait (bounded) for its line
        for _ in range(200):
            if err.read_text().count("PROMETHEUS_MULTIPROC_DIR") >= 2:
                break
            time.sleep(0.05)
    warnings = [
        json.loads(line)
        for line in err.read_text().splitlines()
        if "PROMETHEUS_MULTIPROC_DIR" in line
    ]
    assert len(warnings) == 2  # one per worker
    assert {w["level"] for w in warnings} == {"warning"}
    assert {w["workers"] for w in warnings} == {2}


RUNNER = textwrap.dedent(
    """
    import sys

    import uvicorn

    from obs_app import app  # riso.include ran at import, before uvicorn's dictConfig

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
    """
)


def test_uvicorn_run_with_an_app_object_is_routed_at_startup(tmp_path: Path) -> None:
    """uvicorn.run(app) applies its logging config after the app was imported."""
    (tmp_path / "obs_app.py").write_text(APP)
    (tmp_path / "runner.py").write_text(RUNNER)
    port = free_port()
    env = server_env(RISO_OBS_LOG_FORMAT="json")
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "runner.py", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    get(base + "/metrics")
                    break
                except OSError:
                    time.sleep(0.05)
            for _ in range(3):
                get(base + "/items/2")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    text = err_path.read_text()
    assert "HTTP/1.1" not in text  # uvicorn's access lines never appear
    after_startup = text.split("Application startup complete", 1)[1].splitlines()[1:]
    records = [json.loads(line) for line in after_startup if line.strip()]
    assert [r["path"] for r in records if r.get("logger") == "riso.access"] == ["/items/2"] * 3
