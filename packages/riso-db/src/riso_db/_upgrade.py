"""``riso_db.upgrade(app)``, importing Alembic only when called."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def upgrade(app: FastAPI) -> None:
    """Upgrade every active feature's tree in dependency order, then the app's, under one lock.

    What ``riso db upgrade`` does; tests of features call it to create their tables.
    """
    from riso_db._migrations._runner import upgrade as run_upgrade

    run_upgrade(app)
