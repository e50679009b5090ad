"""scripts/releases.py: releases derived from git history, built from their own commit.

On synthetic repositories: a version's release is the first first-parent
commit carrying it; a version whose commit holds HEAD's package tree is the
tree, not an earlier release (the bump at merge); a shallow clone is refused
in one line. On this repository: riso-auth's releases and their wheels (built
from their commit, with the riso packages of that commit, cached by commit).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from riso_test_support import install as helpers

RELEASES = helpers.script("releases")
SCRIPT = helpers.ROOT / "scripts" / "releases.py"


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def commit(repo: Path, version: str, body: str, message: str) -> str:
    folder = repo / "packages" / "pkg"
    (folder / "src" / "pkg").mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "pkg"\nversion = "{version}"\n')
    (folder / "src" / "pkg" / "__init__.py").write_text(body)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_first_commit_of_each_version_is_its_release(repo: Path) -> None:
    first = commit(repo, "0.1.0", "a = 1\n", "0.1.0")
    commit(repo, "0.1.0", "a = 2\n", "a fix after the release")
    second = commit(repo, "0.1.1", "a = 3\n", "0.1.1")
    commit(repo, "0.1.1", "a = 4\n", "unreleased work, version not bumped yet")
    found = [(r.version, r.commit) for r in RELEASES.releases("pkg", repo)]
    assert found == [("0.1.0", first), ("0.1.1", second)]


def test_the_tree_is_not_an_earlier_release_even_after_the_bump(repo: Path) -> None:
    commit(repo, "0.1.0", "a = 1\n", "0.1.0")
    bump = commit(repo, "0.2.0", "a = 2\n", "the lead bumps at merge")
    assert [r.version for r in RELEASES.releases("pkg", repo)] == ["0.1.0"]
    assert [r.commit for r in RELEASES.releases("pkg", repo, include_tree=True)][-1] == bump
    commit(repo, "0.2.0", "a = 3\n", "work after the release")
    assert [r.version for r in RELEASES.releases("pkg", repo)] == ["0.1.0", "0.2.0"]


def test_a_shallow_clone_is_refused_in_one_line(repo: Path, tmp_path: Path) -> None:
    commit(repo, "0.1.0", "a = 1\n", "0.1.0")
    commit(repo, "0.1.1", "a = 2\n", "0.1.1")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True
    )
    with pytest.raises(RELEASES.ReleaseError, match="shallow clone"):
        RELEASES.releases("pkg", shallow)


def test_lock_constraints_pin_single_versions_only() -> None:
    registry = 'source = { registry = "https://pypi.org/simple" }'
    lock = "".join(
        f'[[package]]\nname = "{name}"\nversion = "{version}"\n{source}\n'
        for name, version, source in [
            ("a", "1.0", registry),
            ("b", "1.0", registry),  # two versions (per Python): no constraint
            ("b", "2.0", registry),
            ("riso-db", "0.1.0", 'source = { editable = "packages/riso-db" }'),
        ]
    )
    assert RELEASES.lock_constraints(lock) == "a==1.0\n"


def test_riso_auth_releases_come_from_history() -> None:
    found = {r.version: r for r in RELEASES.releases("riso-auth")}
    assert {"0.1.0", "0.1.1", "0.1.2"} <= set(found)
    for release in found.values():
        pyproject = git(helpers.ROOT, "show", f"{release.commit}:packages/riso-auth/pyproject.toml")
        assert f'version = "{release.version}"' in pyproject
        parent = git(helpers.ROOT, "rev-parse", f"{release.commit}^1")
        before = subprocess.run(
            ["git", "-C", str(helpers.ROOT), "show", f"{parent}:packages/riso-auth/pyproject.toml"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout  # empty before the package existed
        assert f'version = "{release.version}"' not in before  # the first commit carrying it
    assert "riso-auth" in RELEASES.table_packages()
    assert "riso-core" not in RELEASES.table_packages()


def test_a_release_builds_from_its_own_commit(tmp_path: Path) -> None:
    release = RELEASES.find_release("riso-auth", "0.1.0")
    index = RELEASES.build_release(release, cache=tmp_path / "cache")
    wheels = sorted(p.name for p in index.glob("*.whl"))
    assert wheels == [
        "riso_auth-0.1.0-py3-none-any.whl",
        "riso_core-0.1.0-py3-none-any.whl",
        "riso_db-0.1.0-py3-none-any.whl",
    ]
    with zipfile.ZipFile(index / "riso_auth-0.1.0-py3-none-any.whl") as zf:
        migrations = {n for n in zf.namelist() if "/migrations/v" in n}
    # 0.1.0 shipped only its first revision: built from that commit, not the tree
    assert migrations == {"riso_auth/migrations/v0001_initial.py"}
    assert "fastapi==" in (index / "constraints.txt").read_text()
    # cached by commit: a second call builds nothing
    stamp = (index / "constraints.txt").stat().st_mtime_ns
    assert RELEASES.build_release(release, cache=tmp_path / "cache") == index
    assert (index / "constraints.txt").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "riso-auth", "9.9.9"], "riso-auth 9.9.9 is not an earlier release"),
        (["build", "no-such-package", "0.1.0"], "releases: error: "),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_list_names_every_release_with_its_commit() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "list", "riso-auth"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("riso-auth 0.1.0 ")
    assert all(line.endswith("(owns tables)") for line in lines)
