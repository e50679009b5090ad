"""Rounds of checks: concurrent, bounded in time, cached, single-flight.

One ``HealthState`` lives on each app (riso's registry, under "health"); nothing is
kept in module globals. A round runs every check at once, each under its own
timeout, all under the round deadline (``RISO_HEALTH_TIMEOUT``); checks still
running at the deadline are cancelled and reported as timed out, so a hanging
dependency can never hang a probe. The report of a round answers every probe
for ``RISO_HEALTH_CACHE_TTL`` seconds, and probes that arrive while a round
runs await that same round (one shared task), so a burst of probes causes one
execution of each check.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import riso
from riso import HealthCheck, RisoError
from riso_health import _metrics
from riso_health._exceptions import HealthError
from riso_health._sanitize import describe
from riso_health._settings import HealthSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

Status = Literal["pass", "warn", "fail"]

#: liveness judges the worst of this many recent loop-lag samples, so one
#: blocked stretch is still reported after the next (normal) sample
LAG_WINDOW = 10

#: owner of the checks the application registers itself
APP_OWNER = "app"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check in one round, after the failure threshold."""

    #: the component name shown in the response (``<key>:responseTime``)
    key: str
    #: the feature that contributed the check, or ``"app"``
    owner: str
    critical: bool
    status: Status
    #: how long the check took, in milliseconds
    observed_ms: float
    #: when the round started, RFC 3339 UTC
    time: str
    #: sanitised reason when the status is not ``pass``
    output: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """What one round found: the overall status and every check's result."""

    status: Status
    checks: tuple[CheckResult, ...]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "fail" else 200


@dataclass(frozen=True, slots=True)
class Source:
    """A check, the feature it came from and the name it is reported under."""

    key: str
    owner: str
    check: HealthCheck


@dataclass(slots=True)
class _Track:
    status: Status | None = None
    failures: int = 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _discard(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class HealthState:
    """Everything riso-health keeps about one application."""

    def __init__(self, app: Any) -> None:
        self.app = app
        #: set by ``riso.include`` (the feature's ``on_include``)
        self.settings: HealthSettings | None = None
        #: checks registered with ``riso_health.check`` / ``riso_health.add_check``
        self.app_checks: list[HealthCheck] = []
        #: rounds run so far (for tests and benchmarks)
        self.rounds = 0
        #: recent event-loop lag samples in seconds (when the lag check is on)
        self.lag_samples: deque[float] = deque(maxlen=LAG_WINDOW)
        #: monotonic clock used for the cache (replaceable in tests)
        self.clock: Callable[[], float] = time.monotonic
        self._tracks: dict[str, _Track] = {}
        self._cached: tuple[float, Report] | None = None
        self._inflight: asyncio.Task[Report] | None = None

    @property
    def loop_lag(self) -> float | None:
        """The worst event-loop lag of the last ``LAG_WINDOW`` samples, in seconds."""
        return max(self.lag_samples) if self.lag_samples else None

    # -- configuration -------------------------------------------------------

    def current_settings(self) -> HealthSettings:
        if self.settings is None:
            self.settings = HealthSettings()
        return self.settings

    def sources(self) -> list[Source]:
        """Every active feature's checks, in start order, then the app's own."""
        pairs: list[tuple[str, HealthCheck]] = []
        try:
            active = riso.registry(self.app).active
        except RisoError:
            active = ()
        for info in active:
            if info.feature is not None:
                pairs += [(info.name, c) for c in info.feature.health_checks]
        pairs += [(APP_OWNER, c) for c in self.app_checks]
        counts = Counter(c.name for _, c in pairs)
        seen: set[str] = set()
        sources: list[Source] = []
        for owner, c in pairs:
            key = c.name if counts[c.name] == 1 else f"{owner}.{c.name}"
            base, n = key, 2
            while key in seen:
                key, n = f"{base}#{n}", n + 1
            seen.add(key)
            sources.append(Source(key, owner, c))
        return sources

    def reset(self) -> None:
        """Forget the cached report (a new lifespan starts from scratch)."""
        self._cached = None
        self._inflight = None

    # -- running ---------------------------------------------------------------

    async def report(self) -> Report:
        """The cached report, the round in flight, or a new round."""
        settings = self.current_settings()
        cached = self._cached
        age = None if cached is None else self.clock() - cached[0]
        if cached is not None and age is not None and age < settings.cache_ttl:
            return cached[1]
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._round(settings), name="riso-health round")
            task.add_done_callback(_discard)
            self._inflight = task
        if (
            cached is not None
            and age is not None
            and age < settings.cache_ttl + settings.stale_while_refresh
        ):
            return cached[1]  # the round refreshes in the background
        # shield: a probe that disconnects must not cancel the round others await
        return await asyncio.shield(task)

    async def _round(self, settings: HealthSettings) -> Report:
        stamp = now_iso()
        deadline = settings.timeout
        sources = self.sources()
        outcomes: list[tuple[bool, float, str | None]] = []
        if sources:
            tasks = [asyncio.ensure_future(self._run_one(s, deadline)) for s in sources]
            done, pending = await asyncio.wait(tasks, timeout=deadline)
            for task in pending:
                task.cancel()
                task.add_done_callback(_discard)
            for task in tasks:
                if task in done and not task.cancelled():
                    outcomes.append(task.result())
                else:
                    outcomes.append(
                        (False, deadline * 1000, f"timed out after {deadline * 1000:.0f} ms")
                    )
        results = tuple(
            self._judge(source, ok, elapsed, error, stamp, settings.failure_threshold)
            for source, (ok, elapsed, error) in zip(sources, outcomes, strict=True)
        )
        if any(r.critical and r.status == "fail" for r in results):
            status: Status = "fail"
        elif any(r.status != "pass" for r in results):
            status = "warn"
        else:
            status = "pass"
        report = Report(status, results)
        self.rounds += 1
        self._cached = (self.clock(), report)
        return report

    async def _run_one(self, source: Source, deadline: float) -> tuple[bool, float, str | None]:
        """Run one check: (passed, milliseconds, sanitised error)."""
        limit = min(source.check.timeout, deadline) if source.check.timeout > 0 else deadline
        scope = asyncio.timeout(limit)
        start = time.perf_counter()
        try:
            async with scope:
                outcome: object = source.check.func(self.app)
                if inspect.isawaitable(outcome):
                    await outcome
        except TimeoutError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            if scope.expired():
                return False, elapsed, f"timed out after {limit * 1000:.0f} ms"
            return False, elapsed, describe(exc)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the round's deadline cancels us: let it
            # the check itself raised CancelledError (e.g. from a cancelled future)
            return False, (time.perf_counter() - start) * 1000, describe(exc)
        except Exception as exc:
            return False, (time.perf_counter() - start) * 1000, describe(exc)
        return True, (time.perf_counter() - start) * 1000, None

    def _judge(
        self,
        source: Source,
        ok: bool,
        elapsed: float,
        error: str | None,
        stamp: str,
        threshold: int,
    ) -> CheckResult:
        """Apply the failure threshold; log and export status changes."""
        track = self._tracks.setdefault(source.key, _Track())
        previous = track.status
        output = error
        status: Status
        if ok:
            track.failures = 0
            status = "pass"
        else:
            track.failures += 1
            if not source.check.critical:
                status = "warn"
            elif previous in ("pass", "warn") and track.failures < threshold:
                # A check that was passing gets threshold - 1 more chances; one
                # that never passed fails at once (nothing to protect from flapping).
                status = "warn"
                output = f"{error} (failure {track.failures} of {threshold} before failing)"
            else:
                status = "fail"
        track.status = status
        if status != previous:
            _metrics.log_transition(source.key, previous, status, output)
        _metrics.export(source.key, status)
        return CheckResult(
            key=source.key,
            owner=source.owner,
            critical=source.check.critical,
            status=status,
            observed_ms=round(elapsed, 3),
            time=stamp,
            output=output,
        )


def state(app: FastAPI) -> HealthState:
    """The health state of ``app``, created on first use (after ``riso.include(app)``)."""
    try:
        extensions = riso.registry(app).extensions
    except riso.RisoError as exc:
        raise HealthError(
            "riso.include(app) has not been called on this app: call it before adding checks"
        ) from exc
    found = extensions.get("health")
    if not isinstance(found, HealthState):
        found = extensions["health"] = HealthState(app)
    return found
