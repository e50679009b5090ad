"""Keep the objects of startup out of the garbage collector's way (``RISO_GC_FREEZE``).

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
