"""The old name of ``riso_test_support.stack``, kept only for ``bench/soak.py``.

bench/soak.py puts this folder on ``sys.path`` and imports ``system_stack``;
the tests import ``riso_test_support.stack``. Delete this file once the
benchmark imports the helpers it needs from there (or from ``riso.testing``).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import riso_test_support  # noqa: F401 (under pytest, tests/support is on the path)
except ModuleNotFoundError:  # run as a script (python bench/soak.py)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from riso_test_support.stack import REDIS_DB, migrate, server, stack_env, worker

__all__ = ["REDIS_DB", "migrate", "server", "stack_env", "worker"]
