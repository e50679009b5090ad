"""Revision auth_0004_account_management: expand only, reversible, accounts and sessions kept."""

from __future__ import annotations

import sqlalchemy as sa
from riso_test_support.auth import AppFactory, account, bearer, fresh_address, migrate, serve

import riso_auth
import riso_db
from riso_db._migrations._runner import downgrade_tree
from riso_db._migrations._trees import all_trees, find_tree

NEW_TABLES = {"auth_roles", "auth_user_roles", "auth_api_keys"}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


async def test_down_to_0003_and_up_again_keeps_accounts_and_sessions(
    app_factory: AppFactory, empty_db_url: str
) -> None:
    app = app_factory(empty_db_url)
    engine = riso_db.database(app).sync_engine
    assert _tables(engine) >= NEW_TABLES
    async with serve(app, fresh_address()) as client:
        user_id, token = await account(app, client, "kept@example.com", scopes="items:read")
        await riso_auth.runtime(app).roles.create("reader", ["items:read"])
        await riso_auth.runtime(app).roles.grant("reader", user_id)
        trees = all_trees(app)
        downgrade_tree(
            riso_db.database(app), find_tree(trees, "auth"), trees, "auth_0003_identities"
        )
        assert not NEW_TABLES & _tables(engine)
        with engine.connect() as conn:
            users = conn.execute(sa.text("SELECT id, email FROM auth_users")).all()
            sessions = conn.execute(
                sa.text("SELECT count(*) FROM auth_sessions WHERE user_id = :id"), {"id": user_id}
            ).scalar_one()
        assert [tuple(u) for u in users] == [(user_id, "kept@example.com")]
        assert sessions == 1
        migrate(app)
        assert _tables(engine) >= NEW_TABLES
        # the session from before both migrations still works; the role went with its table
        riso_auth.runtime(app).principal_cache.clear()
        me = await client.get("/auth/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["email"] == "kept@example.com"
        assert await riso_auth.runtime(app).roles.list() == []
    engine.dispose()
