"""Finding the folder of the module that defines the app, where its ``migrations/`` live.

No call frames are read. The module the app spec names (``--app``,
``RISO_APP``, ``[tool.riso] app``, as the ``riso`` CLI reads them) counts when
its attribute is this very app; else an imported module whose global holds the
app. ``riso.include(app)`` at import time runs before any other module can
have imported the app, so the module found then is the one defining it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from riso_db._compat import app_spec

#: modules never taken for "the app's module"
_OWN_MODULES = ("riso", "riso_db", "riso_db_pytest")


def find_app_dir(app: object) -> Path | None:
    """The folder of the module that holds ``app``; None when no module does (yet)."""
    return _folder(_module_named_by_spec(app)) or _folder(_module_holding(app))


def _module_named_by_spec(app: object) -> ModuleType | None:
    spec = app_spec()
    if spec is None:
        return None
    module_name, _, attr = spec.partition(":")
    module = sys.modules.get(module_name)
    # vars(), not getattr(): a module-level __getattr__ may build the app lazily,
    # and looking for this app must not build another one
    if module is None or not attr or vars(module).get(attr) is not app:
        return None
    return module


def _module_holding(app: object) -> ModuleType | None:
    """The first imported module (in import order) with a global bound to ``app``."""
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in _OWN_MODULES or not getattr(module, "__file__", None):
            continue
        if any(value is app for value in list(vars(module).values())):
            return module
    return None


def _folder(module: ModuleType | None) -> Path | None:
    filename = getattr(module, "__file__", None)
    return Path(filename).resolve().parent if filename else None
