"""The dependency ranges in the pyproject files are tested, not assumed.

Every requirement a wheel declares is installed at its floor (uv's
``--resolution lowest-direct`` with the declared requirements as the direct
ones): siblings at their lowest declared versions, third-party packages at
their lowest declared floors. The full set then serves a real app; each
package alone (where no other package's higher floor can hide its own)
imports, with its CLI, goes through ``riso.include`` and starts and stops (its
lifespan) on the embedded defaults.
"""

from __future__ import annotations

import re
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from riso_test_support import install as helpers


def declared(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist, without the optional extras."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        parsed = Parser().parsestr(zf.read(meta).decode("utf-8"))
    requirements = [Requirement(r) for r in parsed.get_all("Requires-Dist") or []]
    return [r for r in requirements if r.marker is None or "extra" not in str(r.marker)]


def floors(requirements: list[Requirement]) -> dict[str, Version]:
    """name -> the highest '>=' floor declared for it."""
    out: dict[str, Version] = {}
    for req in requirements:
        for spec in req.specifier:
            if spec.operator == ">=":
                name = canonicalize_name(req.name)
                out[name] = max(out.get(name, Version("0")), Version(spec.version))
    return out


def lowest_venv(
    venv: Any, dists: list[str], wheels: dict[str, Path], *extra: str
) -> dict[str, Version]:
    """Install ``dists`` with every declared requirement at its floor; returns the floors.

    ``extra`` requirements (the server) join the same resolution, so they can
    neither move a floor nor be installed afterwards on top of it.
    """
    requirements = [req for dist in dists for req in declared(wheels[dist])]
    venv.install(*dists, *(str(r) for r in requirements), *extra, resolution="lowest-direct")
    installed = {name: Version(d["version"]) for name, d in venv.distributions().items()}
    expected = floors(requirements)
    # The floor's own release series: ">=8.1" may give 8.1.2 when 8.1.0 and
    # 8.1.1 are yanked, but never 8.2; ">=0.1" of a sibling gives 0.1.0.
    got = {name: installed[name] for name in expected}
    off = {
        name: f"declared >={floor}, installed {got[name]}"
        for name, floor in expected.items()
        if got[name] < floor or got[name].release[: len(floor.release)] != floor.release
    }
    assert not off, f"a declared floor was not installed (or does not exist): {off}"
    return expected


def test_full_set_at_lowest_declared_versions_serves_the_app(
    venv_factory: Any, wheels: dict[str, Path]
) -> None:
    venv = venv_factory("lowest-full")
    lowest_venv(venv, list(helpers.ALL_DISTS), wheels, helpers.UVICORN)
    features = venv.riso("features").stdout
    assert [ln.split()[0] for ln in features.splitlines()[1:] if ln.strip()] == [
        "db",
        "auth",
        "health",
        "obs",
        "tasks",
    ]
    assert f"auth: (empty) -> {helpers.tree_head('riso-auth')}" in venv.riso("db", "upgrade").stdout
    with helpers.serve(venv) as server, server.client() as client:
        assert client.get("/hello").json() == {"hello": "world"}
        helpers.register_and_login(client, "lowest@example.com", "correct horse battery staple 7")
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "# TYPE " in metrics.text
        assert metrics.headers["x-request-id"]
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "dist", ["riso-core", "riso-db", "riso-auth", "riso-health", "riso-obs", "riso-tasks"]
)
def test_each_package_alone_at_its_own_floors_imports_and_includes(
    dist: str, venv_factory: Any, wheels: dict[str, Path]
) -> None:
    venv = venv_factory(f"lowest-{dist}")
    lowest_venv(venv, [dist], wheels)
    modules = [m for m in helpers.IMPORTS[dist] if m]
    code = (
        "import importlib, json\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from fastapi import FastAPI\n"
        "import riso\n"
        "app = FastAPI()\n"
        "riso.include(app)\n"
        "import asyncio\n"
        "async def cycle():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        assert riso.registry(app).phase == 'running'\n"
        "asyncio.run(cycle())\n"
        "print(json.dumps([f.name for f in riso.registry(app).active]))\n"
    )
    active = venv.python_json(code)
    expected = {"riso-core": [], "riso-auth": ["db", "auth"]}.get(
        dist, [re.sub("^riso-", "", dist)]
    )
    assert active == expected
