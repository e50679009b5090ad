"""An app outside the workspace tests itself with the fixtures its riso packages bring.

One venv per module holds only the built wheels (plus pytest, pytest-xdist,
pytest-randomly, httpx and anyio from the index). The app project beside it
has its own ``tests/``; each case runs that suite with pytest in a subprocess,
on SQLite, PostgreSQL and MariaDB, in random order, on two xdist workers, and
twice on the same ``RISO_TEST_DB_URL``.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from riso_test_support.install import Venv

POSTGRES_SERVER = os.environ.get("RISO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_SERVER = os.environ.get("RISO_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
#: (RISO_TEST_DB_URL, the fixture that checks its server answers)
SERVERS = [
    pytest.param(POSTGRES_SERVER, "postgres_url", id="postgresql"),
    pytest.param(MARIADB_SERVER, "mariadb_url", id="mariadb"),
]
RISO = (
    "riso-core",
    "riso-db[postgres,mysql]",
    "riso-auth",
    "riso-health",
    "riso-obs",
    "riso-tasks",
)
TOOLS = ("pytest>=8.3,<10", "pytest-xdist>=3.6,<4", "pytest-randomly>=3.15", "httpx>=0.27,<1")

PYPROJECT = """\
[project]
name = "notes-app"
version = "0"

[tool.riso]
app = "notes.main:app"

[tool.pytest.ini_options]
pythonpath = ["src"]
addopts = ["--strict-markers", "-p", "no:cacheprovider"]
"""

MAIN_PY = '''\
"""A user's app: riso features plus two endpoints of its own."""

from fastapi import FastAPI
from sqlalchemy import select

import riso
import riso_tasks
from riso_auth import User
from riso_db import DbSession

app = FastAPI()
riso.include(app)


@riso_tasks.task(ignore_result=False)
def greet(name: str) -> str:
    return f"hello {name}"


@app.get("/emails")
async def emails(session: DbSession) -> list[str]:
    return list(await session.scalars(select(User.email).order_by(User.email)))


@app.post("/greet", status_code=202)
async def enqueue_greet(name: str) -> dict[str, str]:
    result = await riso_tasks.enqueue(greet, name)
    return {"id": result.id}
'''

TESTS_PY = '''\
"""The app's own tests, written with riso's fixtures only."""

import os

import pytest
from sqlalchemy import func, select

from riso_auth import User

PASSWORD = "correct horse battery staple"
SECRET = "my-very-secret-password-42"
USERS = int(os.environ.get("MAKE_USERS", "30"))


@pytest.fixture
def anyio_backend():
    return "asyncio"


def register(client, email, password=PASSWORD):
    return client.post("/auth/register", json={"email": email, "password": password})


@pytest.mark.integration
def test_register_once(client):
    assert register(client, "same@example.com").status_code == 201


@pytest.mark.integration
def test_register_the_same_email_again(client):
    assert register(client, "same@example.com").status_code == 201


def test_many_users_each_signed_in(client, make_user, auth_headers):
    users = [make_user() for _ in range(USERS)]
    for user in users:
        me = client.get("/auth/me", headers=auth_headers(user))
        assert me.status_code == 200, me.text
        assert me.json()["email"] == user.email


def test_make_user_normalises_and_keeps_the_password(client, make_user):
    user = make_user(email="Mixed@Example.COM", is_verified=True, scopes=["notes:read"])
    assert user.email == "mixed@example.com"
    token = client.post("/auth/token", data={"username": user.email, "password": user.password})
    assert token.status_code == 200, token.text


def test_registrations_past_the_limit_pass(client):
    # the register limit is 10 an hour per address: off under the plugin
    for number in range(12):
        assert register(client, f"r{number}@example.com").status_code == 201


@pytest.mark.rate_limits
def test_rate_limits_apply_when_asked(client):
    codes = [register(client, f"limited{n}@example.com").status_code for n in range(11)]
    assert codes[:10] == [201] * 10
    assert codes[10] == 429


def test_cheapest_hashing(make_user):
    assert "$m=8,t=1,p=1$" in make_user().user.hashed_password


@pytest.mark.anyio
async def test_client_writes_are_seen_by_db_session(client, db_session):
    created = register(client, "written@example.com")
    row = await db_session.scalar(select(User).where(User.email == "written@example.com"))
    assert row is not None and row.id == created.json()["id"]


@pytest.mark.anyio
async def test_db_session_writes_are_seen_by_the_app(async_client, db_session):
    db_session.add(User(email="seeded@example.com", hashed_password="!"))
    await db_session.commit()
    answer = await async_client.get("/emails")
    assert answer.json() == ["seeded@example.com"]


def test_sync_db_session_sees_the_app_and_back(client, sync_db_session, make_user):
    make_user(email="made@example.com")
    assert sync_db_session.scalar(select(func.count()).select_from(User)) == 1
    sync_db_session.add(User(email="synced@example.com", hashed_password="!"))
    sync_db_session.commit()
    assert client.get("/emails").json() == ["made@example.com", "synced@example.com"]


@pytest.mark.unit
def test_every_test_starts_empty(sync_db_session, client):
    assert sync_db_session.scalar(select(func.count()).select_from(User)) == 0


def test_auth_client(auth_client):
    me = auth_client.get("/auth/me").json()
    assert me["email"] == auth_client.user.email and me["is_verified"] is True


def test_captured_tasks_and_run_tasks(client, captured_tasks, run_tasks):
    answer = client.post("/greet", params={"name": "ada"})
    assert answer.status_code == 202
    assert [(t.name, t.args) for t in captured_tasks] == [("notes.main.greet", ("ada",))]
    assert captured_tasks[0].request_id == answer.headers["x-request-id"]
    assert run_tasks() == ["hello ada"]


def test_captured_logs(client, captured_logs):
    answer = register(client, "logged@example.com", SECRET)
    assert answer.status_code == 201
    access = captured_logs.where(event="request", path="/auth/register")
    assert [line["request_id"] for line in access] == [answer.headers["x-request-id"]]
    assert SECRET not in captured_logs.text


def test_metrics(client, metrics):
    before = metrics("http_requests_total", method="GET", endpoint="/emails", status="200") or 0
    client.get("/emails")
    after = metrics("http_requests_total", method="GET", endpoint="/emails", status="200")
    assert after == before + 1
'''


@dataclass
class Project:
    venv: Venv
    root: Path

    def pytest(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv.python), "-m", "pytest", "-q", *args],
            cwd=self.root,
            env=self.venv.environ(**env),
            capture_output=True,
            text=True,
            timeout=900,
        )


@pytest.fixture(scope="module")
def project(venv_factory: Any) -> Project:
    venv: Venv = venv_factory("app-fixtures")
    venv.install(*RISO, *TOOLS)
    root = venv.app_dir.parent / "notes-app"
    (root / "src" / "notes").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "notes" / "__init__.py").write_text("")
    (root / "src" / "notes" / "main.py").write_text(MAIN_PY)
    (root / "tests" / "test_app.py").write_text(TESTS_PY)
    return Project(venv, root)


def passed(proc: subprocess.CompletedProcess[str]) -> int:
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    found = re.search(r"(\d+) passed", proc.stdout)
    assert found, proc.stdout
    return int(found.group(1))


TOTAL = TESTS_PY.count("\ndef test_") + TESTS_PY.count("\nasync def test_")


def test_the_suite_passes_on_sqlite_in_random_order(project: Project) -> None:
    for seed in ("1", "2"):
        assert passed(project.pytest("-p", "randomly", f"--randomly-seed={seed}")) == TOTAL


def test_the_suite_passes_on_two_workers(project: Project) -> None:
    assert passed(project.pytest("-n", "2")) == TOTAL


@pytest.mark.parametrize(("server", "service"), SERVERS)
def test_the_suite_passes_on_a_server_twice(
    project: Project, server: str, service: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(service)  # the server answers; the suite gets the server URL itself
    for _run in range(2):
        assert passed(project.pytest("-n", "2", RISO_TEST_DB_URL=server)) == TOTAL
    assert passed(project.pytest("-p", "randomly", RISO_TEST_DB_URL=server)) == TOTAL


def _databases(server: str) -> set[str]:
    if server.startswith("mysql"):
        import pymysql

        parts = urlsplit(server)
        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW DATABASES")
                return {row[0] for row in cursor.fetchall()}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


@pytest.mark.parametrize(("server", "service"), SERVERS)
def test_no_database_is_left_on_the_server(
    project: Project, server: str, service: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(service)
    probe = project.root / "tests" / "test_probe.py"
    probe.write_text(
        "import pathlib\n"
        "def test_probe(riso_db_url):\n"
        f"    pathlib.Path({str(project.root / 'probe.txt')!r}).write_text(riso_db_url)\n"
    )
    try:
        passed(project.pytest("tests/test_probe.py", RISO_TEST_DB_URL=server))
    finally:
        probe.unlink()
    name = (project.root / "probe.txt").read_text().rsplit("/", 1)[1]
    assert name.startswith("riso_")
    assert name not in _databases(server)


def test_insecure_hashing_is_refused_outside_pytest(project: Project) -> None:
    code = textwrap.dedent(
        """\
        import riso_auth
        try:
            riso_auth.AuthSettings()
        except Exception as exc:
            print("refused:", exc)
        else:
            print("accepted")
        """
    )
    proc = subprocess.run(
        [str(project.venv.python), "-c", code],
        cwd=project.root,
        env=project.venv.environ(RISO_AUTH_INSECURE_TEST_HASHING="true"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "refused:" in proc.stdout, proc.stdout + proc.stderr
    assert "RISO_AUTH_INSECURE_TEST_HASHING" in proc.stdout


@pytest.mark.slow
def test_measure_two_hundred_users_fast_and_production_hashing(project: Project) -> None:
    """200 ``make_user`` calls in one test: the plugin's hashing against production's."""
    times: dict[str, float] = {}
    for label, value in (("fast", "true"), ("production", "false")):
        started = time.perf_counter()
        passed(
            project.pytest(
                "-p",
                "no:randomly",
                "-k",
                "not cheapest",  # asserts the plugin's parameters
                MAKE_USERS="200",
                RISO_AUTH_INSECURE_TEST_HASHING=value,
            )
        )
        times[label] = time.perf_counter() - started
    print(f"\n200 make_user suite wall time: {times}")
    assert times["fast"] < times["production"]
