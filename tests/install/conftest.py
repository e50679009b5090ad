"""Fixtures of the isolated install tests: the built wheels and fresh virtual environments.

Wheels are built once per session into ``.cache/wheels`` under the repository
root (git-ignored); build_all skips packages whose wheel is newer than every
source file, so a re-run costs a few stat calls. The helpers (``Venv``,
``serve``, ``register_and_login``...) are in ``riso_test_support.install``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from riso_test_support.install import WHEELHOUSE, Venv, build_wheelhouse, make_venv


@pytest.fixture(scope="session")
def wheels(build_all: ModuleType) -> dict[str, Path]:
    """distribution -> wheel, every package built (or reused) into .cache/wheels."""
    return build_wheelhouse(build_all)


@pytest.fixture(scope="session")
def wheelhouse(wheels: dict[str, Path]) -> Path:
    return WHEELHOUSE


@pytest.fixture(scope="session")
def venv_factory(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Any:
    def factory(name: str, find_links: Sequence[Path] = ()) -> Venv:
        return make_venv(tmp_path_factory.mktemp(name), [*find_links, wheelhouse])

    return factory
