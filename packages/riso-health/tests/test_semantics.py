"""Check semantics: single-flight, cache window, deadlines, threshold, logs, metric."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from riso_test_support.asgi import Lifespan

import riso
import riso_health
from riso import HealthCheck

pytestmark = pytest.mark.anyio


def build(checks: Sequence[HealthCheck]) -> FastAPI:
    app = FastAPI()
    deps = riso.Feature(name="deps", core=">=0.1,<0.2", health_checks=checks)
    riso.include(app, features=[riso_health.feature, deps])
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class Switch:
    """A check whose outcome the test sets, counting its executions."""

    def __init__(self, healthy: bool = True, delay: float = 0.0) -> None:
        self.healthy = healthy
        self.delay = delay
        self.calls = 0

    async def __call__(self, app: Any) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self.healthy:
            raise ConnectionRefusedError("connection refused")


async def test_100_concurrent_probes_cause_one_execution_of_each_check() -> None:
    db, broker, cache = Switch(delay=0.05), Switch(), Switch(healthy=False)
    app = build(
        [
            HealthCheck("db", db),
            HealthCheck("broker", broker),
            HealthCheck("cache", cache, critical=False),
        ]
    )
    async with client(app) as c:
        responses = await asyncio.gather(*(c.get("/ready") for _ in range(100)))
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["status"] for r in responses} == {"warn"}
    assert (db.calls, broker.calls, cache.calls) == (1, 1, 1)
    assert riso_health.state(app).rounds == 1


async def test_concurrent_waiters_share_the_round_in_flight_even_without_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "0")
    gate = asyncio.Event()
    calls = Counter[str]()

    async def gated(app: Any) -> None:
        calls["db"] += 1
        await gate.wait()

    app = build([HealthCheck("db", gated, timeout=5)])
    health = riso_health.state(app)
    waiters = [asyncio.ensure_future(health.report()) for _ in range(10)]
    await asyncio.sleep(0)
    # a waiter that goes away (client disconnect) must not cancel the shared round
    waiters[0].cancel()
    gate.set()
    reports = await asyncio.gather(*waiters[1:])
    assert len({id(r) for r in reports}) == 1
    assert calls["db"] == 1
    # without a cache window, the next probe runs a new round
    await health.report()
    assert calls["db"] == 2


async def test_results_answer_probes_for_the_cache_window_then_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "2")
    db = Switch()
    app = build([HealthCheck("db", db)])
    now = [1000.0]
    riso_health.state(app).clock = lambda: now[0]
    async with client(app) as c:
        assert (await c.get("/ready")).status_code == 200
        db.healthy = False
        now[0] += 1.9
        assert (await c.get("/ready")).status_code == 200  # still the cached round
        assert db.calls == 1
        now[0] += 0.2
        assert (await c.get("/ready")).status_code == 503  # the window ended: new round
        assert db.calls == 2


async def test_stale_while_refresh_answers_at_once_and_refreshes_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "1")
    monkeypatch.setenv("RISO_HEALTH_STALE_WHILE_REFRESH", "2")
    gate = asyncio.Event()
    db = Switch()

    async def gated(app: Any) -> None:
        await db(app)
        if db.calls > 1:
            await gate.wait()

    app = build([HealthCheck("db", gated, timeout=5)])
    health = riso_health.state(app)
    now = [1000.0]
    health.clock = lambda: now[0]
    async with client(app) as c:
        assert (await c.get("/ready")).status_code == 200
        db.healthy = False
        now[0] += 1.5  # past the cache window, inside the stale window
        # answered at once with the previous result while the new round is held
        assert (await c.get("/ready")).status_code == 200
        assert (await c.get("/ready")).status_code == 200
        for _ in range(100):  # let the background round start its checks
            if db.calls == 2:
                break
            await asyncio.sleep(0)
        assert (db.calls, health.rounds) == (2, 1)  # one background round, in flight
        gate.set()
        for _ in range(100):
            if health.rounds == 2:
                break
            await asyncio.sleep(0)
        assert health.rounds == 2
        assert (await c.get("/ready")).status_code == 503  # the refreshed result
        now[0] += 3.5  # past both windows: the probe waits for a new round
        db.healthy = True
        assert (await c.get("/ready")).status_code == 200
        assert db.calls == 3


async def test_a_check_that_ignores_cancellation_cannot_hold_the_round_past_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_TIMEOUT", "0.2")
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")

    async def stubborn(app: Any) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)  # swallows the timeout's cancellation

    app = build([HealthCheck("stubborn", stubborn, timeout=10), HealthCheck("ok", Switch())])
    async with client(app) as c:
        response = await asyncio.wait_for(c.get("/ready"), timeout=10)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["stubborn:responseTime"][0]["output"] == "timed out after 200 ms"
    assert checks["ok:responseTime"][0]["status"] == "pass"


@pytest.mark.parametrize(
    ("check_timeout", "expected"),
    [(0.05, "timed out after 50 ms"), (30.0, "timed out after 150 ms")],
)
async def test_each_check_has_its_own_timeout_under_the_round_deadline(
    monkeypatch: pytest.MonkeyPatch, check_timeout: float, expected: str
) -> None:
    monkeypatch.setenv("RISO_HEALTH_TIMEOUT", "0.15")
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")

    async def hang(app: Any) -> None:
        await asyncio.Event().wait()

    app = build([HealthCheck("hang", hang, timeout=check_timeout)])
    async with client(app) as c:
        body = (await c.get("/ready")).json()
    assert body["checks"]["hang:responseTime"][0]["output"] == expected


def _sequence(threshold: int) -> list[tuple[bool, int, str]]:
    """(check healthy?, expected HTTP status, expected body status) per probe."""
    seq: list[tuple[bool, int, str]] = [(True, 200, "pass")]
    seq += [(False, 200, "warn")] * (threshold - 1)  # the flip is delayed...
    seq += [(False, 503, "fail")] * 3  # ...but a sustained failure flips and stays
    seq += [(True, 200, "pass")]
    seq += [(False, 200 if threshold > 1 else 503, "warn" if threshold > 1 else "fail")]
    return seq


@pytest.mark.parametrize("threshold", [1, 2, 3])
async def test_failure_threshold_delays_the_flip_and_a_sustained_failure_still_flips(
    monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "0")
    monkeypatch.setenv("RISO_HEALTH_FAILURE_THRESHOLD", str(threshold))
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    db = Switch()
    app = build([HealthCheck("db", db)])
    seen = []
    async with client(app) as c:
        for healthy, _, _ in _sequence(threshold):
            db.healthy = healthy
            response = await c.get("/ready")
            seen.append((healthy, response.status_code, response.json()["status"]))
            if response.json()["status"] == "warn":
                output = response.json()["checks"]["db:responseTime"][0]["output"]
                assert "before failing" in output
                assert f"of {threshold}" in output
    assert seen == _sequence(threshold)


async def test_a_check_that_never_passed_fails_at_once_whatever_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_FAILURE_THRESHOLD", "5")
    app = build([HealthCheck("db", Switch(healthy=False))])
    async with client(app) as c:
        assert (await c.get("/ready")).status_code == 503


async def test_status_changes_are_logged_once_each(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "0")
    db = Switch()

    async def leaky(app: Any) -> None:
        await db(app)

    app = build([HealthCheck("db", leaky)])
    caplog.set_level(logging.DEBUG, logger="riso.health")
    async with client(app) as c:
        for healthy in (True, True, False, False, False, True, True):
            db.healthy = healthy
            await c.get("/ready")
    transitions = [
        (r.levelname, r.check, r.previous_status, r.status)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "riso.health"
    ]
    assert transitions == [
        ("DEBUG", "db", None, "pass"),
        ("ERROR", "db", "pass", "fail"),
        ("INFO", "db", "fail", "pass"),
    ]


async def test_status_is_exported_as_a_prometheus_gauge(monkeypatch: pytest.MonkeyPatch) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    monkeypatch.setenv("RISO_HEALTH_CACHE_TTL", "0")
    name = f"g{uuid.uuid4().hex[:8]}"
    db, cache = Switch(), Switch(healthy=False)
    app = build([HealthCheck(name, db), HealthCheck(f"{name}-cache", cache, critical=False)])

    def value(check: str) -> float | None:
        got = prometheus_client.REGISTRY.get_sample_value(
            "riso_health_check_status", {"check": check}
        )
        return None if got is None else float(got)

    async with client(app) as c:
        await c.get("/ready")
        assert (value(name), value(f"{name}-cache")) == (1.0, 0.5)
        db.healthy = False
        await c.get("/ready")
        assert value(name) == 0.0


async def test_loop_lag_check_measures_a_blocked_loop_and_fails_liveness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_LOOP_LAG_MAX", "0.1")
    monkeypatch.setenv("RISO_HEALTH_LOOP_LAG_INTERVAL", "0.05")
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build([])
    driver = Lifespan(app)
    await driver.begin_startup()
    await driver.expect("lifespan.startup.complete")
    health = riso_health.state(app)
    async with client(app) as c:
        assert (await c.get("/health")).status_code == 200
        time.sleep(0.3)  # noqa: ASYNC251 - the stimulus: block the event loop
        for _ in range(1000):
            await asyncio.sleep(0)
            if health.loop_lag is not None and health.loop_lag > 0.1:
                break
        assert health.loop_lag is not None
        assert health.loop_lag > 0.1
        response = await c.get("/health")
    assert response.status_code == 503
    (entry,) = response.json()["checks"]["eventLoop:lag"]
    assert entry["status"] == "fail"
    assert entry["observedValue"] > 100
    await driver.begin_shutdown()
    await driver.expect("lifespan.shutdown.complete")
    await driver.finish()
