"""The app under test: found as the ``riso`` CLI finds it, imported with the test settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from riso._cli_support import find_app_spec, import_app
from riso._exceptions import AppNotFoundError
from riso_pytest._environ import applied

if TYPE_CHECKING:
    from fastapi import FastAPI


def load_app(config: pytest.Config) -> FastAPI:
    """``RISO_APP``, else ``[tool.riso] app`` of the nearest pyproject.toml, included."""
    from riso._include import include

    try:
        spec, source, folder = find_app_spec(None, config.rootpath)
        with applied(config):
            app = import_app(spec, source, folder)
            include(app)  # a no-op when the app module already called it
    except AppNotFoundError as exc:
        raise pytest.UsageError(
            f"riso's pytest plugin found no app to test: {exc}; or define an `app` fixture"
        ) from None
    return app
