"""The documentation site: it builds with ``mkdocs build --strict`` and cannot drift.

The build runs the real MkDocs (Material theme, the settings-reference hook)
into a temporary folder. The settings reference must list every field of
every settings model (riso-core's and each installed feature's) with a
description, and never print a secret's default; the command reference every
``riso`` command and option. A broken link fails the
strict build (checked on a copy of the docs with one added). Package READMEs
render on PyPI, where relative links are dead: theirs must be absolute. The
built site loads nothing from the network (it is read offline too), and every
test the security page cites exists.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

import riso

ROOT = Path(__file__).resolve().parents[2]
READMES = sorted((ROOT / "packages").glob("*/README.md"))


def _hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


reference = _hook("settings_reference")
cli_reference = _hook("cli_reference")


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = _build(ROOT, out)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


@pytest.fixture(scope="module")
def settings_page(site: Path) -> str:
    return html.unescape((site / "reference" / "settings" / "index.html").read_text("utf-8"))


def test_strict_build_writes_every_nav_page(site: Path) -> None:
    for page in ("getting-started", "testing", "upgrading", "maintainers", "design", "security"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "assets" / "middleware.svg").is_file()


_EXTERNAL_ASSET = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"')


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    # no web fonts, scripts or images from a CDN: the docs work offline
    loaded = {
        match
        for page in site.rglob("*.html")
        for match in _EXTERNAL_ASSET.findall(page.read_text("utf-8"))
    }
    assert loaded == set()


SECTIONS = reference.sections()


def test_every_installed_feature_with_settings_has_a_section() -> None:
    # every riso.Settings subclass the installed packages define is documented
    import riso_auth  # noqa: F401  (imported for their settings classes)
    import riso_db  # noqa: F401
    import riso_health  # noqa: F401
    import riso_obs  # noqa: F401
    import riso_tasks  # noqa: F401

    documented = {s.model for s in SECTIONS}
    defined = {
        cls
        for cls in _subclasses(riso.Settings)
        if cls.__module__.split(".")[0].startswith("riso") and "tests" not in cls.__module__
    }
    assert defined - documented == set()
    assert {s.feature for s in SECTIONS} >= {"core", "db", "auth", "obs", "tasks", "health"}
    # fields holding models get tables of their own (riso-tasks' periodic tasks)
    assert any(reference.nested_models(s.model) for s in SECTIONS)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.feature)
def test_reference_lists_every_field_with_a_description(section: Any, settings_page: str) -> None:
    start = settings_page.index(f"<code>{section.model.__name__}</code>")
    end = settings_page.find("<h2", start)
    body = settings_page[start : end if end != -1 else None]
    rows = [(section.model, row) for row in reference.rows(section.model)]
    assert [r.field for _, r in rows] == list(section.model.model_fields)
    for nested in reference.nested_models(section.model):
        nested_rows = reference.nested_rows(section.model, nested)
        assert [r.field for r in nested_rows] == list(nested.model.model_fields)
        rows += [(nested.model, row) for row in nested_rows]
    for model, row in rows:
        assert row.description, (
            f"{model.__name__}.{row.field} has no description: add a `#:` comment "
            "above it or Field(description=...)"
        )
        for variable in row.variables:
            assert f"<code>{variable}</code>" in body, variable
        assert row.description.replace("``", "")[:30] in _text(body), row.field


@pytest.fixture(scope="module")
def cli_page(site: Path) -> str:
    return html.unescape((site / "reference" / "cli" / "index.html").read_text("utf-8"))


def test_cli_reference_lists_every_command_and_option(cli_page: str) -> None:
    paths = []
    for path, command in cli_reference.commands(cli_reference.root()):
        paths.append(path)
        name = " ".join(path)
        heading = re.search(rf'<h[234] id="[^"]*"><code>{re.escape(name)}</code>', cli_page)
        assert heading is not None, name
        section = cli_page[heading.end() :].split("<h", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option):
                assert f"<code>{param.opts[0]}" in section, f"{name} {param.opts[0]}"
    # riso-core's commands and every installed feature's group
    assert {p[1] for p in paths if len(p) == 2} >= {"check", "features", "serve", "db", "auth"}
    assert ("riso", "db", "upgrade") in paths


def test_secret_defaults_are_never_printed(settings_page: str) -> None:
    secrets_seen = 0
    for section in SECTIONS:
        for name, info in section.model.model_fields.items():
            if isinstance(info.default, SecretStr):
                secrets_seen += 1
                value = info.default.get_secret_value()
                assert value not in settings_page, f"{section.model.__name__}.{name}"
    assert secrets_seen  # riso-db's URL default is a SecretStr


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, "integer"),
        (str | None, "string, optional"),
        (SecretStr | None, "secret string, optional"),
        (dict[str, Any], "JSON object"),
        (Path | None, "path, optional"),
        (list[int], "JSON list"),
    ],
)
def test_type_names(annotation: Any, expected: str) -> None:
    assert reference._annotation_text(annotation) == expected


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text("utf-8") + "\n[gone](no-such-page.md)\n", "utf-8")
    built = _build(tmp_path, tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stdout + built.stderr


_CITED = re.compile(r"`([\w./-]+\.py)?(?:::(test_\w+))?`")


def test_every_test_the_security_page_cites_exists() -> None:
    # `path.py`, `path.py::test_name`, or `::test_name` of the path cited before it
    cited, missing, last = 0, [], None
    for match in _CITED.finditer((ROOT / "docs" / "security.md").read_text("utf-8")):
        path, name = match.groups()
        if path:
            last = ROOT / path
            cited += 1
            if not last.is_file():
                missing.append(path)
                continue
        if name and (last is None or f"def {name}(" not in last.read_text("utf-8")):
            missing.append(f"{last}::{name}")
    assert missing == []
    assert cited >= 20


_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_package_readme_links_are_absolute(readme: Path) -> None:
    targets = _LINK.findall(readme.read_text("utf-8"))
    relative = [t for t in targets if not t.startswith(("https://", "http://"))]
    assert relative == [], f"{readme.relative_to(ROOT)}: links dead on PyPI: {relative}"


def test_no_link_leaves_the_repository_for_the_design_contract() -> None:
    outside = "../" + "shared/design.md"
    files = subprocess.run(
        ["git", "ls-files", "*.md", "*.toml", "*.yml", "*.yaml", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [f for f in files if outside in (ROOT / f).read_text("utf-8")] == []
    assert (ROOT / "docs" / "design.md").is_file()


def _subclasses(cls: type[BaseSettings]) -> set[type[BaseSettings]]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", fragment).split())
