"""``riso check`` names every RISO_* variable set in vain; ``riso settings`` shows them all.

Through the real console script on the starter (every feature of the
workspace installed), with variables in the environment and in ``.env``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from riso_test_support.cli import run_riso

from riso.testing import clean_environ

APP = "starter.main:app"
SECRET = "a-real-secret-key-that-is-long-enough-0123"


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_environ(
        RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", RISO_AUTH_SECRET_KEY=SECRET, **extra
    )


@pytest.mark.parametrize(
    ("env", "dotenv", "expected"),
    [
        (
            {"RISO_DB_URI": "postgresql://x"},
            "",
            ["core.W007: RISO_DB_URI (in the environment) is not read by any active feature.",
             "HINT: did you mean RISO_DB_URL?"],
        ),
        (
            {},
            "RISO_AUTH_SECRETKEY=abc\n",
            ["core.W007: RISO_AUTH_SECRETKEY (in .env) is not read by any active feature.",
             "HINT: did you mean RISO_AUTH_SECRET_KEY?"],
        ),
        (
            {"RISO_TASK_BROKER_URL": "redis://127.0.0.1"},
            "",
            ["HINT: did you mean RISO_TASKS_BROKER_URL?"],
        ),
        (
            {"riso_obs_log_levle": "DEBUG"},
            "",
            ["core.W007: RISO_OBS_LOG_LEVLE", "HINT: did you mean RISO_OBS_LOG_LEVEL?"],
        ),
        (
            {"RISO_DISABLE": "task"},
            "",
            ["core.W008: RISO_DISABLE names 'task', which is not an installed feature.",
             "HINT: did you mean 'tasks'? installed features: auth, db, health, obs, tasks"],
        ),
        (
            {"RISO_DISABLE": "tasks", "RISO_TASKS_BROKER_URL": "redis://127.0.0.1"},
            "",
            ["core.I001: RISO_TASKS_BROKER_URL (in the environment) is for the feature 'tasks', "
             "which is disabled by RISO_DISABLE: nothing reads it."],
        ),
    ],
)  # fmt: skip
def test_check_reports_variables_nothing_reads(
    tmp_path: Path, env: dict[str, str], dotenv: str, expected: list[str]
) -> None:
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    result = run_riso("--app", APP, "check", env=environ(tmp_path, **env), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # warnings only
    for text in expected:
        assert text in result.stdout
    assert "0 issue(s)" not in result.stdout


@pytest.mark.parametrize(
    "env",
    [
        # every name a model reads: fields, aliases, case-insensitive, core's own
        {"RISO_DB_POOL_SIZE": "3", "DATABASE_URL": "sqlite://", "RISO_ENV": "development"},
        {"CELERY_BROKER_URL": "memory://", "CELERY_RESULT_BACKEND": "cache+memory://"},
        {"riso_obs_log_level": "DEBUG"},
        # read outside the settings models, allow-listed with a reason
        {"RISO_CI": "1", "RISO_TEST_DB_URL": "sqlite://", "RISO_FUZZ_EXAMPLES": "5"},
    ],
)
def test_check_is_silent_about_variables_that_are_read(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_riso("--app", APP, "check", env=environ(tmp_path, **env), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "core.W007" not in result.stdout
    assert "core.W008" not in result.stdout
    assert "System check identified 0 issue(s)." in result.stdout


def settings_table(stdout: str) -> dict[str, tuple[str, str, str]]:
    """variable -> (feature, value, source), from ``riso settings``' table."""
    lines = stdout.splitlines()
    header = lines[0]
    starts = [header.index(col) for col in ("FEATURE", "VARIABLE", "VALUE", "SOURCE")]
    table: dict[str, tuple[str, str, str]] = {}
    for line in lines[1:]:
        feature, variable, value, source = (
            line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)
        )
        table[variable] = (feature, value, source)
    return table


def test_settings_shows_every_setting_with_its_source_and_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RISO_OBS_LOG_LEVEL=debug\nRISO_DB_POOL_SIZE=4\n")
    env = environ(
        tmp_path,
        RISO_DB_POOL_SIZE="7",  # the environment wins over .env
        RISO_TASKS_BROKER_URL="redis://worker:hunter2@127.0.0.1:6379/5?password=hunter3",
        RISO_OBS_METRICS_TOKEN="metrics-hunter4",
        RISO_TASKS_BEAT_SCHEDULE='{"tick": {"task": "t", "schedule": 5}}',
    )
    result = run_riso("--app", APP, "settings", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for secret in ("hunter2", "hunter3", "hunter4", SECRET):
        assert secret not in result.stdout + result.stderr
    table = settings_table(result.stdout)
    assert table["RISO_DB_POOL_SIZE"] == ("db", "7", "environment")
    assert table["RISO_OBS_LOG_LEVEL"] == ("obs", '"DEBUG"', ".env")
    assert table["RISO_DB_MAX_OVERFLOW"] == ("db", "0", "default")
    assert table["RISO_AUTH_SECRET_KEY"] == ("auth", "**********", "environment")
    assert table["RISO_OBS_METRICS_TOKEN"] == ("obs", "**********", "environment")
    assert table["RISO_TASKS_BROKER_URL or CELERY_BROKER_URL"] == (
        "tasks",
        "redis://worker:**********@127.0.0.1:6379/5?password=**********",
        "environment",
    )
    assert table["RISO_MAX_BODY_SIZE"] == ("core", "1048576", "default")
    assert table["RISO_AUTH_COOKIE_NAME"][1] == '"__Host-riso_access"'
    assert table["RISO_TASKS_BEAT_SCHEDULE"][2] == "environment"
    # every feature of the starter, each with all the fields of its model
    assert {row[0] for row in table.values()} == {"core", "db", "auth", "health", "obs", "tasks"}


def test_settings_changed_lists_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    env = environ(tmp_path, RISO_DB_POOL_SIZE="7", RISO_OBS_ACCESS_LOG="true")
    result = run_riso("--app", APP, "settings", "--changed", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = settings_table(result.stdout)
    # RISO_OBS_ACCESS_LOG is set, but to its default
    assert set(table) == {
        "RISO_DB_URL or DATABASE_URL",
        "RISO_AUTH_SECRET_KEY",
        "RISO_DB_POOL_SIZE",
    }


def test_settings_with_an_invalid_variable_is_the_one_line_error(tmp_path: Path) -> None:
    env = environ(tmp_path, RISO_DB_POOL_SIZE="many")
    result = run_riso("--app", APP, "settings", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "RISO_DB_POOL_SIZE (feature 'db'): Input should be a valid integer" in result.stderr
