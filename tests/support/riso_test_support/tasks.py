"""riso-tasks' test app under a given environment, and real ``riso tasks worker`` processes.

The app is the top-level module ``riso_tasks_testapp`` beside this package
(worker processes import it by that name, from ``HERE``).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
import riso_tasks_testapp
from fastapi import FastAPI

from riso.testing import clean_environ
from riso_test_support.asgi import serving
from riso_test_support.processes import OutputProcess

#: the folder of ``riso_tasks_testapp``: the working directory of its processes
HERE = Path(riso_tasks_testapp.__file__).resolve().parent
RISO = Path(sys.executable).parent / "riso"

__all__ = ["HERE", "RISO", "WorkerProcess", "make_app", "serving"]


def make_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> FastAPI:
    """The test app, created with ``env`` in the environment (undone after the test)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return riso_tasks_testapp.create_app()


class WorkerProcess(OutputProcess):
    """``riso tasks worker`` for the test app, under ``env`` and no other RISO_* variable."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        argv = [RISO, "--app", "riso_tasks_testapp:app", "tasks", "worker"]
        argv += ["--hostname", f"test-{uuid.uuid4().hex[:8]}@%h", *args]
        super().__init__(argv, env=clean_environ(**env), cwd=HERE)
