"""The ``health`` feature: routes, the loop-lag monitor and system checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from riso import CheckContext, CheckMessage, Feature
from riso_health._routes import router
from riso_health._runner import HealthState, state
from riso_health._settings import HealthSettings


def _on_include(app: Any, settings: HealthSettings) -> None:
    state(app).settings = settings


async def _sample_loop_lag(health: HealthState, interval: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        health.lag_samples.append(max(0.0, loop.time() - before - interval))


@asynccontextmanager
async def _lifespan(app: Any, settings: HealthSettings) -> AsyncIterator[None]:
    health = state(app)
    health.settings = settings
    health.reset()
    health.lag_samples.clear()
    monitor: asyncio.Task[None] | None = None
    if settings.loop_lag_max is not None:
        monitor = asyncio.create_task(
            _sample_loop_lag(health, settings.loop_lag_interval), name="riso-health loop lag"
        )
    try:
        yield None
    finally:
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        health.reset()


def _system_checks(ctx: CheckContext) -> Iterable[CheckMessage]:
    settings: HealthSettings | None = ctx.settings.get("health")
    if settings is None:
        return
    if settings.details == "authenticated" and not _auth_active(ctx.app):
        yield CheckMessage(
            "health.W001",
            "RISO_HEALTH_DETAILS=authenticated but the 'auth' feature is not active, "
            "so health details are never shown.",
            hint="install and enable riso-auth, or set RISO_HEALTH_DETAILS to never or always",
        )
    if settings.timeout >= 1.0:
        yield CheckMessage(
            "health.W002",
            f"RISO_HEALTH_TIMEOUT is {settings.timeout} s: a round of checks may outlast "
            "a probe's default 1 s timeout, and the probe fails without an answer.",
            hint="keep RISO_HEALTH_TIMEOUT below the probe's timeoutSeconds (0.8 by default)",
        )
    if ctx.deploy and settings.details == "always":
        yield CheckMessage(
            "health.W003",
            "RISO_HEALTH_DETAILS=always shows every dependency and its errors to anyone "
            "who can reach /ready.",
            hint="use RISO_HEALTH_DETAILS=authenticated (with riso-auth) or never",
        )


def _auth_active(app: Any) -> bool:
    import riso

    try:
        return "auth" in riso.registry(app)
    except riso.RisoError:
        return False


feature: Feature[HealthSettings] = Feature(
    name="health",
    core=">=0.1.6,<0.2",
    settings=HealthSettings,
    routers=[router],
    lifespan=_lifespan,
    system_checks=[_system_checks],
    on_include=_on_include,
)
