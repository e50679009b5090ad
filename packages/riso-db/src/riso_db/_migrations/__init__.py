"""Per-feature Alembic trees, run with an environment built in code.

Every feature that owns tables declares ``riso.Migrations(versions=..., metadata=...)``;
its revision scripts live in an importable package inside its wheel and its
version table is ``riso_<feature>_alembic_version``. The application's own
tree lives in ``migrations/`` beside the app (or ``RISO_DB_MIGRATIONS``) and
uses Alembic's default ``alembic_version``. There is no ``env.py`` and no
``alembic.ini``: this package is the environment. Callers import from its
modules, one job each:

- ``_app_dir``: the folder of the app's module (no Alembic import);
- ``_trees``: the trees of an app and what autogenerate may look at in each;
- ``_lock``: the lock one run holds (advisory lock, ``GET_LOCK``, ``flock``);
- ``_steps``: the revision steps an upgrade or a downgrade runs;
- ``_environment``: connections and the Alembic environment ``env.py`` would set up;
- ``_runner``: upgrade, downgrade, and where each tree stands;
- ``_autogenerate``: new revision scripts and the app's schema diff.
"""

from __future__ import annotations

import logging

# Alembic logs "Context impl ..." and "Will assume ... DDL" at INFO every time a
# context is configured, which readiness checks do on every probe round. This
# package reports what it applies itself; keep Alembic's own lines for warnings,
# unless the application chose a level for that logger.
# Likewise "setup plugin alembic.autogenerate..." (alembic 1.18+), seven INFO
# lines when autogenerate is first imported: every CLI command once riso-obs
# routes INFO records to the output.
for _name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
    _log = logging.getLogger(_name)
    if _log.level == logging.NOTSET:
        _log.setLevel(logging.WARNING)

__all__: list[str] = []
