"""A database session for code running in a task (when riso-db is active)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery._state import get_current_app, get_current_task

from riso_tasks._exceptions import NotConfiguredError


def _fastapi_app() -> Any:
    task = get_current_task()
    capp = task.app if task is not None else get_current_app()
    app = getattr(capp, "riso_fastapi_app", None)
    if app is None:
        raise NotConfiguredError(
            "no riso app is known to this Celery app: build it with riso_tasks.celery_app(app)"
        )
    return app


@contextmanager
def db_session() -> Iterator[Any]:
    """A sync SQLAlchemy session that commits on success and rolls back on error.

    ``with riso_tasks.db_session() as session: ...`` inside a task. Uses
    ``riso_db.database(app).sync_sessionmaker`` of the app the worker serves.
    """
    app = _fastapi_app()
    try:
        import riso_db
    except ImportError as exc:
        raise NotConfiguredError(
            "riso_tasks.db_session() needs riso-db: pip install riso-db"
        ) from exc
    import riso

    if "db" not in riso.registry(app):  # riso-db installed but not active
        raise NotConfiguredError("the feature 'db' is not active on this app")
    # riso-db disposes inherited engines after fork itself (os.register_at_fork).
    maker: Any = riso_db.database(app).sync_sessionmaker
    with maker() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
