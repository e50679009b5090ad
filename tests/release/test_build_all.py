"""scripts/build_all.py: every package builds alone, and incomplete artifacts are caught.

The real packages are built into ``dist/`` (reused while up to date, so re-runs
are quick); the script's checks are proven on a small synthetic package that is
then broken in each way the checks must catch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_all.py"
PACKAGE_DIRS = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))


@pytest.fixture(scope="module")
def wheelhouse(build_all: ModuleType) -> dict[str, Any]:
    """Every package built into dist/ by the script (cached between runs)."""
    try:
        return build_all.build_all(ROOT / "dist")
    except build_all.BuildError as exc:
        pytest.fail(f"build_all: {exc}", pytrace=False)


@pytest.mark.parametrize("folder", PACKAGE_DIRS, ids=[p.name for p in PACKAGE_DIRS])
def test_package_wheel_is_complete(
    build_all: ModuleType, wheelhouse: dict[str, Any], folder: Path
) -> None:
    package = build_all.read_package(folder)
    built = wheelhouse[package.name]
    names = set(zipfile.ZipFile(built.wheel).namelist())
    for imp in package.import_packages:
        assert f"{imp}/py.typed" in names
        migrations = folder / "src" / imp / "migrations"
        for path in migrations.rglob("*") if migrations.is_dir() else []:
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"{imp}/{path.relative_to(folder / 'src' / imp).as_posix()}" in names
    # no file of the workspace (tests, other packages) leaks into the wheel
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {*package.import_packages, f"{package.stem}.dist-info"}


def test_riso_core_wheel_has_py_typed_and_the_riso_script(
    wheelhouse: dict[str, Any],
) -> None:
    built = wheelhouse["riso-core"]
    with zipfile.ZipFile(built.wheel) as zf:
        assert "riso/py.typed" in zf.namelist()
        entry_points = zf.read("riso_core-" + built.package.version + ".dist-info/entry_points.txt")
    assert "riso = riso._cli:main" in entry_points.decode()


# --- the checks themselves, on a synthetic package -------------------------------


def _make_package(root: Path) -> Path:
    folder = root / "fake-pkg"
    src = folder / "src" / "fake_pkg"
    (src / "migrations" / "versions").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling>=1.25,<2"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "fake-pkg"\nversion = "1.2.3"\nrequires-python = ">=3.11"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/fake_pkg"]\n'
    )
    (src / "__init__.py").write_text('"""fake."""\n')
    (src / "py.typed").write_text("")
    (src / "migrations" / "script.py.mako").write_text("${message}\n")
    (src / "migrations" / "versions" / "0001_init.py").write_text('revision = "0001"\n')
    return folder


@pytest.fixture(scope="module")
def fake_built(build_all: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("fake")
    package = build_all.read_package(_make_package(root))
    return build_all.build_package(package, root / "dist")


def test_synthetic_package_passes(build_all: ModuleType, fake_built: Any) -> None:
    built = fake_built
    assert built.rebuilt
    build_all.verify(built.package, built.wheel, built.sdist)


def _drop_from_wheel(wheel: Path, target: Path, member: str) -> None:
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            if item.filename != member:
                dst.writestr(item, src.read(item.filename))


def _rewrite_metadata(wheel: Path, target: Path, old: str, new: str) -> None:
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith(".dist-info/METADATA"):
                data = data.replace(old.encode(), new.encode())
            dst.writestr(item, data)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("drop fake_pkg/py.typed", "lacks the py.typed marker: fake_pkg/py.typed"),
        ("drop fake_pkg/migrations/versions/0001_init.py", "lacks a migrations file"),
        ("drop fake_pkg/migrations/script.py.mako", "lacks a migrations file"),
        ("drop fake_pkg/__init__.py", "lacks a source file"),
        ("metadata Version: 1.2.3|Version: 9.9.9", "wheel version 9.9.9 != pyproject 1.2.3"),
        (
            "metadata Requires-Python|Requires-Dist: riso-core @ file:///work\nRequires-Python",
            "pins a direct reference",
        ),
    ],
)
def test_incomplete_wheel_is_rejected(
    build_all: ModuleType, fake_built: Any, tmp_path: Path, breakage: str, message: str
) -> None:
    built = fake_built
    broken = tmp_path / built.wheel.name
    kind, _, arg = breakage.partition(" ")
    if kind == "drop":
        _drop_from_wheel(built.wheel, broken, arg)
    else:
        old, new = arg.split("|")
        _rewrite_metadata(built.wheel, broken, old, new)
    with pytest.raises(build_all.BuildError, match=message.replace(".", r"\.")):
        build_all.verify(built.package, broken, built.sdist)


def test_source_without_py_typed_is_rejected(build_all: ModuleType, tmp_path: Path) -> None:
    folder = _make_package(tmp_path)
    (folder / "src" / "fake_pkg" / "py.typed").unlink()
    package = build_all.read_package(folder)
    with pytest.raises(build_all.BuildError, match=r"src/fake_pkg/py\.typed is missing"):
        build_all.build_package(package, tmp_path / "dist")


def test_rebuild_only_when_sources_change(
    build_all: ModuleType, fake_built: Any, tmp_path: Path
) -> None:
    built = fake_built
    out = tmp_path / "dist"
    shutil.copytree(built.wheel.parent, out)
    package = built.package
    assert build_all.up_to_date(package, out)
    assert not build_all.build_package(package, out).rebuilt
    later = built.wheel.stat().st_mtime + 10
    os.utime(package.folder / "src" / "fake_pkg" / "__init__.py", (later, later))
    assert not build_all.up_to_date(package, out)


def test_deleting_a_source_file_invalidates_the_build(
    build_all: ModuleType, tmp_path: Path
) -> None:
    folder = _make_package(tmp_path)
    (folder / "src" / "fake_pkg" / "extra.py").write_text("")
    package = build_all.read_package(folder)
    out = tmp_path / "dist"
    out.mkdir()
    package.wheel(out).write_bytes(b"")
    package.sdist(out).write_bytes(b"")
    later = package.wheel(out).stat().st_mtime + 10
    for artifact in (package.wheel(out), package.sdist(out)):
        os.utime(artifact, (later, later))
    assert build_all.up_to_date(package, out)
    (folder / "src" / "fake_pkg" / "extra.py").unlink()
    os.utime(folder / "src" / "fake_pkg", (later + 5, later + 5))  # what unlink does, now
    assert not build_all.up_to_date(package, out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-package"], "build_all: error: unknown package 'no-such-package'"),
        (["--out", "/dev/null/x", "riso-core"], "build_all: error:"),
    ],
)
def test_cli_failure_is_one_line(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(message)
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
