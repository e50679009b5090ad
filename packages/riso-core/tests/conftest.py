"""Real package metadata for discovery tests.

``install`` writes a distribution (a module plus a ``.dist-info`` folder with
METADATA and entry_points.txt) into its own folder and puts that folder on
``sys.path``: importlib.metadata then finds it exactly as it finds anything
pip installed. Each test gets unique module names, removed afterwards.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from riso.testing import write_distribution

Install = Callable[..., Path]


@pytest.fixture
def suffix() -> str:
    """A unique suffix for module names, so tests never share imported modules."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> Iterator[Install]:
    """``install(dist, version, {module: source}, {feature: "module:attr"})``."""
    count = 0
    before = set(sys.modules)

    def _install(
        dist: str, version: str, modules: dict[str, str], features: dict[str, str]
    ) -> Path:
        nonlocal count
        count += 1
        folder = write_distribution(tmp_path / f"site{count}", dist, version, modules, features)
        monkeypatch.syspath_prepend(str(folder))
        return folder

    yield _install
    for name in set(sys.modules) - before:
        if suffix in name:
            del sys.modules[name]


@pytest.fixture(name="feature_source")
def _feature_source_fixture() -> Callable[..., str]:
    return feature_source


def feature_source(
    name: str,
    *,
    requires: tuple[str, ...] = (),
    core: str = ">=0.1,<0.2",
    settings: str = "",
    extra: str = "",
) -> str:
    """Source of a module defining ``feature``; ``settings`` is a class body."""
    settings_block = ""
    settings_arg = "None"
    if settings:
        body = textwrap.indent(textwrap.dedent(settings), "    ")
        settings_block = (
            "class FeatureSettings(riso.Settings):\n"
            f"    model_config = SettingsConfigDict(env_prefix='RISO_{name.upper()}_')\n"
            f"{body}\n"
        )
        settings_arg = "FeatureSettings"
    return (
        "import riso\n"
        "from pydantic import AliasChoices, Field\n"
        "from pydantic_settings import SettingsConfigDict\n\n"
        f"{settings_block}\n"
        f"{textwrap.dedent(extra)}\n"
        f"feature = riso.Feature(name={name!r}, core={core!r}, requires={requires!r}, "
        f"settings={settings_arg})\n"
    )
