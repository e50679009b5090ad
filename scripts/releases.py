"""The released versions of every package, derived from git history, and their wheels.

    python scripts/releases.py list [PACKAGE ...]
    python scripts/releases.py build PACKAGE VERSION [--out DIR]

There are no release tags: a released version of a package is the tree of the
first commit on main (first-parent history) whose ``packages/<folder>/pyproject.toml``
carried that version. A version whose first commit holds the same package tree
as HEAD is the tree itself, not an earlier release (so bumping the version at
merge "just works": the bump's commit is HEAD until the next change).

``build`` builds the wheels of a release and of the riso packages it requires,
all from that same commit (``git archive``, then ``build_all``'s isolated
``uv build --no-sources``), into a folder index cached by commit under
``~/.cache/riso/releases/`` (``RISO_RELEASES_CACHE`` overrides), with a
``constraints.txt`` of that commit's ``uv.lock`` (the third-party versions the
release was tested with). A fresh clone reuses the cache; a half-built folder
is never visible (built in a temporary folder, then renamed).

Importable too (``importlib`` by path). Exits 1 with one line on stderr on failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = "packages"
DEFAULT_CACHE = Path.home() / ".cache" / "riso" / "releases"
_VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)
_REVISION_ID = re.compile(r'^revision\s*(?::\s*str\s*)?=\s*["\']([^"\']+)["\']', re.MULTILINE)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ReleaseError(Exception):
    """History cannot be read, or a release does not build (one-line message)."""


@dataclass(frozen=True)
class Release:
    """One released version of one package: the commit where it first appeared."""

    name: str  # distribution name (riso-auth)
    folder: str  # folder under packages/ (riso-auth)
    version: str
    commit: str

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.commit[:12]})"


def git(*args: str, root: Path = ROOT) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH, as make and CI use it
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        raise ReleaseError(f"git {' '.join(args[:2])}: {reason}")
    return proc.stdout


def _check_history(root: Path) -> None:
    if git("rev-parse", "--is-shallow-repository", root=root).strip() == "true":
        raise ReleaseError(
            f"{root} is a shallow clone: releases are derived from the full history "
            "(git fetch --unshallow)"
        )


def _name(pyproject: str, folder: str) -> str:
    try:
        return str(tomllib.loads(pyproject)["project"]["name"])
    except (tomllib.TOMLDecodeError, KeyError):
        return folder


def package_folders(root: Path = ROOT) -> list[str]:
    """The folders under packages/ in HEAD."""
    listing = git("ls-tree", "--name-only", "HEAD", f"{PACKAGES}/", root=root)
    folders = [Path(line).name for line in listing.split()]
    return [
        f for f in folders if git("ls-tree", "HEAD", f"{PACKAGES}/{f}/pyproject.toml", root=root)
    ]


def _tree(commit: str, folder: str, root: Path) -> str:
    return git("rev-parse", f"{commit}:{PACKAGES}/{folder}", root=root).strip()


def releases(folder: str, root: Path = ROOT, *, include_tree: bool = False) -> list[Release]:
    """Every released version of the package in ``packages/<folder>``, oldest first.

    The tree itself (a version whose first commit holds HEAD's package tree) is
    left out unless ``include_tree``.
    """
    _check_history(root)
    path = f"{PACKAGES}/{folder}/pyproject.toml"
    commits = git("log", "--first-parent", "--format=%H", "--reverse", "--", path, root=root)
    head_tree = _tree("HEAD", folder, root)
    found: list[Release] = []
    seen: set[str] = set()
    for commit in commits.split():
        try:
            text = git("show", f"{commit}:{path}", root=root)
        except ReleaseError:  # the commit deleted the file
            continue
        match = _VERSION.search(text)
        if match is None or match.group(1) in seen:
            continue
        seen.add(match.group(1))
        if not include_tree and _tree(commit, folder, root) == head_tree:
            continue
        found.append(Release(_name(text, folder), folder, match.group(1), commit))
    return found


def revisions_at(folder: str, commit: str = "HEAD", root: Path = ROOT) -> set[str]:
    """The Alembic revision ids the package ships at ``commit`` (``src/*/migrations/*.py``)."""
    listing = git("ls-tree", "-r", "--name-only", commit, f"{PACKAGES}/{folder}/src/", root=root)
    found = set()
    for name in listing.split():
        parts = Path(name).parts
        if len(parts) >= 6 and parts[-2] == "migrations" and name.endswith(".py"):
            match = _REVISION_ID.search(git("show", f"{commit}:{name}", root=root))
            if match:
                found.add(match.group(1))
    return found


def owns_tables(folder: str, root: Path = ROOT) -> bool:
    """Whether the package's HEAD tree ships Alembic revisions (``src/*/migrations/*.py``)."""
    return bool(revisions_at(folder, "HEAD", root))


def table_packages(root: Path = ROOT) -> list[str]:
    """The package folders that own tables, from their migrations folders."""
    return [f for f in package_folders(root) if owns_tables(f, root)]


def find_release(folder: str, version: str, root: Path = ROOT) -> Release:
    every = releases(folder, root)
    for release in every:
        if release.version == version:
            return release
    known = ", ".join(r.version for r in every) or "none"
    raise ReleaseError(f"{folder} {version} is not an earlier release (releases: {known})")


# -- building ----------------------------------------------------------------------------


def _build_all() -> ModuleType:
    name = "riso_scripts_build_all"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "build_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _riso_requirements(pyproject: Path, siblings: dict[str, Path]) -> list[str]:
    """Sibling distribution names in a package's [project] dependencies and extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = []
    for requirement in requirements:
        match = _REQUIREMENT_NAME.match(requirement)
        if match and match.group(1).lower() in siblings:
            names.append(match.group(1).lower())
    return names


def lock_constraints(lock_text: str) -> str:
    """``name==version`` of every registry package a uv.lock pins to one version."""
    data = tomllib.loads(lock_text)
    versions: dict[str, set[str]] = {}
    for package in data.get("package", []):
        if "registry" in package.get("source", {}):
            versions.setdefault(package["name"], set()).add(package["version"])
    # a package locked at two versions (per Python version) constrains nothing here
    lines = [f"{n}=={next(iter(v))}" for n, v in sorted(versions.items()) if len(v) == 1]
    return "\n".join(lines) + "\n"


def cache_root() -> Path:
    return Path(os.environ.get("RISO_RELEASES_CACHE") or DEFAULT_CACHE)


def build_release(release: Release, cache: Path | None = None, root: Path = ROOT) -> Path:
    """The folder index of ``release``: its wheel, its riso dependencies', constraints.txt."""
    cache = cache or cache_root()
    out = cache / f"{release.folder}-{release.version}-{release.commit[:12]}"
    if (out / "constraints.txt").is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    build_all = _build_all()
    with tempfile.TemporaryDirectory(prefix="riso-release-", dir=cache) as tmp:
        work = Path(tmp)
        archive = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "-C", str(root), "archive", "--format=tar", release.commit, PACKAGES],  # noqa: S607
            capture_output=True,
            check=False,
        )
        if archive.returncode:
            raise ReleaseError(f"git archive {release.commit[:12]} failed")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(work / "src", filter="data")
        folders = {
            _name((p / "pyproject.toml").read_text(encoding="utf-8"), p.name).lower(): p
            for p in (work / "src" / PACKAGES).iterdir()
            if (p / "pyproject.toml").is_file()
        }
        wanted, queue = set(), [release.name.lower()]
        while queue:  # the release and, transitively, the riso packages it requires
            name = queue.pop()
            if name not in wanted:
                wanted.add(name)
                queue += _riso_requirements(folders[name] / "pyproject.toml", folders)
        index = work / "index"
        for name in sorted(wanted):
            try:
                build_all.build_package(build_all.read_package(folders[name]), index)
            except build_all.BuildError as exc:
                raise ReleaseError(f"{release}: {exc}") from None
        for sdist in index.glob("*.tar.gz"):
            sdist.unlink()
        lock = git("show", f"{release.commit}:uv.lock", root=root)
        (index / "constraints.txt").write_text(lock_constraints(lock), encoding="utf-8")
        try:
            index.rename(out)
        except OSError:  # another process built it meanwhile
            if not (out / "constraints.txt").is_file():
                raise
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the earlier releases of each package")
    listing.add_argument("packages", nargs="*", help="package folders (default: all)")
    build = sub.add_parser("build", help="build a release's wheels into the cache")
    build.add_argument("package")
    build.add_argument("version")
    build.add_argument("--out", help="copy the wheels and constraints.txt into this folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for folder in args.packages or package_folders():
                tables = " (owns tables)" if owns_tables(folder) else ""
                for release in releases(folder):
                    print(f"{release.name} {release.version} {release.commit}{tables}")
        else:
            built = build_release(find_release(args.package, args.version))
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                for item in built.iterdir():
                    shutil.copy2(item, Path(args.out) / item.name)
                built = Path(args.out)
            for item in sorted(built.iterdir()):
                print(item)
    except (ReleaseError, OSError) as exc:
        print(f"releases: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
