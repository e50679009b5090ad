"""forgot-password and request-verify do the same work before answering, account or not.

Issue 19, defect 4: the reset token was created and stored before the
response, so an existing account answered 4-7 ms later than an unknown one.
Speed is measured (``bench/auth_enumeration.py``), not asserted: this test
checks the mechanism, the database statements run before the response starts
and that the token is stored after it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, AppFactory, serve
from sqlalchemy import event, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import riso_auth
import riso_auth._ratelimit


class StatementLog:
    """Every SQL statement the app's engine runs, and how many had run when each response began."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.at_response_start: list[int] = []

    def record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_marking(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.at_response_start.append(len(self.statements))
                await send(message)

            await app(scope, receive, send_marking)

        return wrapped


def _app(app_factory: AppFactory, url: str, log: StatementLog) -> FastAPI:
    app = app_factory(
        url,
        rate_forgot_account="1000/1h",
        rate_forgot_address="1000/1h",
        rate_register_address="1000/1h",
    )

    class Marking:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = log.middleware(inner)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.inner(scope, receive, send)

    app.add_middleware(Marking)
    return app


@pytest.mark.parametrize("path", ["/auth/forgot-password", "/auth/request-verify"])
async def test_same_statements_before_the_answer_and_token_stored_after(
    app_factory: AppFactory,
    any_db_url: str,
    path: str,
    email: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the limiter's occasional housekeeping DELETE would add a statement at random
    monkeypatch.setattr(riso_auth._ratelimit, "_CLEANUP_ONE_IN", 10**12)
    log = StatementLog()
    app = _app(app_factory, any_db_url, log)
    engine = riso_auth.runtime(app).database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", log.record)
    try:
        async with serve(app) as client:
            r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201
            before: dict[str, list[int]] = {"known": [], "unknown": []}
            for n in range(3):
                for who, address in (("known", email), ("unknown", f"nobody-{n}-{email}")):
                    start = len(log.statements)
                    r = await client.post(path, json={"email": address})
                    assert r.status_code == 202, r.text
                    answered = log.at_response_start[-1]
                    before[who].append(answered - start)
                    if who == "known":
                        # the token row is written after the response began, not before it
                        writes = [
                            i
                            for i, sql in enumerate(log.statements[start:], start)
                            if "auth_one_time_tokens" in sql
                            and sql.lstrip().upper().startswith("INSERT")
                        ]
                        assert writes, log.statements[start:]
                        assert min(writes) >= answered, log.statements[start:]
            assert before["known"] == before["unknown"], before
            async with riso_auth.runtime(app).database.sessionmaker() as session:
                stored = await session.scalar(
                    select(func.count())
                    .select_from(riso_auth.OneTimeToken)
                    .join(riso_auth.User, riso_auth.User.id == riso_auth.OneTimeToken.user_id)
                    .where(riso_auth.User.email == email)
                )
            assert stored == 3
    finally:
        event.remove(engine, "before_cursor_execute", log.record)


async def test_a_failure_after_the_answer_is_logged_not_raised(
    app_factory: AppFactory, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(sqlite_url)

    async def broken(email: str, kind: str) -> None:
        raise RuntimeError("database gone")

    async with serve(app) as client:
        riso_auth.runtime(app).request_token_mail = broken  # type: ignore[method-assign,assignment]
        r = await client.post("/auth/forgot-password", json={"email": "a@example.com"})
    assert r.status_code == 202
    assert "preparing the reset mail failed" in caplog.text
