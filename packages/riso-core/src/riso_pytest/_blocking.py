"""Running a coroutine to its end from sync code, even where an event loop is running."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def blocking(make: Callable[[], Awaitable[T]]) -> T:
    """``make()``'s result, awaited on a new event loop in a thread of its own.

    A sync fixture helper (``make_user``) is also called from async tests,
    whose loop is running: a thread of its own keeps the two loops apart.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    async def main() -> T:
        return await make()

    def target() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="riso-pytest-blocking")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
