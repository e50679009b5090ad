"""The hook riso's pytest plugins implement to set what the app under test reads at startup."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_riso_test_environ(config: pytest.Config) -> dict[str, str] | None:
    """Environment variables the app must see when it is imported under test.

    Called once per session (per xdist worker); the values are applied to
    ``os.environ`` before test modules are collected (``riso_test_settings``
    ini option, default true), else only while the ``app`` fixture imports the app.
    """
