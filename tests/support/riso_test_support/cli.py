"""The real ``riso`` console script in a subprocess, optionally with modules made absent.

``blocked`` names modules the subprocess cannot import (``sys.modules[name] =
None``, what Python does for a module it failed to find), so a test sees what a
user without an optional extra sees, in an environment that has it installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

BIN = Path(sys.executable).parent
RISO = BIN / "riso"

#: blocks the modules named in argv[1], then runs the console script as its own process would
_BLOCKER = """
import runpy, sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
script = sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
"""


def run_riso(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    blocked: Iterable[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``riso *args`` with ``env`` in ``cwd``; the modules in ``blocked`` cannot be imported."""
    argv = [sys.executable, "-c", _BLOCKER, ",".join(blocked), str(RISO), *args]
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
