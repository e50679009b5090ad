"""The sync side (workers, commands) and fork safety."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

import riso_db


def test_sync_sessions_share_the_database_with_async(
    make_app: Callable[..., FastAPI], db_url: str, widgets: object
) -> None:
    app = make_app(db_url, features=(widgets,))
    riso_db.upgrade(app)
    db = riso_db.database(app)
    with db.sync_sessionmaker() as session:
        session.execute(text("INSERT INTO testfeat_widget (name) VALUES ('w')"))
        session.commit()
    with db.sync_sessionmaker() as session:
        assert session.execute(text("SELECT name FROM testfeat_widget")).scalars().all() == ["w"]
        session.execute(text("INSERT INTO testfeat_widget (name) VALUES ('rolled back')"))
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM testfeat_widget")).scalar() == 1
    db.dispose_sync()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_after_fork_opens_its_own_connections(
    make_app: Callable[..., FastAPI], db_url: str
) -> None:
    db = riso_db.database(make_app(db_url))
    with db.sync_engine.connect() as conn:  # one pooled connection in the parent
        conn.execute(select(1))
        parent_dbapi = conn.connection.dbapi_connection
    assert db.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the inherited pool is gone, a new connection works
        status = 1
        try:
            ok = db.sync_engine.pool.checkedin() == 0  # type: ignore[attr-defined]
            with db.sync_engine.connect() as conn:
                ok = ok and conn.execute(select(1)).scalar() == 1
            os.write(write, b"ok" if ok else b"no")
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    answer = os.read(read, 2)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert answer == b"ok"
    assert status == 0
    # the child did not close the parent's connection: pre-ping finds it alive, so the
    # parent gets the very same connection back (a dead one would have been replaced)
    with db.sync_engine.connect() as conn:
        assert conn.connection.dbapi_connection is parent_dbapi
        assert conn.execute(select(1)).scalar() == 1
    db.dispose_sync()
