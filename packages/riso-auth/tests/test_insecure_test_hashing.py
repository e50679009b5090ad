"""RISO_AUTH_INSECURE_TEST_HASHING: argon2id's cheapest parameters, under pytest only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from riso_auth import AuthSettings
from riso_auth._passwords import PasswordService


def test_accepted_under_pytest_with_the_plugin_and_cheapest() -> None:
    settings = AuthSettings(insecure_test_hashing=True)
    hashed = asyncio.run(PasswordService(settings).hash("correct horse battery"))
    assert "$m=8,t=1,p=1$" in hashed


def test_production_parameters_by_default() -> None:
    hashed = asyncio.run(PasswordService(AuthSettings()).hash("correct horse battery"))
    assert "$m=19456,t=2,p=1$" in hashed


@pytest.mark.parametrize("imports", ["", "import pytest\n"])
def test_refused_outside_pytest(imports: str) -> None:
    code = (
        f"{imports}import riso_auth\n"
        "try:\n"
        "    riso_auth.AuthSettings()\n"
        "except Exception as exc:\n"
        "    print('refused', exc)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    env = {**os.environ, "RISO_AUTH_INSECURE_TEST_HASHING": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.startswith("refused"), proc.stdout + proc.stderr
    assert "RISO_AUTH_INSECURE_TEST_HASHING" in proc.stdout
