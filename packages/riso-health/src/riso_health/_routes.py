"""``GET /health``, ``GET /ready`` and ``GET /startup`` in ``application/health+json``.

The body follows draft-inadarei-api-health-check: ``status`` is ``pass``,
``warn`` or ``fail``; with details shown, ``checks`` maps
``<check>:responseTime`` to a one-entry list with ``status``,
``observedValue``/``observedUnit`` (the check's latency in ms), ``time`` and,
when it did not pass, a sanitised ``output``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

import riso
from riso_health._runner import HealthState, Report, now_iso, state
from riso_health._settings import HealthSettings

MEDIA_TYPE = "application/health+json"

logger = logging.getLogger("riso.health")

router = APIRouter(tags=["health"])

#: phases in which the app is not (or no longer) able to take traffic
_NOT_READY = {"starting": "starting", "stopping": "shutting down", "stopped": "stopped"}


def _response(status_code: int, body: dict[str, Any]) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=status_code,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


def _phase(app: Any) -> str:
    try:
        return riso.registry(app).phase
    except riso.RisoError:
        return "included"


def _authenticator(app: FastAPI) -> riso.RequestAuthenticator | None:
    """The request authenticator an active feature provides (riso-auth does), or None."""
    try:
        return riso.registry(app).lookup(riso.REQUEST_AUTHENTICATOR)
    except riso.RisoError:
        return None


def _scopes_of(user: Any) -> set[str]:
    raw = getattr(user, "scopes", None)
    if raw is None and isinstance(user, dict):
        raw = user.get("scopes")
    if isinstance(raw, str):
        return set(raw.split())
    if isinstance(raw, Iterable):
        return {str(s) for s in raw}
    return set()


async def _show_details(request: Request, settings: HealthSettings) -> bool:
    if settings.details == "always":
        return True
    if settings.details == "never":
        return False
    authenticate = _authenticator(request.app)
    if authenticate is None:
        return False
    try:
        # Bounded: a slow auth backend must not hang a probe.
        async with asyncio.timeout(settings.timeout):
            user = await authenticate(request)
    except Exception:  # a broken token or backend only hides the details
        logger.debug("health details: authentication failed", exc_info=False)
        return False
    if user is None:
        return False
    return settings.details_scope is None or settings.details_scope in _scopes_of(user)


def _body(report: Report, details: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"status": report.status}
    if details:
        checks: dict[str, list[dict[str, Any]]] = {}
        for result in report.checks:
            entry: dict[str, Any] = {
                "status": result.status,
                "observedValue": result.observed_ms,
                "observedUnit": "ms",
                "time": result.time,
            }
            if result.output is not None:
                entry["output"] = result.output
            checks[f"{result.key}:responseTime"] = [entry]
        body["checks"] = checks
    return body


def _settings(health: HealthState) -> HealthSettings:
    return health.current_settings()


@router.api_route("/health", methods=["GET", "HEAD"], include_in_schema=False)
async def liveness(request: Request) -> Response:
    """The process answers. No dependency is checked, only (optionally) loop lag."""
    health = state(request.app)
    settings = _settings(health)
    status = "pass"
    lag = health.loop_lag
    if settings.loop_lag_max is not None and lag is not None and lag > settings.loop_lag_max:
        status = "fail"
    body: dict[str, Any] = {"status": status}
    if settings.loop_lag_max is not None and await _show_details(request, settings):
        entry: dict[str, Any] = {"status": status, "observedUnit": "ms", "time": now_iso()}
        entry["observedValue"] = None if lag is None else round(lag * 1000, 3)
        if status == "fail":
            entry["output"] = f"event loop lag above {settings.loop_lag_max * 1000:.0f} ms"
        body["checks"] = {"eventLoop:lag": [entry]}
    return _response(503 if status == "fail" else 200, body)


@router.api_route("/ready", methods=["GET", "HEAD"], include_in_schema=False)
async def readiness(request: Request) -> Response:
    """Every check: 200 (pass or warn) or 503 (fail, starting or shutting down)."""
    health = state(request.app)
    settings = _settings(health)
    # authentication (for details) runs alongside the round, not after it
    details_task = (
        asyncio.ensure_future(_show_details(request, settings))
        if settings.details == "authenticated"
        else None
    )
    report: Report | None = None
    reason: str | None = None
    if _phase(request.app) not in _NOT_READY:
        try:
            report = await health.report()
        except Exception:  # a bug in the runner must still give a clean 503
            logger.exception("health round failed")
            reason = "the health checks could not run"
    # checked again: shutdown may have begun while the round ran
    phase = _phase(request.app)
    if phase in _NOT_READY:
        reason = _NOT_READY[phase]
    details = settings.details == "always" if details_task is None else await details_task
    if reason is not None or report is None:
        body: dict[str, Any] = {"status": "fail"}
        if details:
            body["output"] = reason
        return _response(503, body)
    return _response(report.http_status, _body(report, details))


@router.api_route("/startup", methods=["GET", "HEAD"], include_in_schema=False)
async def startup(request: Request) -> Response:
    """503 until every feature's lifespan (and the app's) has started, then 200.

    It runs no dependency check: a dependency down at boot should keep the pod
    out of rotation (readiness), not get it restarted.
    """
    phase = _phase(request.app)
    if phase in ("starting", "stopped"):
        body: dict[str, Any] = {"status": "fail"}
        if await _show_details(request, _settings(state(request.app))):
            body["output"] = _NOT_READY[phase]
        return _response(503, body)
    return _response(200, {"status": "pass"})
