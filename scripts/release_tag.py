"""Resolve a release tag ``<distribution>-v<version>`` to the package it releases.

    python scripts/release_tag.py riso-auth-v0.2.0

prints ``distribution=riso-auth``, ``version=0.2.0`` and ``folder=packages/riso-auth``
(one per line, the format of ``$GITHUB_OUTPUT``) and exits 0 when the tag names
a package under ``packages/`` whose pyproject version is exactly the tag's
version. Otherwise it exits 1 with a one-line message on stderr: a release is
never built from a tag that disagrees with the code it points at.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r"^(?P<distribution>[a-z0-9][a-z0-9-]*)-v(?P<version>\d+(?:\.\d+)*\S*)$")


class TagError(Exception):
    """The tag does not name a releasable package at that version."""


def resolve(tag: str, root: Path = ROOT) -> dict[str, str]:
    match = TAG.match(tag.removeprefix("refs/tags/"))
    if match is None:
        raise TagError(f"tag {tag!r} is not <distribution>-v<version> (e.g. riso-auth-v0.2.0)")
    distribution, version = match["distribution"], match["version"]
    for pyproject in sorted((root / "packages").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") != distribution:
            continue
        if project.get("version") != version:
            raise TagError(
                f"tag {tag} says {version} but {pyproject.relative_to(root)} "
                f"says {project.get('version')}"
            )
        folder = pyproject.parent.relative_to(root).as_posix()
        return {"distribution": distribution, "version": version, "folder": folder}
    raise TagError(f"tag {tag}: no package named {distribution!r} under packages/")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: release_tag.py <distribution>-v<version>", file=sys.stderr)
        return 2
    try:
        resolved = resolve(args[0])
    except (TagError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"release_tag: error: {exc}", file=sys.stderr)
        return 1
    for key, value in resolved.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
