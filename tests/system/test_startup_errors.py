"""A settings error when a server starts the app: the operator sees riso's message alone.

``uvicorn module:app`` imports the app inside its event loop; ``riso serve``
(one worker or several) as well. Each must print the one-line-per-problem
message riso builds, exit non-zero, and show no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from riso.testing import clean_environ

BIN = Path(sys.executable).parent
APP = "starter.main:app"
EXPECTED = [
    "riso: error: 1 invalid setting:",
    "  RISO_DB_POOL_SIZE (feature 'db'): Input should be a valid integer, unable to parse "
    "string as an integer",
]


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        ([str(BIN / "uvicorn"), APP, "--port", "0"], 1),
        ([str(BIN / "riso"), "--app", APP, "serve", "--port", "0"], 2),
        ([str(BIN / "riso"), "--app", APP, "serve", "--port", "0", "--workers", "2"], 2),
    ],
    ids=["uvicorn", "riso-serve", "riso-serve-workers"],
)
def test_a_settings_error_at_startup_is_the_message_alone(
    tmp_path: Path, argv: list[str], exit_code: int
) -> None:
    env = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", RISO_DB_POOL_SIZE="many")
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == EXPECTED
    assert done.stdout == ""


def test_an_error_that_is_not_riso_s_keeps_its_traceback(tmp_path: Path) -> None:
    # the hook is installed (include failed), then another error ends the import
    (tmp_path / "broken.py").write_text(
        "import riso\nfrom fastapi import FastAPI\n"
        "try:\n    riso.include(FastAPI())\nexcept riso.SettingsError:\n    pass\n"
        "raise RuntimeError('not riso')\n"
    )
    env = clean_environ(RISO_DB_URL=f"sqlite:///{tmp_path / 'app.db'}", RISO_DB_POOL_SIZE="many")
    done = subprocess.run(
        [str(BIN / "uvicorn"), "broken:app", "--port", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "RuntimeError: not riso" in done.stderr
