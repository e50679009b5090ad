"""Putting an app under test on the shared connection: migrated once, rolled back per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import riso
from riso_db._database import Database, database
from riso_db_pytest._shared import SharedConnection
from riso_pytest import blocking

if TYPE_CHECKING:
    from fastapi import FastAPI

_SHARED = pytest.StashKey[dict[str, SharedConnection]]()
#: (database, active features, app folder) whose trees were upgraded this session
_MIGRATED = pytest.StashKey[set[tuple[str, tuple[str, ...], str]]]()


def shared_for(config: pytest.Config, app: FastAPI) -> SharedConnection:
    """The shared connection of the app's database, the app's engines pointed at it.

    The first time a database is seen with a given set of features (and app
    folder), every migration tree of the app (its features' and its own) is
    upgraded on it, through the app's own engines.
    """
    registry = config.stash.get(_SHARED, None)
    if registry is None:
        registry = config.stash[_SHARED] = {}
        config.add_cleanup(lambda: _close_all(registry))
    migrated = config.stash.setdefault(_MIGRATED, set())
    db = database(app)
    key = db.urls.sync_url.render_as_string(hide_password=False)
    features = tuple(sorted(info.name for info in riso.registry(app).active))
    trees = (key, features, str(db.app_dir))
    if trees not in migrated:
        from riso_db import upgrade

        upgrade(app)
        migrated.add(trees)
    shared = registry.get(key)
    if shared is None:
        shared = registry[key] = SharedConnection(db.urls, busy_timeout=db.settings.connect_timeout)
    _point_at(db, shared)
    return shared


def _point_at(db: Database, shared: SharedConnection) -> None:
    # riso_db_pytest ships in riso-db: it may set the Database's engines itself
    if db._engine is shared.async_engine and db._sync_engine is shared.sync_engine:
        return
    old_async, old_sync = db._engine, db._sync_engine
    db._engine, db._sync_engine = shared.async_engine, shared.sync_engine
    db._sessionmaker = None
    db._sync_sessionmaker = None
    if old_sync is not None and old_sync is not shared.sync_engine:
        old_sync.dispose()
    if old_async is not None and old_async is not shared.async_engine:
        blocking(old_async.dispose)


def _close_all(registry: dict[str, SharedConnection]) -> None:
    for shared in registry.values():
        if shared.async_raw is not None:
            blocking(shared.close_async)
        shared.close()
    registry.clear()
