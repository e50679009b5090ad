"""An app's lifespan, run whole around an HTTP client or driven step by step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import httpx
from fastapi import FastAPI


@asynccontextmanager
async def serving(
    app: FastAPI,
    *,
    lifespan: bool = True,
    base_url: str = "http://testserver",
    client: tuple[str, int] = ("127.0.0.1", 123),
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` through the ASGI stack, its lifespan running as under a server.

    ``client`` is the peer address the app sees.
    """
    async with app.router.lifespan_context(app) if lifespan else nullcontext():
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


class Lifespan:
    """Drive an app's ASGI lifespan from the test, one step at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def begin_startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})

    async def begin_shutdown(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})

    async def expect(self, message_type: str) -> None:
        message = await asyncio.wait_for(self._outbox.get(), timeout=10)
        assert message["type"] == message_type, message

    async def finish(self) -> None:
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout=10)
