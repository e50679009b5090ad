"""The public surface: __all__, import weight, the feature declaration."""

from __future__ import annotations

import subprocess
import sys

import pytest

import riso
import riso_tasks


def test_all_is_complete_and_exists() -> None:
    public = {
        name
        for name in dir(riso_tasks)
        if not name.startswith("_") and not isinstance(getattr(riso_tasks, name), type(riso))
    }
    assert set(riso_tasks.__all__) == public
    for name in riso_tasks.__all__:
        assert hasattr(riso_tasks, name), name
    assert riso_tasks.__all__ == sorted(riso_tasks.__all__, key=lambda n: (not n[0].isupper(), n))


def test_exceptions_derive_from_one_root() -> None:
    for exc in (
        riso_tasks.NotConfiguredError,
        riso_tasks.NotSerializableError,
        riso_tasks.EtaTooFarError,
        riso_tasks.BrokerUnavailableError,
    ):
        assert issubclass(exc, riso_tasks.TasksError)
    assert issubclass(riso_tasks.TasksError, riso.RisoError)
    assert issubclass(riso_tasks.NotSerializableError, TypeError)
    assert issubclass(riso_tasks.EtaTooFarError, ValueError)


@pytest.mark.parametrize(
    "module",
    ["redis", "sqlalchemy", "riso_db", "prometheus_client", "celery.worker", "celery.apps.worker"],
)
def test_import_is_light(module: str) -> None:
    code = f"import sys, riso_tasks; print({module!r} in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_import_starts_no_thread_and_builds_no_app() -> None:
    code = (
        "import threading, riso_tasks\n"
        "from celery import _state\n"
        "print(threading.active_count(), _state.default_app is None)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["1", "True"]


def test_feature_declaration() -> None:
    feature = riso_tasks.feature
    assert feature.name == "tasks"
    assert feature.settings is riso_tasks.TasksSettings
    assert [c.name for c in feature.health_checks] == ["tasks.broker", "tasks.workers"]
    assert [c.critical for c in feature.health_checks] == [True, False]
    assert feature.cli is not None
    assert feature.cli.name == "tasks"
