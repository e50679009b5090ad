"""Upgrade tests' helpers: earlier releases in venvs, what they stored, and the data they wrote.

Used by ``tests/upgrade/`` (the release matrix and the side-by-side run). A
package that owns tables has a *scenario* here: what its release writes over
HTTP, and how the next code proves that data still works. A package that owns
tables without a scenario fails the matrix, so a new feature cannot skip it.
"""

from __future__ import annotations

import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from riso_test_support import install as helpers

#: every engine the matrix runs on -> riso-db's extra for it
BACKENDS = {"sqlite": None, "postgresql": "postgres", "mariadb": "mysql"}
SECRET = "upgrade-test-secret-" + "k" * 32


def sqlalchemy_url(url: str) -> str:
    """A riso URL (``postgresql://``, ``mysql://``, ``sqlite:///``) with this process's driver."""
    for prefix, driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
    ):
        if url.startswith(prefix):
            return driver + url.removeprefix(prefix)
    return url


Snapshot = dict[str, dict[str, Any]]


def snapshot(url: str) -> Snapshot:
    """table -> {"columns": [...], "rows": sorted rows}, every table but the version tables."""
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        out: Snapshot = {}
        with engine.connect() as connection:
            for name, table in sorted(metadata.tables.items()):
                if name.endswith("alembic_version"):
                    continue
                rows = connection.execute(sa.select(table)).all()
                out[name] = {
                    "columns": [c.name for c in table.columns],
                    "rows": sorted((tuple(r) for r in rows), key=repr),
                }
        return out
    finally:
        engine.dispose()


def lost_data(before: Snapshot, after: Snapshot) -> list[str]:
    """What of ``before`` is not in ``after`` (tables, columns, rows); empty: nothing lost."""
    problems = []
    for table, old in before.items():
        new = after.get(table)
        if new is None:
            problems.append(f"table {table} is gone")
            continue
        missing = [c for c in old["columns"] if c not in new["columns"]]
        if missing:
            problems.append(f"{table}: columns {missing} are gone")
            continue
        index = [new["columns"].index(c) for c in old["columns"]]
        kept = sorted((tuple(row[i] for i in index) for row in new["rows"]), key=repr)
        if kept != old["rows"]:
            problems.append(f"{table}: rows differ ({len(old['rows'])} before, {len(kept)} after)")
    return problems


def wheel_pins(folder: Path) -> dict[str, str]:
    """distribution -> version of the riso wheels in a folder index."""
    pins = {}
    for wheel in folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        pins[name.replace("_", "-")] = version
    return pins


def tree_heads(venv: helpers.Venv) -> dict[str, str]:
    """feature tree -> its current revision, from the venv's ``riso db current``."""
    heads = {}
    for line in venv.riso("db", "current").stdout.splitlines()[1:]:
        cells = line.split()
        if cells and cells[0] != "app":
            heads[cells[0]] = cells[2]
    return heads


def install_release(
    venv: helpers.Venv, index: Path, distribution: str, backend: str, *extra: str
) -> None:
    """The release in ``index`` and the riso packages of its commit, third-party pinned."""
    pins = wheel_pins(index)
    db_extra = BACKENDS[backend]
    requirements = [
        f"{name}{f'[{db_extra}]' if name == 'riso-db' and db_extra else ''}=={version}"
        for name, version in sorted(pins.items())
        if name in {distribution, "riso-core", "riso-db"}
    ]
    venv.install(*requirements, *extra, "-c", str(index / "constraints.txt"))


def upgrade_to_tree(
    venv: helpers.Venv, wheelhouse: Path, constraints: Path, names: Sequence[str], backend: str
) -> None:
    """``pip install -U`` of ``names`` to the tree's wheels (same version string or not).

    riso-db is named with the backend's extra, as a requirements file names it,
    so a driver the new release adds to the extra (asyncpg in 0.3) comes along.
    """
    venv.find_links = [wheelhouse]
    db_extra = BACKENDS[backend]
    requirements = [
        f"{name}[{db_extra}]" if name == "riso-db" and db_extra else name for name in names
    ]
    reinstall = [arg for name in names for arg in ("--reinstall-package", name)]
    venv.install("--upgrade", *requirements, *reinstall, "-c", str(constraints))


def lock_pins(root: Path) -> str:
    """The tree's uv.lock as constraints (the versions CI tests the tree with)."""
    releases = helpers.script("releases")
    text: str = releases.lock_constraints((root / "uv.lock").read_text(encoding="utf-8"))
    return text


def tree_version(root: Path, folder: str) -> str:
    text = (root / "packages" / folder / "pyproject.toml").read_text(encoding="utf-8")
    return str(tomllib.loads(text)["project"]["version"])


def wheel_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        for line in zf.read(meta).decode("utf-8").splitlines():
            if line.startswith("Version: "):
                return line.removeprefix("Version: ")
    raise AssertionError(f"{wheel}: no Version in METADATA")


# -- riso-auth's scenario -------------------------------------------------------------------


@dataclass
class AuthData:
    """What the old release acknowledged: accounts, live and revoked refresh tokens."""

    passwords: dict[str, str] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)  # email -> unspent refresh token
    access: dict[str, str] = field(default_factory=dict)  # email -> access token
    revoked: list[str] = field(default_factory=list)  # refresh tokens of logged-out sessions


def _pair(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post("/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def auth_write(client: httpx.Client) -> AuthData:
    """Accounts, sessions, a rotated refresh chain and a logged-out session, over HTTP."""
    data = AuthData()
    for i in range(3):
        email, password = f"user-{i}@example.com", f"upgrade passphrase number {i}!"
        helpers.register_and_login(client, email, password)
        data.passwords[email] = password
        pair = _pair(client, email, password)
        data.access[email], data.refresh[email] = pair["access_token"], pair["refresh_token"]
    # user-0's chain is rotated once: the stored chain has a spent parent
    rotated = client.post(
        "/auth/refresh", json={"refresh_token": data.refresh["user-0@example.com"]}
    )
    assert rotated.status_code == 200, rotated.text
    data.refresh["user-0@example.com"] = rotated.json()["refresh_token"]
    data.access["user-0@example.com"] = rotated.json()["access_token"]
    # user-1 has a second session, logged out: its refresh token must stay refused
    pair = _pair(client, "user-1@example.com", data.passwords["user-1@example.com"])
    out = client.post("/auth/logout", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert out.status_code == 204, out.text
    data.revoked.append(pair["refresh_token"])
    return data


def auth_verify(client: httpx.Client, data: AuthData) -> None:
    """The old data works with the new code: passwords, tokens, refresh, revocation."""
    for email, token in data.access.items():
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, f"{email}'s old access token: {me.text}"
    for email, token in data.refresh.items():
        refreshed = client.post("/auth/refresh", json={"refresh_token": token})
        assert refreshed.status_code == 200, f"{email}'s old refresh token: {refreshed.text}"
        access = refreshed.json()["access_token"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
    for token in data.revoked:
        refused = client.post("/auth/refresh", json={"refresh_token": token})
        assert refused.status_code == 401, f"a logged-out session refreshed: {refused.text}"
    for email, password in data.passwords.items():
        helpers.login(client, email, password)
    taken = client.post(
        "/auth/register", json={"email": "user-0@example.com", "password": "another passphrase 7"}
    )
    assert 400 <= taken.status_code < 500, taken.text
    helpers.register_and_login(client, "new-user@example.com", "a new user's passphrase 2026")


@dataclass(frozen=True)
class Scenario:
    write: Callable[[httpx.Client], Any]
    verify: Callable[[httpx.Client, Any], None]


#: package folder -> its scenario (every package that owns tables needs one)
SCENARIOS: dict[str, Scenario] = {"riso-auth": Scenario(auth_write, auth_verify)}
