"""Settings from the environment, and the Celery configuration built from them."""

from __future__ import annotations

from typing import Any

import pytest
from celery.schedules import crontab
from fastapi import FastAPI

import riso
import riso_tasks


def build(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> FastAPI:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = FastAPI()
    riso.include(app, features=[riso_tasks.feature])
    return app


@pytest.mark.parametrize(
    ("env", "broker", "embedded"),
    [
        ({}, "memory://localhost/", True),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"}, "redis://127.0.0.1:6379/3", False),
        (
            {"CELERY_BROKER_URL": "redis://a/1", "RISO_TASKS_BROKER_URL": "amqp://b//"},
            "amqp://b//",
            False,
        ),
        ({"RISO_TASKS_BROKER_URL": "amqp://guest@127.0.0.1//"}, "amqp://guest@127.0.0.1//", False),
    ],
)
def test_broker_from_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], broker: str, embedded: bool
) -> None:
    capp = riso_tasks.celery_app(build(monkeypatch, env))
    assert capp.conf.broker_write_url == broker
    assert capp.conf.broker_read_url == broker
    with capp.connection_for_write() as conn:
        assert conn.transport.driver_type == broker.split("://")[0]
    assert capp.riso_embedded is embedded


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("task_serializer", "json"),
        ("result_serializer", "json"),
        ("accept_content", ["json"]),
        ("result_accept_content", ["json"]),
        ("timezone", "UTC"),
        ("enable_utc", True),
        ("task_acks_late", True),
        ("task_reject_on_worker_lost", True),
        ("worker_prefetch_multiplier", 1),
        ("task_soft_time_limit", 300),
        ("task_time_limit", 330),
        ("broker_connection_retry_on_startup", True),
        ("task_ignore_result", True),
        ("task_default_queue", "celery"),
        ("result_backend", None),
    ],
)
def test_safe_production_defaults(
    monkeypatch: pytest.MonkeyPatch, setting: str, expected: Any
) -> None:
    capp = riso_tasks.celery_app(build(monkeypatch, {"RISO_TASKS_BROKER_URL": "amqp://h//"}))
    assert capp.conf[setting] == expected


def test_redis_transport_knows_the_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    capp = riso_tasks.celery_app(
        build(
            monkeypatch,
            {
                "RISO_TASKS_BROKER_URL": "redis://127.0.0.1:6379/1",
                "RISO_TASKS_VISIBILITY_TIMEOUT": "900",
                "RISO_TASKS_BROKER_TRANSPORT_OPTIONS": '{"unacked_restore_interval": 2}',
            },
        )
    )
    options = capp.conf.broker_transport_options
    assert options["visibility_timeout"] == 900
    assert options["unacked_restore_interval"] == 2


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RISO_TASKS_TIME_LIMIT": "100"}, "RISO_TASKS_"),
        ({"RISO_TASKS_PUBLISH_TIMEOUT": "0"}, "RISO_TASKS_PUBLISH_TIMEOUT"),
        ({"RISO_TASKS_VISIBILITY_TIMEOUT": "soon"}, "RISO_TASKS_VISIBILITY_TIMEOUT"),
        ({"RISO_TASKS_BEAT_SCHEDULE": "not json"}, "RISO_TASKS_BEAT_SCHEDULE"),
        (
            {"RISO_TASKS_BEAT_SCHEDULE": '{"x": {"task": "t", "schedule": "* *"}}'},
            "RISO_TASKS_BEAT_SCHEDULE",
        ),
        (
            {"RISO_TASKS_BEAT_SCHEDULE": '{"x": {"task": "t", "schedule": -5}}'},
            "RISO_TASKS_BEAT_SCHEDULE",
        ),
    ],
)
def test_invalid_settings_are_reported_by_include(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(riso.SettingsError) as caught:
        build(monkeypatch, env)
    assert variable in str(caught.value)
    assert "feature 'tasks'" in str(caught.value)


def test_beat_schedule_from_settings_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    @riso_tasks.task(name="tests.periodic_cleanup", schedule="*/5 * * * *")
    def cleanup() -> None:
        """Declared with a schedule in code."""

    capp = riso_tasks.celery_app(
        build(
            monkeypatch,
            {
                "RISO_TASKS_BROKER_URL": "amqp://h//",
                "RISO_TASKS_BEAT_SCHEDULE": (
                    '{"report": {"task": "app.report", "schedule": 30, "args": [1],'
                    ' "kwargs": {"full": true}, "queue": "reports"}}'
                ),
            },
        )
    )
    schedule = capp.conf.beat_schedule
    assert schedule["report"] == {
        "task": "app.report",
        "schedule": 30.0,
        "args": (1,),
        "kwargs": {"full": True},
        "options": {"queue": "reports"},
    }
    assert schedule["tests.periodic_cleanup"]["schedule"] == crontab(minute="*/5")


def test_celery_app_needs_include() -> None:
    with pytest.raises(riso_tasks.NotConfiguredError, match=r"riso.include\(app\)"):
        riso_tasks.celery_app(FastAPI())


def test_celery_app_needs_the_feature_active() -> None:
    app = FastAPI()
    riso.include(app, features=[])
    with pytest.raises(riso_tasks.NotConfiguredError, match="'tasks' is not active"):
        riso_tasks.celery_app(app)


@pytest.mark.parametrize(
    ("env", "deploy", "ids"),
    [
        ({}, False, []),
        ({}, True, ["tasks.W001"]),
        ({"RISO_ENV": "production"}, True, ["tasks.E001"]),
        ({"RISO_TASKS_BROKER_URL": "redis://h/1", "RISO_ENV": "production"}, True, []),
        (
            {"RISO_TASKS_BROKER_URL": "redis://h/1", "RISO_TASKS_VISIBILITY_TIMEOUT": "60"},
            False,
            ["tasks.E002"],
        ),
        ({"RISO_TASKS_BROKER_URL": "amqp://h//", "RISO_TASKS_VISIBILITY_TIMEOUT": "60"}, False, []),
    ],
)
def test_system_checks(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], deploy: bool, ids: list[str]
) -> None:
    app = build(monkeypatch, env)
    registry = riso.registry(app)
    ctx = riso.CheckContext(app=app, settings=registry.settings, core=registry.core, deploy=deploy)
    messages = [m for check in riso_tasks.feature.system_checks for m in check(ctx)]
    assert [m.id for m in messages] == ids
    assert all(m.hint for m in messages)
