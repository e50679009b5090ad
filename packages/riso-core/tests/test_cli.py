"""The real ``riso`` console script, run in a subprocess against small apps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from riso.testing import clean_environ

RISO = shutil.which("riso", path=str(Path(sys.executable).parent))
Run = Callable[..., subprocess.CompletedProcess[str]]

APP = """
from fastapi import FastAPI
import riso

app = FastAPI(debug={debug})
riso.include(app, only={only!r})
not_an_app = "text"
"""

CHECKED_FEATURE = """
import riso
from pydantic_settings import SettingsConfigDict


class FeatureSettings(riso.Settings):
    model_config = SettingsConfigDict(env_prefix="RISO_CHK_")
    level: str = "ok"
    retries: int = 3


def checks(ctx):
    level = ctx.settings["chk"].level
    if level == "warn":
        yield riso.CheckMessage("chk.W001", "a warning", hint="do something")
    if level == "error":
        yield riso.CheckMessage("chk.E001", "an error")
    if ctx.deploy:
        yield riso.CheckMessage("chk.W002", "deploy-only warning")


feature = riso.Feature(
    name="chk", core=">=0.1,<0.2", settings=FeatureSettings, system_checks=[checks]
)
"""


@pytest.fixture
def project(
    tmp_path: Path, install: Callable[..., Path], feature_source: Callable[..., str]
) -> Path:
    """A project folder with an app using two installed test features."""
    site_a = install(
        "riso-chk", "0.3.0", {"chk_feature": CHECKED_FEATURE}, {"chk": "chk_feature:feature"}
    )
    site_b = install(
        "riso-other",
        "1.2.0",
        {"other_feature": feature_source("other", requires=("chk",))},
        {"other": "other_feature:feature"},
    )
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "main.py").write_text(
        APP.format(debug=False, only=["chk", "other"]), encoding="utf-8"
    )
    (tmp_path / "proj" / "debug_app.py").write_text(
        APP.format(debug=True, only=["chk"]), encoding="utf-8"
    )
    (tmp_path / "pythonpath").write_text(os.pathsep.join([str(site_a), str(site_b)]))
    return tmp_path / "proj"


@pytest.fixture
def run(project: Path) -> Run:
    extra_path = (project.parent / "pythonpath").read_text()

    def _run(*args: str, cwd: Path = project, **env: str) -> subprocess.CompletedProcess[str]:
        environ = clean_environ()
        environ["PYTHONPATH"] = extra_path
        environ.update(env)
        assert RISO is not None, "the riso console script is not installed"
        return subprocess.run(
            [RISO, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
        )

    return _run


def test_features_lists_name_version_distribution_order_and_status(run: Run) -> None:
    result = run("--app", "main:app", "features", RISO_DISABLE="")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "ORDER", "STATUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["chk"] == ["chk", "0.3.0", "riso-chk", "0", "enabled"]
    assert rows["other"] == ["other", "1.2.0", "riso-other", "1", "enabled"]


def test_features_shows_why_a_feature_is_disabled(run: Run, project: Path) -> None:
    (project / "partial.py").write_text(APP.format(debug=False, only=["chk"]), encoding="utf-8")
    result = run("--app", "partial:app", "features")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("other"))
    assert row.split(maxsplit=4)[3:] == ["-", "disabled (not in only=)"]


@pytest.mark.parametrize(
    ("env", "args", "exit_code", "expected", "absent"),
    [
        ({}, [], 0, ["System check identified 0 issue(s)."], ["chk."]),
        ({"RISO_CHK_LEVEL": "warn"}, [], 0, ["chk.W001: a warning", "HINT: do something"], []),
        ({"RISO_CHK_LEVEL": "error"}, [], 1, ["chk.E001: an error"], []),
        (
            {"RISO_CHK_LEVEL": "error", "RISO_SILENCED_CHECKS": "chk.E001"},
            [],
            0,
            ["0 issue(s) (1 silenced)"],
            ["chk.E001"],
        ),
        ({}, ["--deploy"], 1, ["core.E001: RISO_ENV is 'development'", "chk.W002"], ["core.E002"]),
        ({"RISO_ENV": "production"}, ["--deploy"], 0, ["chk.W002"], ["core.E001"]),
    ],
)
def test_check_runs_every_feature_check_and_exits_non_zero_on_errors(
    run: Run,
    env: dict[str, str],
    args: list[str],
    exit_code: int,
    expected: list[str],
    absent: list[str],
) -> None:
    result = run("--app", "main:app", "check", *args, **env)
    assert result.returncode == exit_code, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout
    for text in absent:
        assert text not in result.stdout


def test_check_deploy_reports_debug(run: Run) -> None:
    result = run("--app", "debug_app:app", "check", "--deploy", RISO_ENV="production")
    assert result.returncode == 1
    assert "core.E002: the app runs with debug=True" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--app", "nowhere:app"], {}, "cannot import 'nowhere' named by --app"),
        (
            ["--app", "main:missing"],
            {},
            "module 'main' has no attribute 'missing' (named by --app)",
        ),
        (["--app", "main:not_an_app"], {}, "is a str, not a FastAPI app"),
        (["--app", "main"], {}, "--app is 'main', expected 'module:attr'"),
        ([], {"RISO_APP": "nowhere:app"}, "named by RISO_APP"),
        ([], {}, "no application to load: pass --app module:attr, set RISO_APP, or add"),
    ],
)
def test_a_missing_or_wrong_app_is_a_one_line_error(
    run: Run, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run(*args, "features", **env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riso: error: ")
    assert message in lines[0]


def test_app_is_found_from_the_nearest_pyproject(run: Run, project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.riso]\napp = "main:app"\n', encoding="utf-8")
    nested = project / "sub" / "dir"
    nested.mkdir(parents=True)
    result = run("features", cwd=nested)
    assert result.returncode == 0, result.stderr
    assert "riso-chk" in result.stdout


def test_invalid_settings_are_reported_without_a_traceback(run: Run) -> None:
    result = run("--app", "main:app", "features", RISO_CHK_RETRIES="many-secret")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "riso: error: 1 invalid setting:",
        "  RISO_CHK_RETRIES (feature 'chk'): "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


def test_help_lists_core_commands(run: Run) -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "features" in result.stdout
    assert "check" in result.stdout
