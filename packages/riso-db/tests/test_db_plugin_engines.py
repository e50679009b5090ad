"""The plugin's rollback on each engine: a project's own suite, run by pytest in a subprocess.

The project beside the test has an app (riso-db, the widgets feature and
endpoints of its own, async and sync) and a ``tests/`` written with the
plugin's fixtures only. It runs on SQLite, PostgreSQL and MariaDB
(``RISO_TEST_DB_URL`` naming the server), on two xdist workers, then again on
the same server with its tests in the reverse order: every test finds the
tables empty, whatever the others committed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from riso.testing import clean_environ

WIDGETS = Path(__file__).parent / "testfeat" / "v2"  # riso_testfeat_widgets' source

PYPROJECT = """\
[project]
name = "widget-app"
version = "0"

[tool.riso]
app = "widgetapp:app"

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["--strict-markers", "-p", "no:cacheprovider"]
asyncio_default_fixture_loop_scope = "function"
"""

APP_PY = '''\
"""A user's app on riso-db: widgets written by async and sync endpoints."""

from fastapi import FastAPI
from sqlalchemy import select

import riso
import riso_db
from riso_testfeat_widgets import Widget, feature as widgets

app = FastAPI()
riso.include(app, features=[riso_db.feature, widgets])


@app.post("/widgets", status_code=201)
async def add(name: str, session: riso_db.DbSession) -> dict[str, int]:
    widget = Widget(name=name)
    session.add(widget)
    await session.commit()
    return {"id": widget.id}


@app.post("/sync-widgets", status_code=201)
def add_sync(name: str) -> dict[str, int]:
    # a sync endpoint: a worker thread, on the app's sync engine
    with riso_db.database(app).sync_session() as session:
        widget = Widget(name=name)
        session.add(widget)
        session.commit()
        return {"id": widget.id}


@app.get("/widgets")
async def names(session: riso_db.DbSession) -> list[str]:
    return list(await session.scalars(select(Widget.name).order_by(Widget.name)))
'''

CONFTEST_PY = """\
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _record_the_database(riso_db_url):
    # for the outer test: which database this worker (or the whole run) used
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(os.environ["PROBE_DIR"], worker).write_text(riso_db_url)
"""

TESTS_PY = '''\
"""The app's tests: each starts from empty tables, whatever the others committed."""

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from riso_testfeat_widgets import Widget


@pytest.fixture
def anyio_backend():
    return "asyncio"


def count(sync_db_session):
    return sync_db_session.scalar(select(func.count()).select_from(Widget))


@pytest.mark.parametrize("run", range(3))
def test_commits_through_the_app_are_rolled_back(client, sync_db_session, run):
    assert count(sync_db_session) == 0
    assert client.get("/widgets").json() == []
    assert client.post("/widgets", params={"name": f"a{run}"}).status_code == 201
    assert client.post("/sync-widgets", params={"name": f"s{run}"}).status_code == 201
    sync_db_session.add(Widget(name=f"t{run}"))
    sync_db_session.commit()
    assert client.get("/widgets").json() == [f"a{run}", f"s{run}", f"t{run}"]


@pytest.mark.anyio
async def test_client_writes_are_seen_by_db_session(client, db_session):
    created = client.post("/widgets", params={"name": "written"}).json()
    widget = await db_session.scalar(select(Widget).where(Widget.name == "written"))
    assert widget is not None and widget.id == created["id"]
    assert await db_session.scalar(select(func.count()).select_from(Widget)) == 1


@pytest.mark.anyio
async def test_db_session_writes_are_seen_by_async_client(async_client, db_session):
    assert (await async_client.get("/widgets")).json() == []
    db_session.add(Widget(name="seeded"))
    await db_session.commit()
    assert (await async_client.get("/widgets")).json() == ["seeded"]
    created = (await async_client.post("/widgets", params={"name": "served"})).json()
    assert await db_session.get(Widget, created["id"]) is not None


@pytest.mark.anyio
async def test_db_session_writes_are_seen_by_the_sync_client(client, db_session):
    db_session.add(Widget(name="uncommitted"))
    await db_session.flush()  # not even committed: one connection, one transaction
    assert client.get("/widgets").json() == ["uncommitted"]


def test_sync_db_session_and_async_client(sync_db_session, client):
    sync_db_session.add(Widget(name="synced"))
    sync_db_session.commit()
    assert client.get("/widgets").json() == ["synced"]
    client.post("/sync-widgets", params={"name": "sync-endpoint"})
    assert count(sync_db_session) == 2


@pytest.mark.anyio
async def test_async_client_and_sync_db_session(async_client, sync_db_session):
    await async_client.post("/widgets", params={"name": "from-async"})
    assert sync_db_session.scalar(select(Widget.name)) == "from-async"


@pytest.mark.anyio
async def test_concurrent_requests_share_the_connection(async_client, db_session):
    import asyncio

    names = [f"c{n}" for n in range(5)]
    answers = await asyncio.gather(
        *(async_client.post("/widgets", params={"name": name}) for name in names)
    )
    assert [answer.status_code for answer in answers] == [201] * 5
    assert sorted(await db_session.scalars(select(Widget.name))) == names


@pytest.mark.anyio
async def test_rows_streamed_on_the_app_s_connection(async_client, db_session):
    for name in ("b", "a"):
        await async_client.post("/widgets", params={"name": name})
    result = await db_session.stream_scalars(select(Widget.name).order_by(Widget.name))
    assert [name async for name in result] == ["a", "b"]


def test_a_failed_statement_keeps_what_was_written_before(client, sync_db_session):
    first = client.post("/widgets", params={"name": "kept"}).json()["id"]
    with pytest.raises(IntegrityError):
        sync_db_session.execute(insert(Widget).values(id=first, name="duplicate"))
    sync_db_session.rollback()  # back to the session's savepoint only
    assert client.get("/widgets").json() == ["kept"]


def test_a_rolled_back_session_keeps_the_app_s_commits(client, sync_db_session):
    client.post("/widgets", params={"name": "app"})
    sync_db_session.add(Widget(name="discarded"))
    sync_db_session.flush()
    sync_db_session.rollback()
    assert client.get("/widgets").json() == ["app"]


'''


SCHEMA_TEST_PY = """\
from sqlalchemy import text


def test_changes_the_schema(client, sync_db_session):
    client.post("/widgets", params={"name": "before"})
    sync_db_session.execute(text("CREATE TABLE scratch (id INT)"))
"""


@dataclass
class Project:
    root: Path
    probes: Path

    def pytest(self, *args: str, server: str) -> subprocess.CompletedProcess[str]:
        env = clean_environ()
        env.update(
            PYTHONPATH=str(WIDGETS),
            PROBE_DIR=str(self.probes),
            RISO_TEST_DB_URL=server,
        )
        if not server:
            del env["RISO_TEST_DB_URL"]
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def databases(self) -> set[str]:
        """The test databases the last run recorded, one per worker."""
        found = {path.read_text() for path in self.probes.iterdir()}
        for path in self.probes.iterdir():
            path.unlink()
        return found


def passed(proc: subprocess.CompletedProcess[str]) -> int:
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    found = re.search(r"(\d+) passed", proc.stdout)
    assert found, proc.stdout
    return int(found.group(1))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "widget-app"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "widgetapp.py").write_text(APP_PY)
    (root / "tests" / "conftest.py").write_text(CONFTEST_PY)
    (root / "tests" / "test_widgets.py").write_text(TESTS_PY)
    probes = tmp_path / "probes"
    probes.mkdir()
    return Project(root, probes)


def _server_databases(server: str) -> set[str]:
    if server.startswith("mysql"):
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(server)
        conn = pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root"
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


TOTAL = (
    TESTS_PY.count("\ndef test_") + TESTS_PY.count("\nasync def test_") + 2
)  # the parametrized one: 3 cases


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> str:
    """``RISO_TEST_DB_URL`` for the project's suite: empty for SQLite, else a server.

    The URL of this session's scratch database names its server; the project's
    plugin creates databases of its own beside it.
    """
    if request.param == "sqlite":
        return ""
    fixture = "postgres_url" if request.param == "postgresql" else "mariadb_url"
    return str(request.getfixturevalue(fixture))


def test_the_suite_passes_twice_on_each_engine(project: Project, server: str) -> None:
    assert passed(project.pytest("-n", "2", server=server)) == TOTAL
    first = project.databases()
    assert len(first) == 2  # one database per worker
    # again on the same server, every test in the reverse order
    collected = project.pytest("--collect-only", server=server).stdout.splitlines()
    ids = [line for line in collected if "::" in line]
    assert len(ids) == TOTAL
    assert passed(project.pytest(*reversed(ids), server=server)) == TOTAL
    (second,) = project.databases()
    assert second not in first
    if server:
        names = {url.rsplit("/", 1)[1] for url in {*first, second}}
        assert all(name.startswith("riso_") for name in names)
        assert not names & _server_databases(server)  # each dropped at the end of its run


def test_a_schema_change_in_a_test_fails_it_clearly_on_mariadb(
    project: Project, mariadb_url: str
) -> None:
    # MySQL commits DDL implicitly: the test's writes cannot be rolled back, and it says so
    (project.root / "tests" / "test_schema.py").write_text(SCHEMA_TEST_PY)
    proc = project.pytest("tests/test_schema.py", server=mariadb_url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed, 1 error" in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if "ended the test's transaction" in line]
    assert lines, proc.stdout  # the error, and again in the summary
    assert all("CREATE, ALTER, DROP, TRUNCATE" in line for line in lines)
    print(proc.stdout)
    assert "Traceback" not in proc.stdout


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ("mysql://nobody:hunter2@127.0.0.1:3306/x", "Access denied for user 'nobody'"),
        ("postgresql://nobody:hunter2@127.0.0.1:1/x", "connection failed"),
        ("redis://127.0.0.1:6379/0", "needs a postgresql:// or mysql:// URL"),
    ],
)
def test_a_server_that_cannot_be_used_is_one_line(
    project: Project, server: str, reason: str, request: pytest.FixtureRequest
) -> None:
    if server.startswith("mysql"):
        request.getfixturevalue("mariadb_url")  # the server answers, and refuses nobody
    proc = project.pytest(server=server)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # a usage error
    output = proc.stdout + proc.stderr
    (line,) = [line for line in output.splitlines() if "cannot create a test database" in line]
    assert line.startswith("ERROR: RISO_TEST_DB_URL: ")
    assert reason in line
    assert "hunter2" not in output
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
