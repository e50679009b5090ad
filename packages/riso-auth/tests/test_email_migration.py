"""Revision auth_0002_normalise_emails: stored emails normalised, collisions reported, not merged.

The tree is downgraded to auth_0001_initial, rows are seeded as that release
stored them (raw SQL, its lower-case-only rule), and riso-db's upgrade runs
the data migration (and every later revision).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from riso_test_support.auth import AppFactory

import riso_db
from riso_db._migrations._runner import downgrade_tree
from riso_db._migrations._trees import all_trees, find_tree

VERSION_TABLE = "riso_auth_alembic_version"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _seed(engine: sa.Engine, emails: list[str]) -> dict[str, int]:
    insert = sa.text(
        "INSERT INTO auth_users (email, hashed_password, is_active, is_verified, is_superuser,"
        " scopes, security_stamp) VALUES (:email, 'x', :yes, :no, :no, '', :stamp)"
    )
    ids = {}
    with engine.begin() as conn:
        for email in emails:
            conn.execute(
                insert, {"email": email, "yes": True, "no": False, "stamp": uuid.uuid4().hex}
            )
            ids[email] = conn.execute(
                sa.text("SELECT id FROM auth_users WHERE email = :email"), {"email": email}
            ).scalar_one()
    return ids


def _back_to_the_first_release(app: FastAPI) -> str:
    """Downgrade riso-auth's tree to auth_0001_initial; its head, to upgrade to again."""
    trees = all_trees(app)
    tree = find_tree(trees, "auth")
    downgrade_tree(riso_db.database(app), tree, trees, "auth_0001_initial")
    head = tree.script.get_current_head()
    assert head is not None
    return head


def _emails(engine: sa.Engine, ids: dict[str, int]) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, email FROM auth_users WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": list(ids.values())},
        ).all()
    by_id = dict(rows)
    return {seeded: by_id[user_id] for seeded, user_id in ids.items()}


def test_upgrade_normalises_and_reports_collisions(
    app_factory: AppFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    u = uuid.uuid4().hex[:8]
    lone = f"\uff41lice-{u}@example.com"
    twin_a, twin_b = f"bob-{u}@example.com", f"\uff42ob-{u}@example.com"
    nfd = f"rene\u0301e-{u}@example.com"
    idna = f"carol-{u}@xn--bcher-kva.de"
    control = f"dave\x1b-{u}@example.com"
    canonical = f"erin-{u}@example.com"
    app = app_factory(db_url)
    head = _back_to_the_first_release(app)  # the previous release's rows come next
    engine = riso_db.database(app).sync_engine
    ids = _seed(engine, [lone, twin_a, twin_b, nfd, idna, control, canonical])
    engine.dispose()

    with caplog.at_level(logging.INFO, logger="riso.auth.migrations"):
        riso_db.upgrade(app)

    engine = riso_db.database(app).sync_engine
    try:
        stored = _emails(engine, ids)
        with engine.connect() as conn:
            version = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    finally:
        engine.dispose()
    assert version == head
    assert stored[lone] == f"alice-{u}@example.com"
    assert stored[nfd] == f"ren\u00e9e-{u}@example.com"
    assert stored[idna] == f"carol-{u}@b\u00fccher.de"
    assert stored[canonical] == canonical
    # the twins collide: both left as they were, and reported with their ids
    assert stored[twin_a] == twin_a
    assert stored[twin_b] == twin_b
    assert stored[control] == control
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    pair = ", ".join(str(i) for i in sorted((ids[twin_a], ids[twin_b])))
    reported = f"accounts {pair} have emails that are one address once normalised ('{twin_a}')"
    assert any(reported in w for w in warnings), warnings
    assert any(str(ids[control]) in w and "control character" in w for w in warnings), warnings
    assert not any(
        str(ids[lone]) in w.split("accounts ")[-1].split(" have")[0].split(", ") for w in warnings
    )
    assert "\x1b" not in "".join(warnings)


def test_a_canonical_row_registered_during_the_upgrade_is_not_merged(
    app_factory: AppFactory, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The previous release keeps serving: a row it stores meanwhile is never overwritten.

    PostgreSQL only: on SQLite the migration holds the database's write lock,
    so nothing can be stored meanwhile.
    """
    db_url = postgres_url
    u = uuid.uuid4().hex[:8]
    old, canonical = f"\uff5aoe-{u}@example.com", f"zoe-{u}@example.com"
    app = app_factory(db_url)
    _back_to_the_first_release(app)
    engine = riso_db.database(app).sync_engine
    ids = _seed(engine, [old])
    engine.dispose()
    other = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))

    def register_meanwhile(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE AUTH_USERS") and not racing:
            racing.append(True)
            ids.update(_seed(other, [canonical]))

    racing: list[bool] = []
    target = riso_db.database(app).sync_engine
    sa.event.listen(target, "before_cursor_execute", register_meanwhile)
    try:
        riso_db.upgrade(app)
    finally:
        sa.event.remove(target, "before_cursor_execute", register_meanwhile)
        other.dispose()
    assert racing
    engine = riso_db.database(app).sync_engine
    try:
        assert _emails(engine, ids) == {old: old, canonical: canonical}
    finally:
        engine.dispose()
