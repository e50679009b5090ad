"""Publishing from the event loop with the Redis I/O made asynchronous.

``await enqueue(...)`` would otherwise hand every publish to a thread, and two
thread wake-ups cost more than the publish itself on a busy machine. While
the feature's lifespan runs, :func:`publish_on_loop` runs Celery's publish on
the event loop with riso's Redis channel (``_redis.py``) in collecting mode:
kombu builds the final Redis commands and they are sent with
``redis.asyncio``, so no I/O blocks the loop. Any other Redis I/O the publish
would need first (a new connection, a queue binding) raises WouldBlock before
anything is sent, and the caller publishes through a thread instead, which
sets that connection up for the next time.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

#: ``broker_transport`` naming riso's Redis transport
TRANSPORT = "riso_tasks._redis:Transport"


class WouldBlock(Exception):  # a signal between two functions, never seen by users
    """The publish needs Redis I/O on the event loop other than its final commands."""


class _Collected:
    """The commands of one publish; ``add`` is kombu's batch hook for ``_put``."""

    __slots__ = ("commands", "params", "sent")

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []
        self.params: tuple[tuple[str, Any], ...] | None = None
        self.sent: list[Callable[[], None]] = []

    def add(self, name: str, *args: Any) -> None:
        self.commands.append((name, args))


#: the collector of the publish running on this context, if any
collecting: ContextVar[_Collected | None] = ContextVar("riso_tasks_collecting", default=None)


def on_sent(action: Callable[[], None]) -> None:
    """Run ``action`` once the current publish has reached the broker."""
    collected = collecting.get()
    if collected is None:
        action()
    else:
        collected.sent.append(action)


# Per event loop: the redis.asyncio clients of the running feature lifespans.
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
    weakref.WeakKeyDictionary()
)


class _LoopClients:
    __slots__ = ("clients", "users")

    def __init__(self) -> None:
        self.users = 0
        self.clients: dict[tuple[tuple[str, Any], ...], Any] = {}


def open_loop() -> None:
    """Allow :func:`publish_on_loop` on the running loop until :func:`close_loop`."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is None:
        entry = _loops[loop] = _LoopClients()
    entry.users += 1


async def close_loop() -> None:
    """Close the running loop's clients when its last lifespan ends."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is None:
        return
    entry.users -= 1
    if entry.users > 0:
        return
    del _loops[loop]
    for client in entry.clients.values():
        await client.aclose(close_connection_pool=True)  # the pool is ours alone


def loop_is_open() -> bool:
    try:
        return asyncio.get_running_loop() in _loops
    except RuntimeError:
        return False


async def publish_on_loop(pool: Any, publish: Callable[..., T], limit: float) -> T:
    """``publish(producer=...)`` on the loop, its Redis commands sent without blocking.

    Raises WouldBlock, having sent nothing, when the publish needs any other
    I/O first or every pooled producer is in use.
    """
    try:
        producer = pool.acquire(block=False)
    except pool.LimitExceeded:
        raise WouldBlock from None
    collected = _Collected()
    try:
        token = collecting.set(collected)
        try:
            result = publish(producer=producer)
        finally:
            collecting.reset(token)
    finally:
        producer.release()
    if collected.commands:
        assert collected.params is not None  # set by the channel with the commands
        client = _client(collected.params)
        async with asyncio.timeout(limit):
            if len(collected.commands) == 1:
                name, args = collected.commands[0]
                await getattr(client, name)(*args)
            else:
                async with client.pipeline(transaction=False) as pipe:
                    for name, args in collected.commands:
                        getattr(pipe, name)(*args)
                    await pipe.execute()
    for action in collected.sent:
        action()
    return result


def _client(params: tuple[tuple[str, Any], ...]) -> Any:
    entry = _loops[asyncio.get_running_loop()]
    client = entry.clients.get(params)
    if client is None:
        from redis import asyncio as redis_asyncio

        # Blocking: a burst of publishes waits for a connection (under the
        # caller's time limit) instead of failing with "too many connections".
        # No socket timeout either: publish_on_loop's own limit bounds each send.
        settings = {**dict(params), "socket_timeout": None}
        pool = redis_asyncio.BlockingConnectionPool(timeout=None, **settings)
        client = entry.clients[params] = redis_asyncio.Redis(connection_pool=pool)
    return client
