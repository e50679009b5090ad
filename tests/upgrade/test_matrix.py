"""Every release of every package that owns tables upgrades to the tree, keeping its data.

For each earlier release (``scripts/releases.py``: from git history, built from
its own commit with the riso packages of that commit) and each engine: a fresh
venv with that release, ``riso db upgrade``, data written over its HTTP API,
``pip install -U`` to the tree's wheels, ``riso db check`` reports the tree
behind, ``riso db upgrade``; every row is still there, and after a downgrade
to the release's head and an upgrade again too; then old users sign in with
their passwords and old tokens still work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from riso_test_support import install as helpers
from riso_test_support import upgrade

from riso.testing import fresh_database

RELEASES = helpers.script("releases")
PACKAGES = RELEASES.table_packages()
CASES = [
    pytest.param(release, backend, id=f"{release.name}-{release.version}-{backend}")
    for folder in PACKAGES
    for release in RELEASES.releases(folder)
    for backend in upgrade.BACKENDS
]


def test_every_package_that_owns_tables_has_releases_and_a_scenario() -> None:
    assert "riso-auth" in PACKAGES  # the discovery finds the one we know of
    for folder in PACKAGES:
        assert folder in upgrade.SCENARIOS, f"{folder} owns tables but has no upgrade scenario"
    assert {r.version for r in RELEASES.releases("riso-auth")} >= {"0.1.0", "0.1.1", "0.1.2"}


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of the case's engine."""
    backend = request.node.callspec.params["backend"]
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    server = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")
    with fresh_database(server) as url:
        yield url


@pytest.mark.parametrize(("release", "backend"), CASES)
def test_release_upgrades_to_the_tree_and_keeps_its_data(
    release: Any,
    backend: str,
    database_url: str,
    releases: ModuleType,
    tree_wheels: dict[str, Path],
    tree_constraints: Path,
    tmp_path: Path,
) -> None:
    scenario = upgrade.SCENARIOS[release.folder]
    index = releases.build_release(release)
    venv = helpers.make_venv(tmp_path, [index])
    venv.env.update(RISO_DB_URL=database_url, RISO_AUTH_SECRET_KEY=upgrade.SECRET)

    # --- the release, migrated, with data written through its API ------------------------
    upgrade.install_release(venv, index, release.name, backend, helpers.UVICORN)
    assert venv.distributions()[release.name]["version"] == release.version
    venv.riso("db", "upgrade")
    old_heads = upgrade.tree_heads(venv)
    with helpers.serve(venv) as server, server.client() as client:
        data = scenario.write(client)
    before = upgrade.snapshot(database_url)
    assert before, "the release stored nothing"

    # --- pip install -U to the tree: the new code sees its tree behind --------------------
    names = sorted({release.name, "riso-core", "riso-db"})
    upgrade.upgrade_to_tree(
        venv, helpers.ROOT / ".cache" / "wheels-upgrade", tree_constraints, names, backend
    )
    installed = venv.distributions()
    for name in names:
        assert set(installed[name]["record"]) == helpers.wheel_records(tree_wheels[name]), name
    # a release made before the tree's last code-only changes has nothing to migrate
    new_revisions = RELEASES.revisions_at(release.folder) - RELEASES.revisions_at(
        release.folder, release.commit
    )
    check = venv.riso("db", "check", check=False)
    if new_revisions:
        assert check.returncode == 1, check.stdout + check.stderr
        assert "behind" in check.stderr, check.stderr
    else:
        assert check.returncode == 0, check.stdout + check.stderr

    upgraded = venv.riso("db", "upgrade").stdout
    for tree, head in old_heads.items():
        if new_revisions:
            assert f"{tree}: {head} -> " in upgraded, upgraded
        else:
            assert "nothing to do" in upgraded, upgraded
    assert venv.riso("db", "check", check=False).returncode == 0
    assert upgrade.lost_data(before, upgrade.snapshot(database_url)) == []

    # --- back to the release's heads and up again: still nothing lost ---------------------
    for tree, head in reversed(list(old_heads.items())):
        venv.riso("db", "downgrade", tree, head)
    assert upgrade.tree_heads(venv) == old_heads
    assert upgrade.lost_data(before, upgrade.snapshot(database_url)) == []
    venv.riso("db", "upgrade")
    assert venv.riso("db", "check", check=False).returncode == 0
    assert upgrade.lost_data(before, upgrade.snapshot(database_url)) == []

    # --- the old data works with the new code ---------------------------------------------
    with helpers.serve(venv) as server, server.client() as client:
        scenario.verify(client, data)
        ready = client.get("/hello")
        assert ready.status_code == 200


ROWS = {"t": {"columns": ["id", "name"], "rows": [(1, "a"), (2, "b")]}}


@pytest.mark.parametrize(
    ("after", "problem"),
    [
        ({}, "table t is gone"),
        ({"t": {"columns": ["id"], "rows": [(1,), (2,)]}}, "t: columns ['name'] are gone"),
        (
            {"t": {"columns": ["id", "name"], "rows": [(1, "a")]}},
            "t: rows differ (2 before, 1 after)",
        ),
        ({"t": {"columns": ["id", "name"], "rows": [(1, "a"), (2, "B")]}}, "t: rows differ"),
    ],
)
def test_lost_data_names_what_is_gone(after: upgrade.Snapshot, problem: str) -> None:
    assert any(p.startswith(problem) for p in upgrade.lost_data(ROWS, after))


def test_new_columns_and_tables_are_not_lost_data() -> None:
    after = {
        "t": {"columns": ["id", "extra", "name"], "rows": [(2, None, "b"), (1, "x", "a")]},
        "u": {"columns": ["id"], "rows": [(1,)]},
    }
    assert upgrade.lost_data(ROWS, after) == []
