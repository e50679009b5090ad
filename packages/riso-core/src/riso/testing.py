"""Helpers for testing features through real package metadata.

Not imported by ``riso``; import ``riso.testing`` from tests and benchmarks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_distribution"]


def write_distribution(
    root: Path,
    dist: str,
    version: str,
    modules: Mapping[str, str],
    features: Mapping[str, str],
) -> Path:
    """Write an installed distribution into ``root`` and return ``root``.

    ``modules`` maps module names to their source; ``features`` maps feature
    names to ``module:attr`` entry points. Put ``root`` on ``sys.path`` (or
    ``PYTHONPATH``) and importlib.metadata finds the distribution exactly as
    it finds one pip installed.
    """
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in features.items())
    (info / "entry_points.txt").write_text(f"[riso.features]\n{lines}", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return root
