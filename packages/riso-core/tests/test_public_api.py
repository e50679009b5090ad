"""The public surface: __all__ is complete, importing riso stays light."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import riso


def test_all_lists_every_public_name_and_only_existing_ones() -> None:
    public = {
        name
        for name, value in vars(riso).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(riso.__all__) == public
    assert all(hasattr(riso, name) for name in riso.__all__)
    assert len(riso.__all__) == len(set(riso.__all__))


@pytest.mark.parametrize(
    "module", ["riso._cli", "riso.testing", "uvicorn", "sqlalchemy", "celery", "structlog"]
)
def test_importing_riso_does_not_import(module: str) -> None:
    code = f"import sys, riso; print({module!r} in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert riso.__version__ == version("riso-core")
