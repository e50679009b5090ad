"""Health checks: a core type, so any feature can contribute one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One dependency check served by riso-health's readiness endpoint.

    ``func`` receives the application and returns when the dependency is
    usable; it raises to report a failure. The exception's message may be
    shown to operators, so it must never contain a secret. A failing
    ``critical`` check makes readiness fail; a non-critical one only warns.
    """

    name: str
    func: Callable[[Any], Awaitable[object]]
    critical: bool = True
    #: seconds before the check counts as failed
    timeout: float = 0.5
