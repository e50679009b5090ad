"""Build an sdist and a wheel of every package under ``packages/`` into one folder.

    python scripts/build_all.py [--out DIR] [--force] [-v] [PACKAGE ...]

PACKAGE is a distribution name (``riso-db``) or a folder name under ``packages/``;
by default every ``packages/*`` is built. Each package is built on its own by
``uv build --no-sources``: the sdist first, then the wheel *from that sdist*, in
an isolated build environment, so nothing from the workspace (sources, other
packages, the shared venv) can leak into the artifacts.

Every wheel is then checked: its metadata carries the pyproject version and no
local path dependency, it contains ``py.typed``, every file of the package's
``src/<pkg>/migrations`` folder, and in fact every non-bytecode file under
``src/<pkg>/``.

Re-runs are cheap: a package whose wheel and sdist for the current version exist
and are newer than every file of the package is skipped (``--force`` rebuilds).
On failure the script exits 1 with a one-line message on stderr.

Importable too (``importlib`` by path): :func:`build_all` returns the wheel and
sdist paths per distribution.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}


class BuildError(Exception):
    """A package did not build, or its artifacts are incomplete (one-line message)."""


@dataclass(frozen=True)
class Package:
    folder: Path
    name: str  # distribution name as written in pyproject.toml
    version: str
    import_packages: tuple[str, ...]  # e.g. ("riso_db",), from the hatch wheel target

    @property
    def stem(self) -> str:
        """The normalized file-name prefix of its artifacts (``riso_db-0.1.0``)."""
        return f"{normalize(self.name).replace('-', '_')}-{self.version}"

    def wheel(self, out: Path) -> Path:
        return out / f"{self.stem}-py3-none-any.whl"

    def sdist(self, out: Path) -> Path:
        return out / f"{self.stem}.tar.gz"


@dataclass(frozen=True)
class Built:
    package: Package
    wheel: Path
    sdist: Path
    rebuilt: bool


def normalize(name: str) -> str:
    """PEP 503 normalization: ``Riso_DB`` -> ``riso-db``."""
    out = name.lower()
    for sep in ("_", "."):
        out = out.replace(sep, "-")
    while "--" in out:
        out = out.replace("--", "-")
    return out


def read_package(folder: Path) -> Package:
    pyproject = folder / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{folder.name}: cannot read pyproject.toml: {exc}") from exc
    project = data.get("project", {})
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise BuildError(f"{folder.name}: pyproject.toml needs a static [project] name and version")
    wheel_target = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    declared = wheel_target.get("wheel", {}).get("packages", [])
    imports = tuple(Path(p).name for p in declared) or (normalize(name).replace("-", "_"),)
    return Package(folder=folder, name=name, version=version, import_packages=imports)


def discover(selected: Sequence[str] = ()) -> list[Package]:
    """Every package under ``packages/``, or only the selected ones (name or folder)."""
    every = [read_package(p.parent) for p in sorted(PACKAGES.glob("*/pyproject.toml"))]
    if not selected:
        return every
    by_key = {normalize(p.name): p for p in every} | {normalize(p.folder.name): p for p in every}
    chosen: list[Package] = []
    for want in selected:
        package = by_key.get(normalize(want))
        if package is None:
            known = ", ".join(p.name for p in every)
            raise BuildError(f"unknown package {want!r} (known: {known})")
        if package not in chosen:
            chosen.append(package)
    return chosen


def up_to_date(package: Package, out: Path) -> bool:
    """Both artifacts exist for this version and are newer than every source file."""
    wheel, sdist = package.wheel(out), package.sdist(out)
    if not (wheel.is_file() and sdist.is_file()):
        return False
    built_at = min(wheel.stat().st_mtime, sdist.stat().st_mtime)
    # folders too: deleting or renaming a file only touches its folder's mtime
    folders = [package.folder, *(p.parent for p in _source_files_under(package.folder))]
    paths = [*_source_files_under(package.folder), *folders]
    return all(path.stat().st_mtime < built_at for path in paths)


def find_uv() -> str:
    candidates = [os.environ.get("UV", ""), str(ROOT / ".tools" / "bin" / "uv"), "uv"]
    for candidate in candidates:
        if candidate and shutil.which(candidate):
            return candidate
    raise BuildError("uv not found: run `make sync` (it bootstraps .tools/bin/uv) or set UV")


def _build(package: Package, out: Path, uv: str, verbose: bool) -> None:
    # Build from the package folder, not with --package: no workspace discovery at all.
    cmd = [uv, "build", "--no-sources", "--out-dir", str(out), str(package.folder)]
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        cmd, cwd=package.folder, capture_output=True, text=True, check=False
    )
    if verbose or proc.returncode:
        sys.stderr.write(proc.stderr)
    if proc.returncode:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        raise BuildError(f"{package.name}: uv build failed: {reason}")


def _expected_files(package: Package) -> dict[str, str]:
    """Archive path -> why it is required, for every file the wheel must contain."""
    expected: dict[str, str] = {}
    for imp in package.import_packages:
        src = package.folder / "src" / imp
        if not src.is_dir():
            raise BuildError(f"{package.name}: src/{imp} (from the hatch wheel target) is missing")
        if not (src / "py.typed").is_file():
            raise BuildError(f"{package.name}: src/{imp}/py.typed is missing (PEP 561 marker)")
        for path in sorted(_source_files_under(src)):
            arc = f"{imp}/{path.relative_to(src).as_posix()}"
            parts = path.relative_to(src).parts
            if parts == ("py.typed",):
                expected[arc] = "the py.typed marker"
            elif parts[0] == "migrations":
                expected[arc] = "a migrations file"
            else:
                expected[arc] = "a source file"
    return expected


def _source_files_under(folder: Path) -> Iterable[Path]:
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).parts
        if (
            path.is_file()
            and not IGNORED_PARTS.intersection(rel)
            and path.suffix not in IGNORED_SUFFIXES
        ):
            yield path


def verify(package: Package, wheel: Path, sdist: Path) -> None:
    """Raise BuildError unless the artifacts are complete and self-contained."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            metadata = zf.read(f"{package.stem}.dist-info/METADATA").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise BuildError(f"{package.name}: unreadable wheel {wheel.name}: {exc}") from exc
    for arc, why in _expected_files(package).items():
        if arc not in names:
            raise BuildError(f"{package.name}: {wheel.name} lacks {why}: {arc}")
    meta = Parser().parsestr(metadata)
    if meta["Version"] != package.version:
        raise BuildError(
            f"{package.name}: wheel version {meta['Version']} != pyproject {package.version}"
        )
    for requirement in meta.get_all("Requires-Dist") or []:
        if "@" in requirement.split(";")[0]:
            raise BuildError(f"{package.name}: wheel pins a direct reference: {requirement}")
    try:
        with tarfile.open(sdist) as tf:
            members = set(tf.getnames())
    except (OSError, tarfile.TarError) as exc:
        raise BuildError(f"{package.name}: unreadable sdist {sdist.name}: {exc}") from exc
    for required in ("pyproject.toml", "PKG-INFO"):
        if f"{package.stem}/{required}" not in members:
            raise BuildError(f"{package.name}: {sdist.name} lacks {required}")


def build_package(
    package: Package, out: Path, *, force: bool = False, verbose: bool = False
) -> Built:
    _expected_files(package)  # fail fast on an incomplete source tree
    rebuilt = force or not up_to_date(package, out)
    if rebuilt:
        _build(package, out, find_uv(), verbose)
    wheel, sdist = package.wheel(out), package.sdist(out)
    if not wheel.is_file() or not sdist.is_file():
        raise BuildError(f"{package.name}: uv build did not produce {wheel.name} and {sdist.name}")
    verify(package, wheel, sdist)
    return Built(package=package, wheel=wheel, sdist=sdist, rebuilt=rebuilt)


def build_all(
    out: Path | str = ROOT / "dist",
    packages: Sequence[str] = (),
    *,
    force: bool = False,
    verbose: bool = False,
    jobs: int = 4,
) -> dict[str, Built]:
    """Build (or reuse) and verify the selected packages; distribution name -> Built."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen = discover(packages)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(build_package, p, out, force=force, verbose=verbose) for p in chosen]
        results = [f.result() for f in futures]
    return {b.package.name: b for b in results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", help="distribution or folder names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="parallel builds (default: 4)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show uv build output")
    args = parser.parse_args(argv)
    try:
        built = build_all(
            args.out, args.packages, force=args.force, verbose=args.verbose, jobs=args.jobs
        )
    except (BuildError, OSError) as exc:
        print(f"build_all: error: {exc}", file=sys.stderr)
        return 1
    for b in built.values():
        state = "built" if b.rebuilt else "up to date"
        print(f"{b.package.name} {b.package.version}: {b.wheel.name} {b.sdist.name} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
