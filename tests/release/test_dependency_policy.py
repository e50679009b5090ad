"""Dependency policy over the lockfile and the declared ranges (part of the security gate).

Forbidden outright: passlib (unmaintained, breaks with bcrypt 5), python-jose
(algorithm confusion, unmaintained) and ecdsa (timing side channel the project
will not fix). PyJWT must be at a patched version (>= 2.13).

Checked on ``uv.lock`` (what CI and the starter actually install) and on every
package's declared dependencies (what a user's resolver may pick), and proven
on synthetic locks that must fail.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECTS = sorted(
    [*(ROOT / "packages").glob("*/pyproject.toml"), ROOT / "starter" / "pyproject.toml"]
)

#: distribution -> (allowed versions, why); "" allows nothing
POLICY: dict[str, tuple[str, str]] = {
    "passlib": ("", "unmaintained and broken with bcrypt>=5: use pwdlib"),
    "python-jose": ("", "unmaintained, algorithm confusion: use PyJWT"),
    "ecdsa": ("", "unfixed timing side channel (pulled by python-jose)"),
    "pyjwt": (">=2.13", "older PyJWT releases have known vulnerabilities"),
}


def _allowed(name: str, version: Version) -> bool:
    allowed, _ = POLICY[name]
    return bool(allowed) and SpecifierSet(allowed).contains(version, prereleases=True)


def lock_violations(lock: dict[str, Any]) -> list[str]:
    """Every locked package the policy forbids, as ``name version: why``."""
    problems = []
    for package in lock.get("package", []):
        name = canonicalize_name(str(package.get("name", "")))
        if name not in POLICY:
            continue
        version = Version(str(package.get("version", "0")))
        if not _allowed(name, version):
            problems.append(f"{name} {version} is locked: {POLICY[name][1]}")
    return problems


def declared_violations(project: dict[str, Any]) -> list[str]:
    """Declared requirements that name a forbidden package or admit a forbidden version."""
    raw = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        raw.extend(extra)
    problems = []
    for requirement in map(Requirement, raw):
        name = canonicalize_name(requirement.name)
        if name not in POLICY:
            continue
        allowed, why = POLICY[name]
        if not allowed:
            problems.append(f"{requirement} is declared: {why}")
            continue
        floor = SpecifierSet(allowed)
        # the declared range must not admit anything below the allowed floor
        probes = [Version(s.version) for s in floor if s.operator in {">=", ">"}]
        below = [
            Version(f"{p.major}.{p.minor - 1}.999") if p.minor else Version("0") for p in probes
        ]
        if any(requirement.specifier.contains(v, prereleases=True) for v in below):
            problems.append(f"{requirement} admits versions outside {allowed}: {why}")
    return problems


def test_lockfile_follows_the_policy() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert lock.get("package"), "uv.lock lists no package: is it a uv lockfile?"
    assert lock_violations(lock) == []


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=[p.parent.name for p in PYPROJECTS])
def test_declared_dependencies_follow_the_policy(pyproject: Path) -> None:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    assert declared_violations(project) == []


def _lock(*packages: tuple[str, str]) -> dict[str, Any]:
    base = [("fastapi", "0.115.0"), ("pwdlib", "0.2.1")]
    return {
        "version": 1,
        "package": [{"name": n, "version": v} for n, v in [*base, *packages]],
    }


@pytest.mark.parametrize(
    ("name", "version", "forbidden"),
    [
        ("passlib", "1.7.4", True),
        ("python-jose", "3.3.0", True),
        ("python_jose", "3.4.0", True),  # any spelling of the name
        ("ecdsa", "0.19.1", True),
        ("PyJWT", "2.12.1", True),
        ("pyjwt", "2.8.0", True),
        ("pyjwt", "2.13.0", False),
        ("pyjwt", "2.15.1", False),
        ("bcrypt", "4.2.0", False),
    ],
)
def test_policy_flags_a_synthetic_lock(name: str, version: str, forbidden: bool) -> None:
    problems = lock_violations(_lock((name, version)))
    assert bool(problems) is forbidden
    if forbidden:
        assert problems[0].startswith(f"{canonicalize_name(name)} {version} is locked")


@pytest.mark.parametrize(
    ("requirement", "forbidden"),
    [
        ("passlib[bcrypt]>=1.7", True),
        ("python-jose[cryptography]>=3.3", True),
        ("ecdsa>=0.19", True),
        ("pyjwt>=2.8,<3", True),
        ("pyjwt<3", True),
        ("pyjwt>=2.13,<3", False),
        ("pyjwt[crypto]>=2.14", False),
        ("fastapi>=0.115,<1", False),
    ],
)
def test_policy_flags_a_declared_range(requirement: str, forbidden: bool) -> None:
    assert bool(declared_violations({"dependencies": [requirement]})) is forbidden
    extra = {"optional-dependencies": {"jwt": [requirement]}}
    assert bool(declared_violations(extra)) is forbidden
