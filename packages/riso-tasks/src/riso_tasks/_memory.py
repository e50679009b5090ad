"""kombu's in-memory transport, tuned for the embedded worker.

Celery's blocking consumer loop waits up to 2 s for a message before it looks
at whether the worker is stopping; capping each wait keeps app shutdown fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kombu.transport import memory

if TYPE_CHECKING:
    from kombu import Connection

#: longest single wait for a message, in seconds
MAX_WAIT = 0.1


class Transport(memory.Transport):
    def drain_events(  # type: ignore[override]  # as in the kombu stubs
        self, connection: Connection, timeout: float | None = None
    ) -> None:
        if timeout is None or timeout > MAX_WAIT:
            timeout = MAX_WAIT
        super().drain_events(connection, timeout=timeout)
