"""Fixtures for riso-db's own tests: one fresh database per test on each engine."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import riso
import riso_db
from riso.testing import fresh_database

HERE = Path(__file__).parent
REPO = HERE.parents[2]
TESTFEAT = HERE / "testfeat"
BACKENDS = ["sqlite", "postgresql", "mysql"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new empty database of ``kind`` for one test."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        server = request.getfixturevalue("postgres_url" if kind == "postgresql" else "mariadb_url")
        with fresh_database(server) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each engine (SQLite, PostgreSQL, MariaDB)."""
    yield from fresh_url(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def transactional_ddl_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each engine whose DDL is transactional."""
    yield from fresh_url(request.param, request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_url("postgresql", request, tmp_path)


def _make_app(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    *,
    migrations: Path | None = None,
    features: tuple[riso.Feature[Any], ...] = (),
    **env: str,
) -> FastAPI:
    monkeypatch.setenv("RISO_DB_URL", url)
    if migrations is not None:
        monkeypatch.setenv("RISO_DB_MIGRATIONS", str(migrations))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, *features])
    return app


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FastAPI]:
    """``make_app(url, migrations=None, features=(), **env)``: an included app."""

    def make(url: str, **kwargs: Any) -> FastAPI:
        return _make_app(monkeypatch, url, **kwargs)

    return make


# -- the test feature distribution, built and installed for real ------------------------------


def build_wheel(version: str, out: Path) -> Path:
    """A wheel of riso-testfeat-widgets ``version`` (v1 or v2), built without a backend."""
    src = TESTFEAT / version
    metadata = (src / "METADATA").read_text()
    number = next(
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Version")
    )
    dist_info = f"riso_testfeat_widgets-{number}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((src / "riso_testfeat_widgets").rglob("*.py")):
        files[path.relative_to(src).as_posix()] = path.read_bytes()
    files[f"{dist_info}/METADATA"] = metadata.encode()
    files[f"{dist_info}/entry_points.txt"] = (TESTFEAT / "entry_points.txt").read_bytes()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: riso-db-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"riso_testfeat_widgets-{number}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


class Environment:
    """A throwaway virtual environment that also sees the workspace's packages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True
        )
        self.python = root / "venv" / "bin" / "python"
        site = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        parent = sysconfig.get_paths()["purelib"]
        Path(site, "_riso_workspace.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
        self.uv = REPO / ".tools" / "bin" / "uv"
        if not self.uv.exists():
            found = shutil.which("uv")
            if found is None:
                pytest.fail("uv is needed to install the test feature (make sync bootstraps it)")
            self.uv = Path(found)

    def install(self, wheel: Path) -> None:
        subprocess.run(
            [
                str(self.uv),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(self.python),
                "--no-deps",
                "--offline",
                str(wheel),
            ],
            check=True,
        )

    def python_run(
        self, args: list[str], *, env: dict[str, str], cwd: Path
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def environment(tmp_path: Path) -> Environment:
    return Environment(tmp_path)


@pytest.fixture
def wheel(tmp_path: Path) -> Callable[[str], Path]:
    """``wheel("v1")``: the path of a freshly built riso-testfeat-widgets wheel."""
    return lambda version: build_wheel(version, tmp_path)


@pytest.fixture(scope="session")
def riso_db_features() -> list[riso.Feature[Any]]:
    """The plugin's db_engine migrates riso-db plus the widgets test feature (v2)."""
    return [riso_db.feature, widgets_feature()]


def widgets_feature() -> riso.Feature[Any]:
    """riso-testfeat-widgets 2.0.0 imported from its source folder."""
    folder = str(TESTFEAT / "v2")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import riso_testfeat_widgets

    feature: riso.Feature[Any] = riso_testfeat_widgets.feature
    return feature


@pytest.fixture
def widgets() -> riso.Feature[Any]:
    return widgets_feature()
