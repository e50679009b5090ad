"""The test settings every riso plugin contributes, applied to ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

_ENVIRON = pytest.StashKey[dict[str, str]]()
_SAVED = pytest.StashKey[dict[str, str | None]]()

#: the ini option that applies the settings when pytest starts (default true)
INI = "riso_test_settings"


def test_environ(config: pytest.Config) -> dict[str, str]:
    """Every plugin's ``pytest_riso_test_environ`` merged, computed once per session."""
    environ = config.stash.get(_ENVIRON, None)
    if environ is None:
        environ = {}
        for part in config.hook.pytest_riso_test_environ(config=config):
            environ.update(part or {})
        config.stash[_ENVIRON] = environ
    return environ


def apply_at_start(config: pytest.Config) -> bool:
    """Whether the settings are in ``os.environ`` for the whole session."""
    return bool(config.getini(INI))


def apply(config: pytest.Config) -> None:
    """Put the test settings in ``os.environ`` until :func:`restore`."""
    saved: dict[str, str | None] = {}
    for key, value in test_environ(config).items():
        saved[key] = os.environ.get(key)
        os.environ[key] = value
    config.stash[_SAVED] = saved


def restore(config: pytest.Config) -> None:
    for key, value in config.stash.get(_SAVED, {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    config.stash[_SAVED] = {}


@contextmanager
def applied(config: pytest.Config) -> Iterator[None]:
    """The test settings in ``os.environ`` for a while (when not applied at start)."""
    if apply_at_start(config):
        yield
        return
    apply(config)
    try:
        yield
    finally:
        restore(config)


def is_xdist_controller(config: pytest.Config) -> bool:
    """True in the process that only hands tests to xdist workers (it runs none)."""
    return getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")


def worker_id(config: pytest.Config) -> str:
    """``gw0``, ``gw1``... under pytest-xdist; ``main`` otherwise."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"
