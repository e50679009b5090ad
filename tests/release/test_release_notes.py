"""What a user reads before bumping a version: Project-URLs, absolute README links,
and a ``### Migrations`` subsection in every CHANGELOG release section.

For a package that owns tables the Migrations subsections are checked against
git history (``scripts/releases.py``): each revision a release added is named
in that release's section, a release that added none says "none", and a
revision the tree has that no release shipped is named under ``## Unreleased``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from riso_test_support import install as helpers

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://github.com/riso-dev/riso"
RELEASES = helpers.script("releases")
FOLDERS = RELEASES.package_folders()
SECTION = re.compile(r"^## +(?P<title>.+?)\s*$", re.MULTILINE)
VERSION = re.compile(r"^\[(?P<version>[^\]]+)\]")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def sections(text: str) -> dict[str, str]:
    """'Unreleased' or a version -> the section's text (up to the next ``## ``)."""
    found = list(SECTION.finditer(text))
    out = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        version = VERSION.match(match.group("title"))
        out[version.group("version") if version else match.group("title")] = text[match.end() : end]
    return out


def migrations(section: str) -> str | None:
    """The ``### Migrations`` subsection's text, or None when there is none."""
    match = re.search(r"^### Migrations\s*$(?P<body>.*?)(?=^### |\Z)", section, re.M | re.S)
    return match.group("body").strip() if match else None


def changelog_problems(text: str, added: dict[str, set[str]], unreleased: set[str]) -> list[str]:
    """What the Migrations subsections miss; ``added``: version -> revisions it added."""
    problems = []
    found = sections(text)
    for version, section in found.items():
        if version == "Unreleased":
            continue
        body = migrations(section)
        if body is None:
            problems.append(f"[{version}] has no '### Migrations' subsection")
            continue
        revisions = added.get(version, set())
        if not revisions and body.rstrip(".").lower() != "none":
            problems.append(f"[{version}] added no revision: its Migrations should say 'none'")
        for revision in sorted(revisions):
            if f"`{revision}`" not in body:
                problems.append(f"[{version}] Migrations does not name `{revision}`")
    if unreleased:
        body = migrations(found.get("Unreleased", "")) or ""
        for revision in sorted(unreleased):
            if f"`{revision}`" not in body:
                problems.append(f"Unreleased Migrations does not name `{revision}`")
    return problems


def added_per_release(folder: str) -> tuple[dict[str, set[str]], set[str]]:
    """version -> revisions first shipped by it, and the tree's revisions no release shipped."""
    added, shipped = {}, set()
    for release in RELEASES.releases(folder, include_tree=True):
        revisions = RELEASES.revisions_at(folder, release.commit)
        added[release.version] = revisions - shipped
        shipped |= revisions
    return added, RELEASES.revisions_at(folder) - shipped


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_release_section_has_its_migrations(folder: str) -> None:
    text = (ROOT / "packages" / folder / "CHANGELOG.md").read_text(encoding="utf-8")
    added, unreleased = added_per_release(folder)
    assert changelog_problems(text, added, unreleased) == []


@pytest.mark.parametrize(
    ("text", "added", "unreleased", "problem"),
    [
        ("## Unreleased\n\n## [0.1.0]\n\n### Added\n\n- x\n", {}, set(), "no '### Migrations'"),
        ("## [0.1.0]\n\n### Migrations\n\nnone.\n", {"0.1.0": {"a_0001"}}, set(), "name `a_0001`"),
        ("## [0.1.0]\n\n### Migrations\n\n- `a_0001`\n", {}, set(), "should say 'none'"),
        (
            "## Unreleased\n\n## [0.1.0]\n\n### Migrations\n\nnone.\n",
            {},
            {"a_0002"},
            "Unreleased Migrations does not name `a_0002`",
        ),
    ],
)
def test_changelog_problems_are_found(
    text: str, added: dict[str, set[str]], unreleased: set[str], problem: str
) -> None:
    assert any(problem in p for p in changelog_problems(text, added, unreleased))


def test_a_complete_changelog_passes() -> None:
    text = (
        "## Unreleased\n\n### Migrations\n\n- `a_0003` does z\n\n"
        "## [0.2.0]\n\n### Migrations\n\n- `a_0002` does y\n\n### Fixed\n\n- q\n\n"
        "## [0.1.0]\n\n### Migrations\n\nnone.\n"
    )
    assert changelog_problems(text, {"0.2.0": {"a_0002"}, "0.1.0": set()}, {"a_0003"}) == []


def test_riso_auth_history_is_what_the_changelog_describes() -> None:
    added, _ = added_per_release("riso-auth")
    assert added["0.1.0"] == {"auth_0001_initial"}
    assert added["0.1.1"] == {"auth_0002_normalise_emails"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_project_urls_are_absolute_and_point_at_the_package(folder: str) -> None:
    project = tomllib.loads((ROOT / "packages" / folder / "pyproject.toml").read_text())["project"]
    urls = project.get("urls", {})
    assert set(urls) == {"Source", "Changelog", "Documentation"}
    for url in urls.values():
        assert url.startswith(f"{BASE}/"), url
        path = url.removeprefix(f"{BASE}/").split("/", 2)[2]  # after tree|blob/main/
        assert path.startswith(f"packages/{folder}"), url
        assert (ROOT / path).exists(), f"{url} names a file the repository lacks"


@pytest.mark.parametrize("folder", FOLDERS)
def test_readme_links_render_on_the_package_index(folder: str) -> None:
    text = (ROOT / "packages" / folder / "README.md").read_text(encoding="utf-8")
    relative = [
        m["target"]
        for m in LINK.finditer(text)
        if not m["target"].startswith(("https://", "http://", "#", "mailto:"))
    ]
    assert relative == [], "relative links break on PyPI; use https://github.com/riso-dev/riso/..."
    for target in (m["target"] for m in LINK.finditer(text)):
        if target.startswith((f"{BASE}/blob/main/", f"{BASE}/tree/main/")):
            path = target.split("/main/", 1)[1].split("#", 1)[0]
            assert (ROOT / path).exists(), f"{target} names a file the repository lacks"
