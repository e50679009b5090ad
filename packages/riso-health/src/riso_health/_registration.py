"""The application's own checks, kept on the app (never in a module global)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from riso import HealthCheck
from riso_health._exceptions import CheckRegistrationError
from riso_health._runner import state

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CheckRegistrationError(
            f"health check name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
            "(it becomes '<name>:responseTime' in the response)"
        )
    return name


def add_check(app: Any, check: HealthCheck) -> HealthCheck:
    """Register ``check`` as one of the application's own health checks.

    Use it for the built-in helpers:
    ``riso_health.add_check(app, riso_health.http_check("https://payments/ping"))``.
    """
    if not isinstance(check, HealthCheck):
        raise CheckRegistrationError(f"expected a riso.HealthCheck, got {type(check).__name__}")
    validate_name(check.name)
    if not callable(check.func):
        raise CheckRegistrationError(f"health check {check.name!r}: func is not callable")
    if not check.timeout > 0:
        raise CheckRegistrationError(f"health check {check.name!r}: timeout must be positive")
    checks = state(app).app_checks
    if any(existing.name == check.name for existing in checks):
        raise CheckRegistrationError(f"the app already has a health check named {check.name!r}")
    checks.append(check)
    return check


def _adapt(func: Callable[..., Any]) -> Callable[[Any], Any]:
    """Call ``func`` with the app when it takes an argument; run sync ones in a thread."""
    try:
        takes_app = len(inspect.signature(func).parameters) > 0
    except (TypeError, ValueError):  # builtins without a signature
        takes_app = True
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def call_async(app: Any) -> object:
            return await (func(app) if takes_app else func())

        return call_async

    @functools.wraps(func)
    async def call_sync(app: Any) -> object:
        # A blocking check must not block the event loop; its thread cannot be
        # interrupted, but the probe still answers at the timeout.
        return await asyncio.to_thread(func, app) if takes_app else await asyncio.to_thread(func)

    return call_sync


def check(
    app: Any,
    *,
    name: str | None = None,
    critical: bool = True,
    timeout: float = 0.5,
) -> Callable[[F], F]:
    """Register the decorated function as one of the app's health checks.

    The function may be async or sync (sync ones run in a thread), take the app
    or nothing, and raise to report a failure::

        @riso_health.check(app, name="payments", critical=False, timeout=0.3)
        async def payments_api() -> None:
            ...
    """

    def decorate(func: F) -> F:
        if not callable(func):
            raise CheckRegistrationError("@riso_health.check decorates a function")
        add_check(
            app,
            HealthCheck(
                name=name if name is not None else func.__name__,
                func=_adapt(func),
                critical=critical,
                timeout=timeout,
            ),
        )
        return func

    return decorate
