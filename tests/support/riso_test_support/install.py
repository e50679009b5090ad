"""The real user path: fresh virtual environments holding only the built wheels.

(The fixtures around these helpers are in ``tests/install/conftest.py``.)

Nothing here uses the workspace virtual environment's packages: every case
creates its own venv with ``uv venv``, installs wheels built by
``scripts/build_all.py`` (third-party dependencies from the package index,
through uv's global cache, so repeats are fast), writes a small app that calls
``riso.include(app)``, runs the venv's own ``riso`` console script and serves
the app with the venv's own uvicorn on a free loopback port.

Wheels are built once per session into ``.cache/wheels`` under the repository
root (git-ignored); build_all skips packages whose wheel is newer than every
source file, so a re-run costs a few stat calls.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from riso.testing import ServerProcess, clean_environ

ROOT = Path(__file__).resolve().parents[3]
WHEELHOUSE = ROOT / ".cache" / "wheels"
UVICORN = "uvicorn>=0.30,<1"

#: distribution -> (import package, CLI module or None)
IMPORTS: dict[str, tuple[str, str | None]] = {
    "riso-core": ("riso", "riso._cli"),
    "riso-db": ("riso_db", "riso_db._cli"),
    "riso-auth": ("riso_auth", "riso_auth._cli"),
    "riso-health": ("riso_health", None),
    "riso-obs": ("riso_obs", None),
    "riso-tasks": ("riso_tasks", "riso_tasks._cli"),
}
ALL_DISTS = tuple(IMPORTS)

#: the app every case serves: its own route, then riso.include (discovery)
MAIN_PY = textwrap.dedent(
    '''\
    """A user's app: its own route, and every installed riso feature."""

    from fastapi import FastAPI

    import riso

    app = FastAPI()


    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}


    riso.include(app)
    '''
)
#: added to MAIN_PY (before riso.include) when riso-tasks is installed: a task
#: that records the request id it ran under in a file beside the app
TASKS_PY = textwrap.dedent(
    """\

    from pathlib import Path

    import riso_tasks


    @riso_tasks.task()
    def touch(name: str) -> None:
        marker = Path(__file__).parent / f"marker-{name}"
        marker.write_text(str(riso.current_request_id()))


    @app.post("/touch/{name}", status_code=202)
    async def start_touch(name: str) -> dict[str, str]:
        result = await riso_tasks.enqueue(touch, name)
        return {"task_id": result.id}

    """
)
PYPROJECT = '[project]\nname = "user-app"\nversion = "0"\n\n[tool.riso]\napp = "main:app"\n'


def tree_head(distribution: str) -> str:
    """The head revision of a package's migration tree in the working tree.

    Read from the revision files (``revision`` / ``down_revision``), so a test
    does not name a revision that the next migration makes stale.
    """
    module = distribution.replace("-", "_")
    folder = ROOT / "packages" / distribution / "src" / module / "migrations"
    revisions: dict[str, str | None] = {}
    for path in folder.glob("v*.py"):
        text = path.read_text(encoding="utf-8")
        revision = re.search(r'^revision = "([^"]+)"', text, re.M)
        down = re.search(r'^down_revision = "([^"]+)"', text, re.M)
        assert revision, f"{path}: no revision id"
        revisions[revision.group(1)] = down.group(1) if down else None
    heads = set(revisions) - set(revisions.values())
    assert len(heads) == 1, f"{distribution}: not one head: {sorted(heads)}"
    return heads.pop()


def uv() -> str:
    found = shutil.which(os.environ.get("UV", "")) or shutil.which(str(ROOT / ".tools/bin/uv"))
    found = found or shutil.which("uv")
    if not found:
        pytest.fail("uv not found (run `make sync`, it bootstraps .tools/bin/uv)", pytrace=False)
    return found


def clean_env(venv: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without riso's variables, the workspace venv or PYTHONPATH."""
    env = {
        k: v
        for k, v in clean_environ().items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH"} and not k.startswith("PYTEST_")
    }
    env["PYTHONUNBUFFERED"] = "1"
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed ({proc.returncode}): {' '.join(str(a) for a in argv)}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc


@dataclass
class Venv:
    """A fresh virtual environment and a user's app folder beside it."""

    path: Path
    app_dir: Path
    find_links: list[Path]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def environ(self, **extra: str) -> dict[str, str]:
        return clean_env(self.path, {**self.env, **extra})

    def install(self, *requirements: str, resolution: str | None = None) -> str:
        """``uv pip install`` into this venv from the built wheels and the package index.

        ``requirements`` may carry uv options too (``--upgrade-package riso-auth``).
        """
        argv: list[str | Path] = [uv(), "pip", "install", "--python", self.python]
        for folder in self.find_links:
            argv += ["--find-links", folder]
        for dist in ALL_DISTS:
            # uv's cache knows a wheel by name and version only: a rebuilt
            # riso_obs-0.1.0 would otherwise install the stale cached copy
            argv += ["--refresh-package", dist]
        if resolution:
            argv += ["--resolution", resolution]
        proc = run([*argv, *requirements], env=clean_env())
        return proc.stderr

    def python_json(self, code: str) -> Any:
        """Run ``code`` in the venv's interpreter (cwd: the app); it prints one JSON value."""
        proc = run([self.python, "-c", code], cwd=self.app_dir, env=self.environ())
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def riso(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The venv's ``riso`` console script, run from the app folder."""
        return run([self.bin("riso"), *args], cwd=self.app_dir, env=self.environ(), check=check)

    def distributions(self) -> dict[str, dict[str, Any]]:
        """Installed distribution (normalized name) -> {"version", "record"}.

        ``record`` holds the RECORD lines outside the .dist-info folder and
        without the console scripts uv generates at install time.
        """
        code = textwrap.dedent(
            """\
            import json, importlib.metadata as m, re
            out = {}
            for d in m.distributions():
                lines = (d.read_text("RECORD") or "").splitlines()
                out[re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()] = {
                    "version": d.version,
                    "record": [
                        ln for ln in lines
                        if ln and ".dist-info/" not in ln.split(",")[0] and not ln.startswith("..")
                    ],
                }
            print(json.dumps(out))
            """
        )
        return dict(self.python_json(code))


def wheel_records(wheel: Path) -> set[str]:
    """A wheel's RECORD lines outside its .dist-info folder."""
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        lines = zf.read(record).decode("utf-8").splitlines()
    return {ln for ln in lines if ln and ".dist-info/" not in ln.split(",")[0]}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def serve(venv: Venv, *, ready_path: str = "/hello", timeout: float = 60) -> Iterator[Server]:
    """uvicorn from the venv on a free loopback port; always terminated."""
    argv = [str(venv.bin("uvicorn")), "main:app", "--host", "{host}", "--port", "{port}"]
    log = venv.app_dir / f"uvicorn-{uuid.uuid4().hex[:6]}.log"
    process = ServerProcess(
        argv,
        env=venv.environ(),
        cwd=venv.app_dir,
        ready_path=ready_path,
        timeout=timeout,
        log_path=log,
    )
    try:
        process.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield Server(process.base_url, process.proc, log)
    finally:
        process.stop(timeout=15)


def write_app(app_dir: Path, *, tasks: bool = False) -> None:
    app_dir.mkdir(parents=True, exist_ok=True)
    main = MAIN_PY
    if tasks:
        head, include = main.rsplit("\n\nriso.include(app)\n", 1)
        main = f"{head}\n{TASKS_PY}\nriso.include(app)\n{include}"
    (app_dir / "main.py").write_text(main, encoding="utf-8")
    (app_dir / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")


def make_venv(base: Path, find_links: Sequence[Path]) -> Venv:
    """``uv venv`` (with this interpreter's Python version) plus an app folder."""
    path = base / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, path], env=clean_env())
    venv = Venv(path=path, app_dir=base / "app", find_links=list(find_links))
    write_app(venv.app_dir)
    return venv


def register_and_login(client: httpx.Client, email: str, password: str) -> str:
    """POST /auth/register, POST /auth/token, GET /auth/me; returns the access token."""
    created = client.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == email
    return login(client, email, password)


def login(client: httpx.Client, email: str, password: str) -> str:
    token = client.post("/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "bearer"
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    return str(body["access_token"])
