"""``make run``: only the starter's dependencies, on the port asked for; ``make test`` after it.

The real targets run against a throwaway environment (``UV_PROJECT_ENVIRONMENT``),
from the lock as the developer's ``.venv`` would be synced, in both orders.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
DEV_TOOLS = ("pytest", "ruff", "mypy")


def make(target: str, venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # set under `uv run`
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    return subprocess.run(
        ["make", "-C", str(ROOT), target, *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def installed(venv: Path) -> set[str]:
    return {p.name for p in (venv / "bin").iterdir()}


@pytest.mark.skipif(not UV.exists(), reason="make sync bootstraps .tools/bin/uv")
def test_run_installs_the_starter_only_and_test_adds_the_dev_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    first = make("run-sync", venv)
    assert first.returncode == 0, first.stderr
    assert {"riso", "uvicorn"} <= installed(venv)
    assert not set(DEV_TOOLS) & installed(venv)

    synced = make("sync", venv)  # what `make test` runs first
    assert synced.returncode == 0, synced.stderr
    assert set(DEV_TOOLS) <= installed(venv)

    again = make("run-sync", venv)  # `make run` after `make test` keeps them
    assert again.returncode == 0, again.stderr
    assert set(DEV_TOOLS) <= installed(venv)


def test_run_serves_on_the_port_asked_for() -> None:
    dry = subprocess.run(
        ["make", "-C", str(ROOT), "-n", "run", "PORT=8123"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    serve = [line for line in dry.stdout.splitlines() if "riso serve" in line]
    assert serve == [
        f"{UV.relative_to(ROOT)} run --no-sync riso serve --host 127.0.0.1 --port 8123"
    ]
