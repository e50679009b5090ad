"""The starter as users run it: migrations applied by the CLI, then real uvicorn.

With no configuration at all (SQLite file, embedded task broker), and on
PostgreSQL, the composed app registers a user, stores notes, runs a task in
the background. Everything that needs no real server (bad input, tokens,
tasks, logs, the database) is tested in-process in test_app.py, with the
fixtures riso's packages bring.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from riso_test_support import stack

from riso.testing import ServerProcess, clean_environ, fresh_database

BIN = Path(sys.executable).parent
SECRET = "starter-test-secret-key-0123456789abcdef"


def _env(workdir: Path, db_url: str | None) -> dict[str, str]:
    env = clean_environ(RISO_AUTH_SECRET_KEY=SECRET)
    if db_url:
        env["RISO_DB_URL"] = db_url
    return env


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("starter")
    with ExitStack() as cleanup:
        db_url = None
        if request.param == "postgres":
            # a database of its own: the session's holds other tests' sign-ups from this
            # address, which the starter's default rate limits would count
            db_url = cleanup.enter_context(fresh_database(request.getfixturevalue("postgres_url")))
        env = _env(tmp_path, db_url)
        stack.migrate(env, tmp_path)
        if db_url is None:
            assert (tmp_path / "riso.db").exists()  # the embedded default: a file in the cwd
        argv = [str(BIN / "uvicorn"), "starter.main:app", "--host", "{host}", "--port", "{port}"]
        with ServerProcess(argv, env=env, cwd=tmp_path, timeout=30) as started:
            yield started.base_url


def _login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    assert (
        client.post("/auth/register", json={"email": email, "password": password}).status_code
        == 201
    )
    token = client.post("/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.e2e
def test_every_feature_answers_through_the_starter(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/hello", params={"name": "riso"}).json() == {"message": "Hello, riso!"}
        # as a probe does: a cold server's first round of checks opens its
        # connections and may miss the per-check timeout on a loaded machine
        deadline = time.monotonic() + 15
        while (ready := client.get("/ready")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ready.status_code == 200, ready.text
        assert ready.headers["content-type"].startswith("application/health+json")
        assert "http_requests_total" in client.get("/metrics").text
        assert client.get("/hello").headers["x-request-id"]


@pytest.mark.e2e
def test_notes_belong_to_their_owner(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        alice = _login(client, "alice@example.com", "correct horse battery")
        bob = _login(client, "bob@example.com", "another long password")
        created = client.post("/notes", json={"title": "first", "body": "hello"}, headers=alice)
        assert created.status_code == 201, created.text
        note_id = created.json()["id"]
        assert [n["title"] for n in client.get("/notes", headers=alice).json()] == ["first"]
        assert client.get("/notes", headers=bob).json() == []
        assert client.get(f"/notes/{note_id}", headers=bob).status_code == 404
        assert client.delete(f"/notes/{note_id}", headers=bob).status_code == 404
        assert client.get(f"/notes/{note_id}", headers=alice).status_code == 200
        assert client.delete(f"/notes/{note_id}", headers=alice).status_code == 204
        assert client.get(f"/notes/{note_id}", headers=alice).status_code == 404


@pytest.mark.e2e
def test_a_task_runs_in_the_background_and_reports_its_result(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        queued = client.post("/tasks/add", params={"x": 2, "y": 40})
        assert queued.status_code == 202, queued.text
        task_id = queued.json()["task_id"]
        deadline = time.monotonic() + 20
        while (status := client.get(f"/tasks/{task_id}").json())["state"] != "SUCCESS":
            assert status["state"] in {"PENDING", "STARTED", "RECEIVED"}, status
            assert time.monotonic() < deadline, "the task never finished"
            time.sleep(0.05)
        assert status == {"state": "SUCCESS", "result": 42}
