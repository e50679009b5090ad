"""The GitHub workflows: CI mirrors .ci/run, a release publishes one package from its tag.

Parsed statically (no GitHub here): the release triggers on ``riso-*-v*`` tags
of every package, builds only the tagged package after checking its version
(``scripts/release_tag.py``, exercised here too), and publishes with trusted
publishing (``id-token: write`` on the publishing job only, no stored token).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PACKAGE_DIRS = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as the boolean True
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _release_tags() -> list[str]:
    out = []
    for folder in PACKAGE_DIRS:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        out.append(f"{project['name']}-v{project['version']}")
    return out


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return _load("release.yml")


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return _load("ci.yml")


def test_release_triggers_only_on_package_tags(release: dict[str, Any]) -> None:
    trigger = release["on"]
    assert set(trigger) == {"push"}, "a release must come from a tag push only"
    assert set(trigger["push"]) == {"tags"}
    patterns = trigger["push"]["tags"]
    for tag in _release_tags():
        assert any(fnmatch.fnmatchcase(tag, p) for p in patterns), f"{tag} would not release"
    for not_a_release in ("v0.1.0", "main", "riso-core-0.1.0", "other-v1.0.0"):
        assert not any(fnmatch.fnmatchcase(not_a_release, p) for p in patterns)


def test_release_uses_trusted_publishing(release: dict[str, Any]) -> None:
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    assert "secrets." not in text, "no long-lived token: trusted publishing only"
    assert not re.search(r"(?i)pypi[_-]?(api[_-]?)?token|password:", text)
    assert release.get("permissions", {}).get("id-token") != "write", (
        "id-token: write belongs to the publishing job only"
    )
    publishers = {
        name: job
        for name, job in release["jobs"].items()
        if any(
            str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@") for s in job["steps"]
        )
    }
    assert len(publishers) == 1
    (name, job), *_ = publishers.items()
    assert job["permissions"] == {"id-token": "write"}
    environment = job["environment"]
    assert (environment["name"] if isinstance(environment, dict) else environment) == "pypi"
    for other, other_job in release["jobs"].items():
        if other != name:
            assert "id-token" not in other_job.get("permissions", {})
    for step in job["steps"]:
        assert "password" not in step.get("with", {})


def test_release_checks_the_version_and_builds_only_that_package(release: dict[str, Any]) -> None:
    runs = [str(step.get("run", "")) for step in _steps(release)]
    resolve = [r for r in runs if "scripts/release_tag.py" in r]
    assert resolve, "the tag must be resolved (and its version checked) before building"
    assert "$GITHUB_REF_NAME" in resolve[0]
    builds = [r for r in runs if "scripts/build_all.py" in r]
    assert len(builds) == 1
    (build_step,) = [s for s in _steps(release) if "scripts/build_all.py" in str(s.get("run"))]
    # the distribution reaches the shell through env, never by ${{ }} text substitution
    assert "${{" not in builds[0]
    assert build_step["env"]["DISTRIBUTION"] == "${{ steps.tag.outputs.distribution }}"
    assert builds[0].endswith('"$DISTRIBUTION"'), "build only the tagged package"
    assert runs.index(resolve[0]) < runs.index(builds[0])
    for script in ("scripts/release_tag.py", "scripts/build_all.py"):
        assert (ROOT / script).is_file()


def test_ci_runs_ci_run_with_every_service(ci: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [str(step.get("run", "")).strip() for step in _steps(ci)]
    assert "bash .ci/run" in runs
    assert (ROOT / ".ci" / "run").is_file()
    (job,) = ci["jobs"].values()
    ports = {
        name: {str(p).split(":")[0] for p in service.get("ports", [])}
        for name, service in job["services"].items()
    }
    # the ports root conftest.py and .ci/run expect on localhost
    assert ports == {
        "postgres": {"5432"},
        "mariadb": {"3306"},
        "redis": {"6379"},
        "rabbitmq": {"5672"},
    }
    # root conftest connects as postgres without a password and as root without one
    assert job["services"]["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert job["services"]["mariadb"]["env"]["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"] == "1"
    checkout = next(
        s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout")
    )
    assert checkout["with"]["fetch-depth"] == 0, "the versioning test needs the release tags"


# --- scripts/release_tag.py --------------------------------------------------------


def _release_tag() -> ModuleType:
    name = "riso_scripts_release_tag"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "release_tag.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    for folder, name, version in [
        ("riso-db", "riso-db", "0.2.0"),
        ("riso-core", "riso-core", "1.0.0rc1"),
    ]:
        (tmp_path / "packages" / folder).mkdir(parents=True)
        (tmp_path / "packages" / folder / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        )
    return tmp_path


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (
            "riso-db-v0.2.0",
            {"distribution": "riso-db", "version": "0.2.0", "folder": "packages/riso-db"},
        ),
        (
            "refs/tags/riso-db-v0.2.0",
            {"distribution": "riso-db", "version": "0.2.0", "folder": "packages/riso-db"},
        ),
        (
            "riso-core-v1.0.0rc1",
            {"distribution": "riso-core", "version": "1.0.0rc1", "folder": "packages/riso-core"},
        ),
        (
            "riso-db-v0.1.0",
            "tag riso-db-v0.1.0 says 0.1.0 but packages/riso-db/pyproject.toml says 0.2.0",
        ),
        ("riso-db-v0.2", "says 0.2 but"),
        ("riso-auth-v0.1.0", "no package named 'riso-auth'"),
        ("riso-starter-v0.1.0", "no package named 'riso-starter'"),
        ("v0.2.0", "is not <distribution>-v<version>"),
        ("riso-db-0.2.0", "is not <distribution>-v<version>"),
    ],
)
def test_release_tag_resolution(fake_root: Path, tag: str, expected: dict[str, str] | str) -> None:
    module = _release_tag()
    if isinstance(expected, dict):
        assert module.resolve(tag, fake_root) == expected
    else:
        with pytest.raises(module.TagError, match=re.escape(expected)):
            module.resolve(tag, fake_root)


@pytest.mark.parametrize("tag", _release_tags())
def test_release_tag_of_every_current_version_resolves(tag: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release_tag.py"), tag],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"version={tag.rsplit('-v', 1)[1]}" in proc.stdout.splitlines()


def test_release_tag_error_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release_tag.py"), "riso-core-v9.9.9"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("release_tag: error: tag riso-core-v9.9.9 says 9.9.9 but")
    assert proc.stderr.count("\n") == 1
