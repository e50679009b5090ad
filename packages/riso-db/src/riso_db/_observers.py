"""Observers of the statements riso-db sends past SQLAlchemy (``DirectQuery``).

SQLAlchemy's engine events do not see a ``DirectQuery``, so a package that
watches statements (riso-obs, for its trace spans) registers a plain callable
under the ``riso_db.query_observers`` entry-point group::

    [project.entry-points."riso_db.query_observers"]
    spans = "riso_obs._sqlalchemy:observe_direct_query"

It is called as ``observer(system, database, statement)`` before the
statement is sent (``system`` is the dialect name, ``database`` the database
name, ``statement`` the SQL with placeholders, never the values) and returns
None to ignore it, or a callable that gets the exception raised, or None,
when the statement has finished. Entry points are read once per process;
an observer that fails to load, or raises, is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points

logger = logging.getLogger("riso.db")

GROUP = "riso_db.query_observers"

#: what an observer returns: called with the statement's exception, or None
Finish = Callable[[BaseException | None], None]
Observer = Callable[[str, str, str], Finish | None]

_loaded: list[Observer] | None = None


def observers() -> list[Observer]:
    """The installed observers (loaded on first use)."""
    global _loaded
    if _loaded is None:
        found: list[Observer] = []
        for entry in entry_points(group=GROUP):
            try:
                found.append(entry.load())
            except Exception as exc:
                logger.warning("query observer %s cannot be loaded: %s", entry.name, exc)
        _loaded = found
    return _loaded


def start(system: str, database: str, statement: str) -> Finish | None:
    """Tell every observer a statement starts; what to call when it has finished."""
    finishes: list[Finish] = []
    for observer in observers():
        try:
            finish = observer(system, database, statement)
        except Exception as exc:
            logger.warning("query observer %r failed: %s", observer, exc)
            continue
        if finish is not None:
            finishes.append(finish)
    if not finishes:
        return None
    if len(finishes) == 1:
        return finishes[0]

    def finish_all(error: BaseException | None) -> None:
        for finish in finishes:
            finish(error)

    return finish_all
