"""A riso error that ends the process is shown as its message alone, not a traceback.

``uvicorn module:app`` imports the app inside its event loop, so a settings
error raised by ``riso.include`` at import time reached the operator under 47
lines of uvicorn's and asyncio's frames. ``include`` installs this hook when it
fails: an uncaught :class:`RisoError` prints ``riso: error: <message>`` (what
the ``riso`` CLI prints) and the process exits 1 as before; every other
exception goes to the hook that was there.
"""

from __future__ import annotations

import sys
from types import TracebackType

from riso._exceptions import RisoError

_installed = False


def install() -> None:
    """Install the hook once per process, in front of whatever hook is there."""
    global _installed
    if _installed:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, RisoError):
            sys.stderr.write(f"riso: error: {exc}\n")
            sys.stderr.flush()
            return
        previous(kind, exc, tb)

    sys.excepthook = hook
    _installed = True
