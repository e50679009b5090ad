"""A first-come, first-served pool for the async engine.

SQLAlchemy's async pool waits on an ``asyncio.Queue``. When a connection is
returned, the queue wakes its longest waiter, but the connection stays in the
queue until that waiter runs, and a request arriving in between takes it. The
woken waiter then finds the queue empty and queues again, at the back. With
more requests in flight than pooled connections (32 against the default 15
in ``bench/auth_real.py``), some requests waited for seconds while newer ones
were served: wrk counted them as timeouts, and the median answered in half
the mean.

``HandOffQueue`` hands a returned connection straight to the longest waiter,
and a request finds a free connection only when nobody is waiting, so
requests get connections in the order they asked. The pool is otherwise
SQLAlchemy's ``AsyncAdaptedQueuePool``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool

from riso_db._compat import PoolQueue, QueueEmpty, QueueFull, await_only, use_pool_queue


class HandOffQueue(PoolQueue[Any]):
    """The pool's idle connections and its waiters, served in order."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque[Any] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a waiter that timed out or was cancelled is skipped
                waiter.set_result(item)
                return
        if self.full():
            raise QueueFull()
        self._items.append(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # never blocks: the pool returns at most maxsize

    def get_nowait(self) -> Any:
        if self._items and not self._waiters:
            return self._items.pop() if self.use_lifo else self._items.popleft()
        raise QueueEmpty()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        try:
            return self.get_nowait()
        except QueueEmpty:
            if not block:
                raise
        try:
            return await_only(self._wait(timeout))
        except TimeoutError as error:  # the pool turns it into its "QueuePool limit" error
            raise QueueEmpty() from error

    async def _wait(self, seconds: float | None) -> Any:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), seconds)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over just now: pass it on
            else:
                waiter.cancel()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class HandOffQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, its waiters served first come, first served."""


use_pool_queue(HandOffQueuePool, HandOffQueue)
