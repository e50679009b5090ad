"""What ``make run`` prints: the migrations' command and the server, run as it runs them.

The starter on SQLite without RISO_AUTH_SECRET_KEY, output to a file (so JSON
lines, buffered by riso-obs' writer thread):

- ``riso db upgrade`` prints what it applies, no Alembic plugin chatter and no
  generated-secret notice (it signs no token);
- the server says the secret was generated once, as a log line, not a warning;
- the docs and schema routes are labelled by their paths in the access log
  and the metrics;
- on SIGTERM uvicorn's last lines reach the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from riso.testing import ServerProcess, clean_environ

BIN = Path(sys.executable).parent
APP = "starter.main:app"
NOTICE = "RISO_AUTH_SECRET_KEY is not set: riso-auth generated one"
DOCS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_make_run_output_is_quiet_complete_and_labelled(tmp_path: Path) -> None:
    env = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}")
    upgrade = subprocess.run(
        [BIN / "riso", "--app", APP, "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    output = upgrade.stdout + upgrade.stderr
    assert "app: (empty) -> starter_" in output  # the starter's tree, migrated
    assert "setup plugin" not in output
    assert NOTICE not in output
    assert "Warning" not in output

    command = [str(BIN / "riso"), "--app", APP, "serve", "--host", "{host}", "--port", "{port}"]
    server = ServerProcess(command, env=env, cwd=tmp_path, log_path=tmp_path / "serve.log")
    with server:
        for path in DOCS:
            assert httpx.get(server.base_url + path).status_code == 200
        metrics = httpx.get(server.base_url + "/metrics").text
    log = server.log_text()
    assert server.proc.returncode is not None
    lines = json_lines(log)
    assert len(lines) == len(log.strip().splitlines()), log  # nothing but log lines

    notices = [line for line in lines if NOTICE in line["event"]]
    assert [(n["logger"], n["level"]) for n in notices] == [("riso.auth", "warning")], log
    assert "UserWarning" not in log

    access = {line["path"]: line["route"] for line in lines if line["logger"] == "riso.access"}
    assert access == {path: path for path in DOCS}
    for path in DOCS:
        assert f'http_requests_total{{endpoint="{path}",method="GET",status="200"}} 1.0' in metrics

    events = [line["event"] for line in lines]
    assert "Application shutdown complete." in events, log
    assert events[-1].startswith("Finished server process"), log


TWO_APPS = """
import asyncio
from fastapi import FastAPI
import riso


async def main():
    for _ in range(2):
        app = FastAPI()
        riso.include(app)
        async with app.router.lifespan_context(app):
            pass


asyncio.run(main())
"""


def test_the_generated_secret_notice_is_said_once_per_process(tmp_path: Path) -> None:
    env = clean_environ(
        RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", RISO_DISABLE="tasks,obs,health"
    )
    done = subprocess.run(
        [sys.executable, "-c", TWO_APPS],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(NOTICE) == 1, done.stderr
    assert "UserWarning" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["features"], ["check"], ["settings"], ["db", "current"], ["db", "check"], ["db", "history"]],
)
def test_cli_commands_print_no_alembic_chatter_nor_secret_notice(
    tmp_path: Path, args: list[str]
) -> None:
    env = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}")
    done = subprocess.run(
        [BIN / "riso", "--app", APP, *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1), output  # db check: 1 on an empty database
    assert "setup plugin" not in output
    assert NOTICE not in output  # (riso check still reports auth.W001)
    assert "Warning:" not in output
