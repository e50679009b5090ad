"""Keep the garbage collector's work per request small (``RISO_GC_*`` settings).

A FastAPI app with SQLAlchemy, pydantic and OpenTelemetry loaded holds
hundreds of thousands of long-lived objects (modules, classes, models,
compiled validators). Each full collection walks all of them; under load it
ran every few hundred requests, was several percent of the server's time and
the main source of its slowest answers (the p99). As the app starts,
``gc.freeze()`` moves what exists into the permanent generation, as CPython's
documentation recommends for servers: collections then walk only what
requests create.

It happens once per process, when the first lifespan begins (before any
feature starts: the collection blocks the event loop for a moment, which a
loop-lag monitor would report), after a full collection so no garbage is
frozen: a test suite running many
lifespans freezes only once, and what it creates later is collected as
usual. ``RISO_GC_FREEZE=false`` leaves the collector alone.

CPython collects its young generation every 700 new container objects; one
authenticated request through FastAPI, SQLAlchemy and pydantic allocates more
than that, so several young collections ran per request. As the app starts,
``RISO_GC_YOUNG_THRESHOLD`` (10,000) raises that threshold, unless the app set
a higher one or turned the collector off: on ``bench/auth_real.py`` (paired on
one core) it saved 6-17 % of the server's CPU per request. Garbage cycles then
wait a little longer to be collected (at most that many new objects).
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> bool:
    """Collect, then freeze everything alive now; once per process. True if it froze."""
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.collect()
    gc.freeze()
    return True


def raise_young_threshold(young: int) -> bool:
    """Collect the young generation every ``young`` new objects; True if changed.

    Left alone: ``young`` 0, a collector that is off (``gc.disable()`` or a
    threshold of 0), or one already collecting less often than that.
    """
    current = gc.get_threshold()
    if young <= 0 or not gc.isenabled() or current[0] == 0 or current[0] >= young:
        return False
    gc.set_threshold(young, *current[1:])
    return True
