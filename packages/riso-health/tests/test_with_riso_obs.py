"""With riso-obs: the status gauge is on /metrics, the probes are not measured.

Skipped only when riso-obs is not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import riso
import riso_health
from riso import HealthCheck

pytestmark = pytest.mark.anyio

riso_obs: Any = pytest.importorskip("riso_obs")


@pytest.fixture(autouse=True)
def _reset_obs() -> Iterator[None]:
    """riso-obs configures logging, tracing and metrics process-wide: undo it."""
    riso_obs.reset()
    yield
    riso_obs.reset()


async def test_gauge_exported_and_probe_paths_left_out_of_request_metrics() -> None:
    name = f"obs{uuid.uuid4().hex[:8]}"

    async def ok(app: Any) -> None:
        return None

    deps = riso.Feature(name="deps", core=">=0.1,<0.2", health_checks=[HealthCheck(name, ok)])
    app = FastAPI()
    riso.include(app, features=[riso_obs.feature, riso_health.feature, deps])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for path in ("/health", "/ready", "/startup"):
                assert (await c.get(path)).status_code == 200
            metrics = (await c.get("/metrics")).text
    assert f'riso_health_check_status{{check="{name}"}} 1.0' in metrics
    for path in ("/health", "/ready", "/startup"):
        assert f'"{path}"' not in metrics
