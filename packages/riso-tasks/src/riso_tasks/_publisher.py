"""Running blocking publishes off the event loop, cheaply.

``anyio.to_thread`` costs about three times what a plain hand-off does, and a
publish is short, so on asyncio riso keeps a few daemon threads of its own,
started on first use (never at import) and again after a fork. Each call runs
in a copy of the caller's context, so the request id and trace context reach
the ``before_task_publish`` signal. Other event loops use anyio's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

THREADS = 2
_Job = tuple[
    contextvars.Context, Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop
]
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_lock = threading.Lock()
_started_pid: list[int] = []


def _deliver(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller gave up (timeout or cancellation)
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _serve() -> None:
    while True:
        context, fn, future, loop = _jobs.get()
        if future.done():  # abandoned while queued: do not publish late
            continue
        try:
            value, ok = context.run(fn), True
        except BaseException as exc:  # handed to the awaiting caller
            value, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(_deliver, future, ok, value)


def _ensure_threads() -> None:
    pid = os.getpid()
    if _started_pid and _started_pid[0] == pid:
        return
    with _lock:
        if _started_pid and _started_pid[0] == pid:
            return
        for number in range(THREADS):
            threading.Thread(
                target=_serve, name=f"riso-tasks-publish-{number}", daemon=True
            ).start()
        _started_pid[:] = [pid]


async def run_blocking(fn: Callable[[], T], limit: float) -> T:
    """``fn()`` in a worker thread; TimeoutError after ``limit`` s (the thread is abandoned)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        with anyio.fail_after(limit):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
    _ensure_threads()
    future: asyncio.Future[T] = loop.create_future()
    _jobs.put((contextvars.copy_context(), fn, future, loop))
    async with asyncio.timeout(limit):
        return await future
