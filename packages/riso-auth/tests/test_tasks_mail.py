"""With the feature "tasks" active, reset mail is sent by a riso-tasks task (embedded broker)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, SECRET, migrate, register_and_login, serve

import riso
import riso_auth
import riso_db

riso_tasks = pytest.importorskip("riso_tasks")


@pytest.fixture
def outbox_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    (tmp_path / "auth_outbox.py").write_text(
        textwrap.dedent(
            """
            import threading
            SENT = []

            class Outbox:
                def send(self, message):
                    SENT.append((message.to, message.kind, threading.current_thread().name))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("auth_outbox", None)
    import auth_outbox  # type: ignore[import-not-found]

    return auth_outbox


async def test_reset_mail_goes_through_a_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outbox_module: object
) -> None:
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'tasks.db'}")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    monkeypatch.setenv("RISO_AUTH_MAIL_SENDER", "auth_outbox:Outbox")
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature, riso_tasks.feature])
    migrate(app)
    sent: list[tuple[str, str, str]] = outbox_module.SENT  # type: ignore[attr-defined]
    async with serve(app) as client:
        await register_and_login(client, "t@example.com", PASSWORD)
        r = await client.post("/auth/forgot-password", json={"email": "t@example.com"})
        assert r.status_code == 202
        deadline = time.monotonic() + 15
        while not sent:
            assert time.monotonic() < deadline, "the mail task never ran"
            await asyncio.sleep(0.05)
    assert sent[0][:2] == ("t@example.com", "reset")
    assert sent[0][2] != "MainThread"  # a worker ran it, not the request
