"""Fixtures for the release tests: the build script, loaded by path, and its wheelhouse."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_build_all() -> ModuleType:
    """``scripts/build_all.py`` as a module (scripts/ is not a package)."""
    name = "riso_scripts_build_all"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "build_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_all() -> ModuleType:
    return load_build_all()
