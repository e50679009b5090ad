"""A database session for code running in a task (when riso-db is active).

The session comes from the capability riso-db provides
(``riso.SYNC_SESSION_FACTORY``), so riso-tasks never imports riso-db.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app

from riso_tasks._exceptions import NotConfiguredError


def _fastapi_app() -> Any:
    task = current_app.current_task
    capp = task.app if task is not None else current_app
    app = getattr(capp, "riso_fastapi_app", None)
    if app is None:
        raise NotConfiguredError(
            "no riso app is known to this Celery app: build it with riso_tasks.celery_app(app)"
        )
    return app


@contextmanager
def db_session() -> Iterator[Any]:
    """A sync SQLAlchemy session that commits on success and rolls back on error.

    ``with riso_tasks.db_session() as session: ...`` inside a task. Uses the
    database of the app the worker serves (riso-db's sessions).
    """
    import riso

    registry = riso.registry(_fastapi_app())
    new_session = registry.lookup(riso.SYNC_SESSION_FACTORY)
    if new_session is None:
        if registry.get("db") is None:
            raise NotConfiguredError(
                "riso_tasks.db_session() needs riso-db: pip install 'riso-tasks[db]'"
            )
        raise NotConfiguredError("the feature 'db' is not active on this app")
    # riso-db disposes inherited engines after fork itself (os.register_at_fork).
    with new_session() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
