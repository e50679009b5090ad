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


class NeverOnLoop(WouldBlock):
    """The broker's connection settings (TLS, a unix socket, a key prefix...) keep
    every publish of this broker on a thread: not worth trying on the loop again."""


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


# Per event loop: the Redis senders of the running feature lifespans.
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSenders] = (
    weakref.WeakKeyDictionary()
)


class _LoopSenders:
    __slots__ = ("senders", "users")

    def __init__(self) -> None:
        self.users = 0
        self.senders: dict[tuple[tuple[str, Any], ...], _Sender] = {}


class _Sender:
    """A few redis.asyncio connections of one event loop to one Redis.

    Commands go straight to a connection: redis-py's own client and pool add
    about 40 µs per command (retry wrappers, pool locks, observability hooks),
    a tenth of a publish. Everything runs on one loop, so an idle list and a
    semaphore are the whole pool.
    """

    __slots__ = ("_idle", "_open", "_params", "_slots")

    def __init__(self, params: dict[str, Any]) -> None:
        self._params = params
        self._slots = asyncio.Semaphore(params.pop("max_connections", None) or 10)
        self._idle: list[Any] = []
        self._open: set[Any] = set()

    async def send(self, commands: list[tuple[str, tuple[Any, ...]]]) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError

        async with self._slots:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else self._connection()
            while True:
                try:
                    await self._send(connection, commands)
                    break
                except RedisConnectionError:
                    await self._drop(connection)
                    if not reused:
                        raise
                    # The server closed an idle connection (a restart, a
                    # timeout): once more on a new one, as redis-py's client would.
                    reused = False
                    connection = self._connection()
                except BaseException:  # cancelled or timed out mid-command: never reuse it
                    await self._drop(connection)
                    raise
            self._idle.append(connection)

    @staticmethod
    async def _send(connection: Any, commands: list[tuple[str, tuple[Any, ...]]]) -> None:
        packed = connection.pack_commands([(name, *args) for name, args in commands])
        await connection.send_packed_command(packed)
        for _ in commands:
            await connection.read_response()

    def _connection(self) -> Any:
        from redis.asyncio import Connection

        connection = Connection(**self._params)
        self._open.add(connection)
        return connection

    async def _drop(self, connection: Any) -> None:
        self._open.discard(connection)
        await connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        self._idle.clear()
        for connection in list(self._open):
            await self._drop(connection)


def open_loop() -> None:
    """Allow :func:`publish_on_loop` on the running loop until :func:`close_loop`."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is None:
        entry = _loops[loop] = _LoopSenders()
    entry.users += 1


async def close_loop() -> None:
    """Close the running loop's Redis connections when its last lifespan ends."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is None:
        return
    entry.users -= 1
    if entry.users > 0:
        return
    del _loops[loop]
    for sender in entry.senders.values():
        await sender.aclose()


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
        async with asyncio.timeout(limit):
            await _sender(collected.params).send(collected.commands)
    for action in collected.sent:
        action()
    return result


def _sender(params: tuple[tuple[str, Any], ...]) -> _Sender:
    entry = _loops[asyncio.get_running_loop()]
    sender = entry.senders.get(params)
    if sender is None:
        # No socket timeout: publish_on_loop's own limit bounds each send.
        sender = entry.senders[params] = _Sender({**dict(params), "socket_timeout": None})
    return sender
