"""A setting that needs an optional extra which is not installed: one line naming the extra.

Each case runs the real ``riso`` console script on the starter with the
extra's modules made unimportable (riso_test_support.cli), as a user who
installed the package without the extra would run it. AMQP brokers need no
extra: kombu itself requires the ``amqp`` package.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from riso_test_support.cli import run_riso

from riso.testing import clean_environ

APP = "starter.main:app"
OTLP_HTTP = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)


@pytest.mark.parametrize(
    ("env", "blocked", "message"),
    [
        (
            {"RISO_TASKS_BROKER_URL": "redis://user:hunter2@127.0.0.1:6379/5"},
            ("redis",),
            "RISO_TASKS_BROKER_URL or CELERY_BROKER_URL (feature 'tasks'): is a Redis URL but "
            "redis-py is not installed: pip install 'riso-tasks[redis]'",
        ),
        (
            {"RISO_TASKS_RESULT_BACKEND": "rediss://user:hunter2@127.0.0.1:6379/5"},
            ("redis",),
            "RISO_TASKS_RESULT_BACKEND or CELERY_RESULT_BACKEND (feature 'tasks'): is a Redis "
            "URL but redis-py is not installed: pip install 'riso-tasks[redis]'",
        ),
        (
            {"RISO_AUTH_REDIS_URL": "redis://user:hunter2@127.0.0.1:6379/5"},
            ("redis",),
            "RISO_AUTH_REDIS_URL (feature 'auth'): keeps the rate limits in Redis but redis-py "
            "is not installed: pip install 'riso-auth[redis]'",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp"},
            OTLP_HTTP,
            "OTEL_TRACES_EXPORTER asks for OTLP but the exporter is not installed: "
            "pip install 'riso-obs[otlp]'",
        ),
    ],
)
def test_a_setting_needing_an_absent_extra_is_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], blocked: tuple[str, ...], message: str
) -> None:
    environ = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", **env)
    result = run_riso("--app", APP, "check", "--deploy", env=environ, cwd=tmp_path, blocked=blocked)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"RISO_TASKS_BROKER_URL": "redis://127.0.0.1:6379/5"},
        {"RISO_AUTH_REDIS_URL": "redis://127.0.0.1:6379/5"},
        {"RISO_TASKS_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"},
    ],
)
def test_the_same_settings_pass_with_the_extra_installed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    environ = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", **env)
    result = run_riso("--app", APP, "check", env=environ, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not installed" not in result.stderr
