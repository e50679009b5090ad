"""Versioning rules: each package keeps its own version, CHANGELOG and tags.

- the pyproject version equals the top released ``## [x.y.z]`` heading of the
  package's CHANGELOG.md, which starts with ``## Unreleased``;
- a release is the git tag ``<distribution>-v<version>``; when files under the
  package changed since its latest tag, ``## Unreleased`` must say what changed;
- every range on a sibling (``riso-core>=0.1,<0.2``) includes that sibling's
  current version and has a ceiling, and a feature's ``riso.Feature(core=...)``
  is the same range its pyproject declares on riso-core.

The rules are functions checked twice: on the real packages, and on synthetic
inputs (including a throwaway git repository with a tag) that must fail them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))
# the starter is never released, but its ranges on the packages must hold too
DEPENDENT_DIRS = [*PACKAGE_DIRS, ROOT / "starter"]

HEADING = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
RELEASED = re.compile(r"^\[(?P<version>[^\]]+)\](?:\s+-\s+\d{4}-\d{2}-\d{2})?$")


def _pyproject(folder: Path) -> dict[str, object]:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))


def _project(folder: Path) -> dict[str, object]:
    project = _pyproject(folder)["project"]
    assert isinstance(project, dict)
    return project


def workspace_versions() -> dict[str, Version]:
    """Canonical distribution name -> current version, for every package."""
    out = {}
    for folder in PACKAGE_DIRS:
        project = _project(folder)
        out[canonicalize_name(str(project["name"]))] = Version(str(project["version"]))
    return out


# --- CHANGELOG ---------------------------------------------------------------------


def changelog_problems(text: str, version: str) -> list[str]:
    """What is wrong with a CHANGELOG against the package version (empty: fine)."""
    headings = list(HEADING.finditer(text))
    if not headings:
        return ["no '## ' heading at all"]
    problems = []
    if headings[0].group(1) != "Unreleased":
        problems.append(f"the first heading is {headings[0].group(1)!r}, not 'Unreleased'")
    released = [m for m in (RELEASED.match(h.group(1)) for h in headings) if m]
    if not released:
        problems.append("no released '## [x.y.z] - YYYY-MM-DD' heading")
    elif released[0].group("version") != version:
        problems.append(
            f"the top released heading is [{released[0].group('version')}] "
            f"but pyproject.toml says {version}"
        )
    for heading in headings:
        title = heading.group(1)
        if title != "Unreleased" and not RELEASED.match(title):
            problems.append(f"heading {title!r} is neither 'Unreleased' nor '[x.y.z] - date'")
    return problems


def unreleased_notes(text: str) -> str:
    """The body of the ``## Unreleased`` section, stripped (empty when none)."""
    headings = list(HEADING.finditer(text))
    for i, heading in enumerate(headings):
        if heading.group(1) == "Unreleased":
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return text[heading.end() : end].strip()
    return ""


# --- git tags ----------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def latest_tag(repo: Path, distribution: str) -> tuple[str, Version] | None:
    """The highest ``<distribution>-v<version>`` tag in ``repo``, if any."""
    prefix = f"{distribution}-v"
    best: tuple[str, Version] | None = None
    for tag in _git(repo, "tag", "--list", f"{prefix}*").split():
        try:
            version = Version(tag.removeprefix(prefix))
        except InvalidVersion:
            continue  # e.g. riso-db-vnext, or another distribution's tag
        if best is None or version > best[1]:
            best = (tag, version)
    return best


def changed_since(repo: Path, tag: str, folder: Path) -> list[str]:
    """Files under ``folder`` that differ from ``tag``: commits, working tree, new files."""
    rel = folder.resolve().relative_to(repo.resolve()).as_posix()
    changed = _git(repo, "diff", "--name-only", tag, "--", rel).split()
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", rel).split()
    return sorted({*changed, *untracked})


def release_problems(repo: Path, folder: Path) -> list[str]:
    """Tag rules for one package folder inside a git repository."""
    project = _project(folder)
    distribution, version = str(project["name"]), Version(str(project["version"]))
    found = latest_tag(repo, distribution)
    if found is None:
        return []  # never released: nothing to compare with
    tag, tagged = found
    problems = []
    if version < tagged:
        problems.append(f"version {version} is older than the released tag {tag}")
    changed = changed_since(repo, tag, folder)
    text = (folder / "CHANGELOG.md").read_text(encoding="utf-8")
    if changed and not unreleased_notes(text):
        problems.append(
            f"{len(changed)} file(s) changed since {tag} (e.g. {changed[0]}) "
            "but '## Unreleased' in CHANGELOG.md is empty"
        )
    return problems


# --- the real packages -------------------------------------------------------------


@pytest.mark.parametrize("folder", PACKAGE_DIRS, ids=[p.name for p in PACKAGE_DIRS])
def test_version_matches_changelog(folder: Path) -> None:
    changelog = folder / "CHANGELOG.md"
    assert changelog.is_file(), f"{folder.name} has no CHANGELOG.md"
    version = str(_project(folder)["version"])
    assert changelog_problems(changelog.read_text(encoding="utf-8"), version) == []


@pytest.mark.parametrize("folder", PACKAGE_DIRS, ids=[p.name for p in PACKAGE_DIRS])
def test_changes_since_last_tag_are_in_unreleased(folder: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert release_problems(ROOT, folder) == []


def _sibling_requirements(folder: Path) -> list[Requirement]:
    project = _project(folder)
    raw = list(project.get("dependencies", []))  # type: ignore[call-overload]
    for extra in dict(project.get("optional-dependencies", {})).values():  # type: ignore[call-overload]
        raw.extend(extra)
    siblings = workspace_versions()
    return [r for r in map(Requirement, raw) if canonicalize_name(r.name) in siblings]


def range_problems(requirement: Requirement, current: Version) -> list[str]:
    """A sibling range must include the sibling's current version and have a ceiling."""
    problems = []
    if not requirement.specifier.contains(current, prereleases=True):
        problems.append(f"{requirement} excludes the current {requirement.name} {current}")
    if not any(spec.operator in {"<", "<=", "~=", "=="} for spec in requirement.specifier):
        problems.append(f"{requirement} has no upper bound")
    if not any(spec.operator in {">", ">=", "~=", "=="} for spec in requirement.specifier):
        problems.append(f"{requirement} has no floor")
    return problems


@pytest.mark.parametrize("folder", DEPENDENT_DIRS, ids=[p.name for p in DEPENDENT_DIRS])
def test_sibling_ranges_include_current_versions(folder: Path) -> None:
    versions = workspace_versions()
    problems = [
        problem
        for requirement in _sibling_requirements(folder)
        for problem in range_problems(requirement, versions[canonicalize_name(requirement.name)])
    ]
    assert problems == []


def feature_core_specifiers(src: Path) -> list[str]:
    """The literal ``core=`` of every ``Feature(...)``/``riso.Feature(...)`` call under src."""
    found = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name != "Feature":
                continue
            for keyword in node.keywords:
                if keyword.arg == "core":
                    value = keyword.value
                    assert isinstance(value, ast.Constant), f"{path}: core= must be a literal"
                    found.append(str(value.value))
    return found


FEATURE_DIRS = [
    folder
    for folder in PACKAGE_DIRS
    if "riso.features" in dict(_project(folder).get("entry-points", {}))  # type: ignore[call-overload]
]


@pytest.mark.parametrize("folder", FEATURE_DIRS, ids=[p.name for p in FEATURE_DIRS])
def test_feature_core_range_matches_pyproject(folder: Path) -> None:
    declared = [r for r in _sibling_requirements(folder) if r.name == "riso-core"]
    assert len(declared) == 1, f"{folder.name} must depend on riso-core with a range"
    specifiers = feature_core_specifiers(folder / "src")
    assert len(specifiers) == 1, f"{folder.name}: expected one riso.Feature(core=...)"
    assert SpecifierSet(specifiers[0]) == declared[0].specifier
    assert SpecifierSet(specifiers[0]).contains(workspace_versions()["riso-core"])


# --- the rules fail when they must -------------------------------------------------

GOOD = "# Changelog\n\n## Unreleased\n\n## [0.2.0] - 2026-11-26\n\n- b\n\n## [0.1.0] - 2026-01-01\n"


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        (GOOD, "0.2.0", []),
        (GOOD, "0.1.0", ["the top released heading is [0.2.0] but pyproject.toml says 0.1.0"]),
        (GOOD, "0.3.0", ["the top released heading is [0.2.0] but pyproject.toml says 0.3.0"]),
        (
            GOOD.replace("## Unreleased\n\n", ""),
            "0.2.0",
            ["the first heading is '[0.2.0] - 2026-11-26', not 'Unreleased'"],
        ),
        ("# Changelog\n\n## Unreleased\n\n- a\n", "0.1.0", ["no released"]),
        ("# Changelog\n", "0.1.0", ["no '## ' heading at all"]),
        (GOOD.replace("[0.1.0]", "0.1.0"), "0.2.0", ["heading '0.1.0 - 2026-01-01' is neither"]),
    ],
    ids=[
        "ok",
        "version-behind",
        "version-ahead",
        "no-unreleased",
        "unreleased-only",
        "empty",
        "bad-heading",
    ],
)
def test_changelog_rule(text: str, version: str, expected: list[str]) -> None:
    problems = changelog_problems(text, version)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


@pytest.mark.parametrize(
    ("requirement", "current", "ok"),
    [
        ("riso-core>=0.1,<0.2", "0.1.0", True),
        ("riso-core>=0.1,<0.2", "0.1.7", True),
        ("riso-core>=0.1,<0.2", "0.2.0", False),
        ("riso-core>=0.2,<0.3", "0.1.0", False),
        ("riso-core>=0.1", "0.1.0", False),
        ("riso-core<0.2", "0.1.0", False),
        ("riso-core~=0.1.0", "0.1.3", True),
    ],
)
def test_range_rule(requirement: str, current: str, ok: bool) -> None:
    assert (range_problems(Requirement(requirement), Version(current)) == []) is ok


def test_feature_core_specifier_is_found(tmp_path: Path) -> None:
    (tmp_path / "_feature.py").write_text(
        'import riso\nfeature = riso.Feature(name="x", core=">=0.1,<0.2")\n'
    )
    (tmp_path / "other.py").write_text("Feature = dict\nf = Feature(core='ignored?')\n")
    assert feature_core_specifiers(tmp_path) == [">=0.1,<0.2", "ignored?"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one package ``pkg-a`` 0.1.0, released as ``pkg-a-v0.1.0``."""
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "ci@example.invalid")
    _git(tmp_path, "config", "user.name", "ci")
    _git(tmp_path, "config", "commit.gpgsign", "false")
    _git(tmp_path, "config", "tag.gpgsign", "false")
    pkg = tmp_path / "packages" / "pkg-a"
    (pkg / "src" / "pkg_a").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text('[project]\nname = "pkg-a"\nversion = "0.1.0"\n')
    (pkg / "CHANGELOG.md").write_text("## Unreleased\n\n## [0.1.0] - 2026-11-26\n\n- first\n")
    (pkg / "src" / "pkg_a" / "__init__.py").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "pkg-a 0.1.0")
    _git(tmp_path, "tag", "pkg-a-v0.1.0")
    _git(tmp_path, "tag", "pkg-a-vnext")  # not a version: ignored
    return tmp_path


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("nothing", None),
        ("outside the package", None),
        ("committed source change", "changed since pkg-a-v0.1.0"),
        ("uncommitted source change", "changed since pkg-a-v0.1.0"),
        ("new untracked file", "changed since pkg-a-v0.1.0"),
        ("source change with an Unreleased entry", None),
        ("version older than the tag", "older than the released tag pkg-a-v0.1.0"),
    ],
)
def test_release_rule_on_a_tagged_repo(repo: Path, change: str, problem: str | None) -> None:
    pkg = repo / "packages" / "pkg-a"
    init = pkg / "src" / "pkg_a" / "__init__.py"
    if change == "outside the package":
        (repo / "other" / "file.txt").write_text("y\n")
        _commit(repo, "unrelated")
    elif change == "committed source change":
        init.write_text("VALUE = 1\n")
        _commit(repo, "change")
    elif change == "uncommitted source change":
        init.write_text("VALUE = 2\n")
    elif change == "new untracked file":
        (pkg / "src" / "pkg_a" / "new.py").write_text("")
    elif change == "source change with an Unreleased entry":
        init.write_text("VALUE = 1\n")
        changelog = pkg / "CHANGELOG.md"
        changelog.write_text(
            changelog.read_text().replace("## Unreleased\n", "## Unreleased\n\n- VALUE\n")
        )
        _commit(repo, "change, noted")
    elif change == "version older than the tag":
        (pkg / "pyproject.toml").write_text('[project]\nname = "pkg-a"\nversion = "0.0.9"\n')
    problems = release_problems(repo, pkg)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) >= 1
        assert problem in problems[0]


def test_latest_tag_picks_the_highest_version_of_that_distribution(repo: Path) -> None:
    for tag in ("pkg-a-v0.10.0", "pkg-a-v0.9.0", "pkg-ab-v5.0.0"):
        _git(repo, "tag", tag)
    assert latest_tag(repo, "pkg-a") == ("pkg-a-v0.10.0", Version("0.10.0"))
    assert latest_tag(repo, "pkg-b") is None
