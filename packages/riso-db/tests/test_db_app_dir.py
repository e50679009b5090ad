"""The app's folder (where its ``migrations/`` live) is found without reading call frames."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import click
import pytest
from fastapi import FastAPI

import riso
import riso_db
from riso_db._migrations._app_dir import find_app_dir
from riso_db._migrations._trees import app_migrations_dir

Write = Callable[[str, str], ModuleType]


@pytest.fixture
def write_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], ModuleType]]:
    """``write_module("folder", source)``: a new module in ``tmp_path/folder``, imported."""
    monkeypatch.delenv("RISO_APP", raising=False)
    monkeypatch.delenv("RISO_DB_MIGRATIONS", raising=False)
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.chdir(tmp_path)  # no pyproject.toml with [tool.riso] app above it
    names: list[str] = []

    def write(folder: str, source: str) -> ModuleType:
        name = f"appdir_{uuid.uuid4().hex[:8]}"
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{name}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path / folder))
        names.append(name)
        return importlib.import_module(name)

    yield write
    for name in names:
        sys.modules.pop(name, None)


INCLUDED_AT_IMPORT = (
    "import riso, riso_db\nfrom fastapi import FastAPI\n"
    "app = FastAPI()\nriso.include(app, features=[riso_db.feature])\n"
)


def test_an_app_included_at_import_is_beside_its_module(
    write_module: Write, tmp_path: Path
) -> None:
    module = write_module("project", INCLUDED_AT_IMPORT)
    assert riso_db.database(module.app).app_dir == tmp_path / "project"
    assert app_migrations_dir(module.app) == tmp_path / "project" / "migrations"


def test_an_app_from_a_factory_is_found_once_its_module_holds_it(
    write_module: Write, tmp_path: Path
) -> None:
    """riso.include ran inside the factory: no module held the app yet, one does later."""
    factory = write_module(
        "lib",
        "import riso, riso_db\nfrom fastapi import FastAPI\n"
        "def create_app():\n"
        "    app = FastAPI()\n"
        "    riso.include(app, features=[riso_db.feature])\n"
        "    return app\n",
    )
    main = write_module(
        "project", f"import {factory.__name__}\napp = {factory.__name__}.create_app()\n"
    )
    assert riso_db.database(main.app).app_dir is None
    assert app_migrations_dir(main.app) == tmp_path / "project" / "migrations"


def test_the_module_the_app_spec_names_wins(
    write_module: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two modules hold the app: the spec's module counts, else the first imported."""
    earlier = write_module("elsewhere", "app = None\n")
    main = write_module("project", INCLUDED_AT_IMPORT)
    earlier.app = main.app
    assert find_app_dir(main.app) == tmp_path / "elsewhere"
    monkeypatch.setenv("RISO_APP", f"{main.__name__}:app")
    assert find_app_dir(main.app) == tmp_path / "project"
    # the spec names another object: not taken for this app
    monkeypatch.setenv("RISO_APP", f"{main.__name__}:riso")
    assert find_app_dir(main.app) == tmp_path / "elsewhere"


def test_a_running_riso_command_counts_its_app_option(
    write_module: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riso._cli import cli
    from riso._cli_support import CliState

    earlier = write_module("elsewhere", "app = None\n")
    main = write_module("project", INCLUDED_AT_IMPORT)
    earlier.app = main.app
    monkeypatch.setenv("RISO_APP", f"{earlier.__name__}:app")
    with click.Context(cli, obj=CliState(f"{main.__name__}:app")):
        assert find_app_dir(main.app) == tmp_path / "project"
    assert find_app_dir(main.app) == tmp_path / "elsewhere"


def test_an_app_no_module_holds_uses_the_working_directory(
    write_module: Write, tmp_path: Path
) -> None:
    app = FastAPI()
    riso.include(app, features=[riso_db.feature])
    assert riso_db.database(app).app_dir is None
    assert find_app_dir(app) is None
    assert app_migrations_dir(app) == tmp_path / "migrations"


def test_riso_db_migrations_decides_first(
    write_module: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_DB_MIGRATIONS", str(tmp_path / "chosen"))
    module = write_module("project", INCLUDED_AT_IMPORT)
    assert app_migrations_dir(module.app) == tmp_path / "chosen"
