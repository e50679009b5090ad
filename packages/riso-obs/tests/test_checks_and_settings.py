"""System checks and bad settings."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

import riso
import riso_obs
from riso._checks import CheckContext, run_checks
from riso_obs._checks import obs_checks


def check_ids(deploy: bool) -> list[str]:
    core = riso.CoreSettings()
    ctx = CheckContext(
        app=FastAPI(), settings={"obs": riso_obs.ObsSettings()}, core=core, deploy=deploy
    )
    return sorted(m.id for m in run_checks([obs_checks], ctx))


@pytest.mark.parametrize(
    ("env", "deploy", "expected"),
    [
        ({}, False, []),
        ({}, True, []),
        ({"RISO_ENV": "production"}, True, []),
        ({"RISO_ENV": "production", "RISO_OBS_LOG_FORMAT": "console"}, True, ["obs.E001"]),
        ({"RISO_ENV": "production", "RISO_OBS_LOG_FORMAT": "console"}, False, []),
        ({"RISO_OBS_LOG_FORMAT": "console"}, True, []),
        ({"RISO_ENV": "production", "RISO_OBS_LOG_LEVEL": "debug"}, True, ["obs.W001"]),
        ({"RISO_OBS_METRICS_REQUIRE_TOKEN": "true"}, False, ["obs.E002"]),
        ({"RISO_OBS_METRICS_REQUIRE_TOKEN": "true", "RISO_OBS_METRICS_TOKEN": "t0k"}, False, []),
        ({"RISO_OBS_METRICS_REQUIRE_TOKEN": "true", "RISO_OBS_METRICS": "false"}, False, []),
        ({"WEB_CONCURRENCY": "4"}, False, ["obs.W002"]),
        ({"WEB_CONCURRENCY": "4", "PROMETHEUS_MULTIPROC_DIR": "/tmp/prom"}, False, []),
        (
            {
                "RISO_ENV": "production",
                "RISO_OBS_LOG_FORMAT": "console",
                "RISO_SILENCED_CHECKS": "obs.E001",
            },
            True,
            [],
        ),
    ],
)
def test_check_table(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], deploy: bool, expected: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert check_ids(deploy) == expected


def test_checks_are_declared_on_the_feature() -> None:
    assert obs_checks in riso_obs.feature.system_checks


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RISO_OBS_LOG_LEVEL", "LOUD"),
        ("RISO_OBS_LOG_FORMAT", "xml"),
        ("RISO_OBS_EXCLUDE_PATHS", "metrics"),
        ("RISO_OBS_REQUEST_ID_HEADERS", " , "),
        ("RISO_OBS_METRICS", "perhaps"),
        ("RISO_OBS_TRACE_IO_SPANS", "sometimes"),
    ],
)
def test_bad_settings_are_reported_by_variable_before_the_app_is_touched(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    app = FastAPI()
    with pytest.raises(riso.SettingsError) as info:
        riso.include(app, features=[riso_obs.feature])
    assert [problem[0] for problem in info.value.problems] == [variable]
    assert value.strip(" ,") == "" or value not in str(info.value)
    assert not hasattr(app.state, "riso")
    assert [r.path for r in app.routes if getattr(r, "path", "") == "/metrics"] == []


def test_secret_token_is_not_echoed_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_OBS_METRICS_TOKEN", "very-secret-token")
    assert "very-secret-token" not in repr(riso_obs.ObsSettings())
