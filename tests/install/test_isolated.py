"""Each package installs alone, with its declared siblings, or as the full set.

For every case a fresh venv holds only the wheels the user named (plus what
their metadata pulls in), the app is ``main.py`` calling ``riso.include(app)``
(discovery, no explicit feature list: exactly what a user writes), and the
checks run the venv's ``riso`` console script and a real uvicorn over HTTP.
A case's venv, migrations and server are shared by the tests that only read
them (one venv per case per session).
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from riso_test_support import install as helpers

ABSENT = 404
#: distribution -> the version its pyproject in this tree declares
TREE_VERSIONS = {
    data["project"]["name"]: data["project"]["version"]
    for data in (
        tomllib.loads(path.read_text(encoding="utf-8"))
        for path in (Path(__file__).resolve().parents[2] / "packages").glob("*/pyproject.toml")
    )
}


@dataclass(frozen=True)
class Case:
    id: str
    #: what the user names on the pip command line
    install: tuple[str, ...]
    #: the riso distributions that must end up installed (declared dependencies included)
    installed: tuple[str, ...]
    #: `riso features`, in start order
    features: tuple[str, ...]
    #: path -> status served by the app
    status: dict[str, int] = field(default_factory=dict)

    @property
    def has(self) -> frozenset[str]:
        return frozenset(self.installed)


def statuses(**present: int) -> dict[str, int]:
    table = {"/hello": 200, "/health": ABSENT, "/ready": ABSENT, "/metrics": ABSENT}
    table["/auth/me"] = ABSENT
    table.update({"/" + k.replace("_", "/"): v for k, v in present.items()})
    return table


FULL = ("riso-core", "riso-db", "riso-auth", "riso-health", "riso-obs", "riso-tasks")
CASES = [
    Case("core", ("riso-core",), ("riso-core",), (), statuses()),
    Case("db", ("riso-db",), ("riso-core", "riso-db"), ("db",), statuses()),
    Case(
        "db+auth",
        ("riso-db", "riso-auth"),
        ("riso-core", "riso-db", "riso-auth"),
        ("db", "auth"),
        statuses(auth_me=401),
    ),
    # naming riso-auth alone must pull riso-db in through its declared dependency
    Case("auth", ("riso-auth",), ("riso-core", "riso-db", "riso-auth"), ("db", "auth")),
    Case(
        "health",
        ("riso-health",),
        ("riso-core", "riso-health"),
        ("health",),
        statuses(health=200, ready=200),
    ),
    Case("obs", ("riso-obs",), ("riso-core", "riso-obs"), ("obs",), statuses(metrics=200)),
    Case("tasks", ("riso-tasks",), ("riso-core", "riso-tasks"), ("tasks",), statuses()),
    Case(
        "full",
        FULL,
        FULL,
        ("db", "auth", "health", "obs", "tasks"),
        statuses(health=200, ready=200, metrics=200, auth_me=401),
    ),
]
SERVED = [c for c in CASES if c.status]


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]


class Deployment:
    """A case's venv, its migrated database and (on first use) its running server."""

    def __init__(self, case: Case, venv: Any, stack: ExitStack):
        self.case, self.venv, self._stack = case, venv, stack
        self._server: Any = None
        self._upgrade_output: str | None = None

    @property
    def upgrade_output(self) -> str:
        """`riso db upgrade` on the embedded default (sqlite:///./riso.db in the app folder)."""
        if self._upgrade_output is None:
            self._upgrade_output = self.venv.riso("db", "upgrade").stdout
        return self._upgrade_output

    @property
    def server(self) -> Any:
        if self._server is None:
            if "riso-db" in self.case.has:
                assert self.upgrade_output is not None
            self._server = self._stack.enter_context(helpers.serve(self.venv))
        return self._server


@pytest.fixture(scope="session")
def deployments(venv_factory: Any) -> Iterator[dict[str, Any]]:
    cache: dict[str, Deployment] = {}
    with ExitStack() as stack:

        def get(case: Case) -> Deployment:
            if case.id not in cache:
                venv = venv_factory(f"install-{re.sub(r'[^a-z]+', '-', case.id)}")
                venv.install(*case.install, helpers.UVICORN)
                if "riso-tasks" in case.has:
                    helpers.write_app(venv.app_dir, tasks=True)
                cache[case.id] = Deployment(case, venv, stack)
            return cache[case.id]

        yield {"get": get}


def deploy(deployments: dict[str, Any], case: Case) -> Deployment:
    result: Deployment = deployments["get"](case)
    return result


@pytest.mark.parametrize("case", params(CASES))
def test_installs_exactly_the_named_wheels_and_their_declared_siblings(
    case: Case, deployments: dict[str, Any], wheels: dict[str, Path]
) -> None:
    venv = deploy(deployments, case).venv
    riso = {name: d for name, d in venv.distributions().items() if name.startswith("riso-")}
    assert set(riso) == case.has
    for name, dist in riso.items():
        # the installed files are the wheel's, byte for byte (hashes in RECORD):
        # nothing came from the workspace, a stale cache or an index under the same name
        assert set(dist["record"]) == helpers.wheel_records(wheels[name]), name


@pytest.mark.parametrize("case", params(CASES))
def test_imports_no_sibling_it_does_not_declare(case: Case, deployments: dict[str, Any]) -> None:
    """Each installed package (and its CLI) imports; each absent one is really absent."""
    venv = deploy(deployments, case).venv
    modules = {dist: [m for m in helpers.IMPORTS[dist] if m] for dist in helpers.ALL_DISTS}
    code = (
        "import importlib, json\n"
        f"modules = {modules!r}\n"
        "out = {}\n"
        "for dist, names in modules.items():\n"
        "    for name in names:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "            out[name] = 'ok'\n"
        "        except ModuleNotFoundError as exc:\n"
        "            out[name] = 'missing ' + str(exc.name)\n"
        "        except Exception as exc:\n"
        "            out[name] = 'error ' + type(exc).__name__ + ': ' + str(exc)\n"
        "print(json.dumps(out))\n"
    )
    result: dict[str, str] = venv.python_json(code)
    expected = {}
    for dist, names in modules.items():
        top = helpers.IMPORTS[dist][0]
        for name in names:
            expected[name] = "ok" if dist in case.has else f"missing {top}"
    assert result == expected


@pytest.mark.parametrize("case", params(CASES))
def test_riso_features_lists_exactly_the_installed_features(
    case: Case, deployments: dict[str, Any]
) -> None:
    out = deploy(deployments, case).venv.riso("features").stdout
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    assert lines[0][:2] == ["NAME", "VERSION"]
    assert tuple(row[0] for row in lines[1:]) == case.features
    for row in lines[1:]:
        assert row[1] == TREE_VERSIONS[row[2]]  # the version built from this tree
        assert row[-1] == "enabled"


@pytest.mark.parametrize("case", params([c for c in SERVED if "riso-db" in c.has]))
def test_db_upgrade_then_current_and_check_pass(case: Case, deployments: dict[str, Any]) -> None:
    deployment = deploy(deployments, case)
    venv = deployment.venv
    if "riso-auth" in case.has:
        assert f"auth: (empty) -> {helpers.tree_head('riso-auth')}" in deployment.upgrade_output
    current = venv.riso("db", "current").stdout
    trees = {ln.split()[0]: ln for ln in current.splitlines()[1:] if ln.strip()}
    assert set(trees) == ({"auth", "app"} if "riso-auth" in case.has else {"app"})
    assert all(ln.rstrip().endswith("at head") for ln in trees.values()), current
    assert venv.riso("db", "check", check=False).returncode == 0


@pytest.mark.parametrize("case", params(SERVED))
def test_http_surface_is_exactly_the_installed_features(
    case: Case, deployments: dict[str, Any]
) -> None:
    server = deploy(deployments, case).server
    with server.client() as client:
        got = {path: client.get(path) for path in case.status}
    assert {path: r.status_code for path, r in got.items()} == case.status, server.output()
    assert got["/hello"].json() == {"hello": "world"}
    for path, response in got.items():
        # obs puts a request id on every response, 404s included; nothing else does
        assert ("x-request-id" in response.headers) == ("riso-obs" in case.has), path
        if response.status_code >= 400:
            assert "detail" in response.json(), path
    if "riso-health" in case.has:
        assert got["/ready"].headers["content-type"].startswith("application/health+json")
        assert got["/ready"].json()["status"] in {"pass", "ok", "up", "healthy"}
    if "riso-obs" in case.has:
        metrics = got["/metrics"]
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "# HELP " in metrics.text
        assert "# TYPE " in metrics.text
        with server.client() as client:
            echoed = client.get("/hello", headers={"X-Request-ID": "install-test-1"})
        assert echoed.headers["x-request-id"] == "install-test-1"


@pytest.mark.parametrize("case", params([c for c in SERVED if "riso-auth" in c.has]))
def test_register_login_and_me_over_http(case: Case, deployments: dict[str, Any]) -> None:
    server = deploy(deployments, case).server
    with server.client() as client:
        email = f"user-{case.id.replace('+', '-')}@example.com"
        helpers.register_and_login(client, email, "correct horse battery staple 42")
        duplicate = client.post(
            "/auth/register", json={"email": email, "password": "another long passphrase 42"}
        )
        assert 400 <= duplicate.status_code < 500
        assert "detail" in duplicate.json()
        wrong = client.post("/auth/token", data={"username": email, "password": "wrong password"})
        assert wrong.status_code in {400, 401}
        assert "detail" in wrong.json()


def test_tasks_cli_is_installed_with_riso_tasks(deployments: dict[str, Any]) -> None:
    tasks = deploy(deployments, next(c for c in CASES if c.id == "tasks")).venv
    out = tasks.riso("tasks", "--help").stdout
    assert "worker" in out
    core = deploy(deployments, next(c for c in CASES if c.id == "core")).venv
    missing = core.riso("tasks", "--help", check=False)
    assert missing.returncode != 0


@pytest.mark.parametrize("case", params([c for c in SERVED if "riso-tasks" in c.has]))
def test_task_enqueued_over_http_runs_on_the_embedded_broker(
    case: Case, deployments: dict[str, Any]
) -> None:
    """No broker configured: the task really runs, in the background, in the app's process.

    With riso-obs installed the request id of the enqueuing request reaches the
    task (riso-tasks propagates riso.request_id_var); without it there is none.
    """
    deployment = deploy(deployments, case)
    server = deployment.server
    marker = deployment.venv.app_dir / "marker-install"
    with server.client() as client:
        response = client.post("/touch/install", headers={"X-Request-ID": "install-task-1"})
    assert response.status_code == 202, response.text
    assert response.json()["task_id"]
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the task never ran:\n{server.output()}"
    expected = "install-task-1" if "riso-obs" in case.has else "None"
    # written by the task, possibly still being written: read until complete
    while marker.read_text() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == expected
