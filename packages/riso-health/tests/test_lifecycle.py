"""Startup and shutdown: the probes follow ``riso.registry(app).phase``.

The lifespan is driven by hand with ASGI lifespan messages, the app's own
lifespan holding startup (or shutdown) open until the test lets it go, while
probes go through the ASGI stack in the same event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from riso_test_support.asgi import Lifespan

import riso
import riso_health
from riso import HealthCheck

pytestmark = pytest.mark.anyio


class Gates:
    def __init__(self) -> None:
        self.finish_startup = asyncio.Event()
        self.finish_shutdown = asyncio.Event()
        self.checks = 0


def build(gates: Gates) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gates.finish_startup.wait()  # a slow start (warming caches...)
        yield
        await gates.finish_shutdown.wait()  # draining

    async def db(app: Any) -> None:
        gates.checks += 1

    app = FastAPI(lifespan=lifespan)
    deps = riso.Feature(name="deps", core=">=0.1,<0.2", health_checks=[HealthCheck("db", db)])
    riso.include(app, features=[riso_health.feature, deps])
    return app


async def statuses(app: FastAPI) -> dict[str, int]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        return {path: (await c.get(path)).status_code for path in ("/health", "/ready", "/startup")}


async def test_probes_through_startup_running_and_shutdown() -> None:
    gates = Gates()
    app = build(gates)
    registry = riso.registry(app)
    driver = Lifespan(app)

    await driver.begin_startup()
    for _ in range(100):
        if registry.phase == "starting":
            break
        await asyncio.sleep(0)
    assert registry.phase == "starting"
    # alive, not ready, not started; no dependency checked while starting
    assert await statuses(app) == {"/health": 200, "/ready": 503, "/startup": 503}
    assert gates.checks == 0

    gates.finish_startup.set()
    await driver.expect("lifespan.startup.complete")
    assert registry.phase == "running"
    assert await statuses(app) == {"/health": 200, "/ready": 200, "/startup": 200}
    assert gates.checks == 1

    await driver.begin_shutdown()
    for _ in range(100):
        if registry.phase == "stopping":
            break
        await asyncio.sleep(0)
    assert registry.phase == "stopping"
    # shutdown began (the app is draining): readiness fails at once, even though
    # the cached round said pass, while liveness stays up so nothing restarts it
    assert await statuses(app) == {"/health": 200, "/ready": 503, "/startup": 200}
    assert gates.checks == 1

    gates.finish_shutdown.set()
    await driver.expect("lifespan.shutdown.complete")
    await driver.finish()
    assert registry.phase == "stopped"
    assert (await statuses(app))["/ready"] == 503


async def test_details_say_why_readiness_fails_during_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    gates = Gates()
    gates.finish_startup.set()
    app = build(gates)
    driver = Lifespan(app)
    await driver.begin_startup()
    await driver.expect("lifespan.startup.complete")
    await driver.begin_shutdown()
    for _ in range(100):
        if riso.registry(app).phase == "stopping":
            break
        await asyncio.sleep(0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        response = await c.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "output": "shutting down"}
    gates.finish_shutdown.set()
    await driver.expect("lifespan.shutdown.complete")
    await driver.finish()
