"""Fixtures of the upgrade tests: the tree's wheels, earlier releases' folder indexes, venvs.

The tree's wheels go to ``.cache/wheels-upgrade`` (not the install tests'
``.cache/wheels``: the two folders run on different xdist workers). Earlier
releases are built by ``scripts/releases.py`` into its cache (by commit), so a
re-run or a fresh clone on the same machine rebuilds nothing.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from riso_test_support import install as helpers
from riso_test_support import upgrade

WHEELHOUSE = helpers.ROOT / ".cache" / "wheels-upgrade"


@pytest.fixture(scope="session")
def releases() -> ModuleType:
    return helpers.script("releases")


@pytest.fixture(scope="session")
def tree_wheels(build_all: ModuleType) -> dict[str, Path]:
    """distribution -> the tree's wheel, every package built (or reused)."""
    return helpers.build_wheelhouse(build_all, WHEELHOUSE)


@pytest.fixture(scope="session")
def tree_constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree's uv.lock as a constraints file."""
    path = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    path.write_text(upgrade.lock_pins(helpers.ROOT), encoding="utf-8")
    return path
