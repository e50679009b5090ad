"""Account events: per-app handlers run after the change they report is committed.

``riso_auth.on(app, "user_deleted", handler)`` or, as a decorator,
``@riso_auth.on(app, "user_deleted")``. A handler is a plain callable, sync or
async, taking one ``AccountEvent``; sync handlers run in a worker thread so the
event loop stays free. Handlers run in the order they were registered, after
the transaction committed and before the response is sent; one that raises
is logged (its exception type and the event, no account data beyond the id)
and the next still runs: the account change stands either way.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from starlette.concurrency import run_in_threadpool

from riso_auth._exceptions import AuthError

logger = logging.getLogger("riso.auth")

EventName = Literal[
    "user_registered", "user_verified", "user_email_changed", "user_deleted", "user_signed_in"
]
EVENT_NAMES: frozenset[str] = frozenset(get_args(EventName))

Handler = Callable[["AccountEvent"], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """What happened to which account.

    ``data`` holds what the event adds: ``old_email`` for ``user_email_changed``,
    ``by`` ("self", "admin", "cli") for ``user_deleted``, ``method`` ("password",
    "provider") for ``user_signed_in``.
    """

    name: EventName
    user_id: int
    email: str
    data: dict[str, Any] = field(default_factory=dict)


class EventRegistry:
    """The handlers of one app, by event name."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {name: [] for name in EVENT_NAMES}

    def add(self, name: str, handler: Handler) -> None:
        if name not in EVENT_NAMES:
            raise AuthError(
                f"unknown riso-auth event {name!r}; one of {', '.join(sorted(EVENT_NAMES))}"
            )
        if not callable(handler):
            raise AuthError(f"an event handler must be callable, got {type(handler).__name__}")
        self._handlers[name].append(handler)

    def handlers(self, name: str) -> list[Handler]:
        return list(self._handlers.get(name, ()))

    async def emit(self, event: AccountEvent) -> None:
        """Run every handler of the event; a failure is logged, never raised."""
        for handler in self._handlers[event.name]:
            try:
                if inspect.iscoroutinefunction(handler):
                    await handler(event)
                else:
                    result = await run_in_threadpool(handler, event)
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                logger.error(
                    "riso-auth %s handler %s failed for account %s (%s); the change stands",
                    event.name,
                    getattr(handler, "__qualname__", type(handler).__name__),
                    event.user_id,
                    type(exc).__name__,
                    exc_info=True,
                )
