"""Typed capabilities: what one feature offers others without either importing the other.

A capability is a typed key. The feature that has the thing provides it on
the app's registry in its ``on_include`` hook
(``riso.registry(app).provide(riso.REQUEST_AUTHENTICATOR, authenticate)``);
a feature that can use it looks it up (``riso.registry(app).lookup(...)``)
and gets ``None`` when no active feature provides it. The keys riso's own
features exchange are defined here, in riso-core, which every feature
depends on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

T = TypeVar("T")


class Capability(Generic[T]):
    """A named, typed key for something one feature offers the others.

    Two capabilities are the same key only if they are the same object, so a
    name can never collide by accident.
    """

    __slots__ = ("description", "name")

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description

    def __repr__(self) -> str:
        return f"<Capability {self.name}>"


#: ``await authenticate(connection)``: the caller of a request or websocket, or
#: None; never raises for a missing or bad credential. Provided by riso-auth.
RequestAuthenticator = Callable[["HTTPConnection"], Awaitable[Any]]
REQUEST_AUTHENTICATOR: Capability[RequestAuthenticator] = Capability(
    "request_authenticator", "the caller of a request, or None (riso-auth)"
)

#: ``await enqueue(task_name, *args, **kwargs)``: hand a registered task to the
#: task queue; raises when the broker cannot take it. Provided by riso-tasks.
TaskEnqueuer = Callable[..., Awaitable[Any]]
TASK_ENQUEUER: Capability[TaskEnqueuer] = Capability(
    "task_enqueuer", "send a registered task by name to the queue (riso-tasks)"
)

#: ``with sync_session() as session:``: a new synchronous SQLAlchemy session
#: on the app's database, for code outside the event loop (workers, commands).
#: Provided by riso-db.
SyncSessionFactory = Callable[[], AbstractContextManager[Any]]
SYNC_SESSION_FACTORY: Capability[SyncSessionFactory] = Capability(
    "sync_session_factory", "a new sync SQLAlchemy session on the app's database (riso-db)"
)
