"""The embedded worker: a real Celery worker in a thread of the app's process.

Used when no broker is configured: kombu's in-memory transport carries the
messages and this worker consumes them, so tasks run in the background of the
web process. For development only: queued tasks are lost when the process stops.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.worker import WorkController

from riso_tasks._compat import set_task_join_will_block

logger = logging.getLogger("riso.tasks")


class _Controller(WorkController):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class EmbeddedWorker:
    """Start/stop a worker consuming the app's queues in a daemon thread."""

    def __init__(self, capp: Celery, *, concurrency: int) -> None:
        self.capp = capp
        self.concurrency = concurrency
        self._controller: _Controller | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    def start(self, timeout: float = 15.0) -> None:
        self.capp.finalize()
        self._controller = _Controller(
            app=self.capp,
            pool="threads",
            concurrency=self.concurrency,
            hostname=f"riso-embedded-{os.getpid()}-{id(self):x}@{socket.gethostname()}",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel=logging.WARNING,
        )
        self._thread = threading.Thread(
            target=self._run, name="riso-tasks-embedded-worker", daemon=True
        )
        self._thread.start()
        if not self._controller.ready.wait(timeout):
            raise RuntimeError(f"the embedded task worker did not start within {timeout:g} s")
        if self.error is not None:
            raise RuntimeError(f"the embedded task worker failed to start: {self.error}")
        # Creating the pool marks the whole process as "inside a worker", which
        # makes AsyncResult.get() raise in the web code sharing this process (and
        # in anything that runs later in it). Celery's own in-process test worker
        # resets the flag the same way.
        set_task_join_will_block(False)

    def _run(self) -> None:
        assert self._controller is not None
        try:
            self._controller.start()
        except BaseException as exc:  # reported by start() and the health check
            self.error = exc
            self._controller.ready.set()
            logger.exception("the embedded task worker stopped")

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown: running tasks may finish within ``timeout``."""
        if self._controller is None or self._thread is None:
            return
        self._controller.stop(in_sighandler=False)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the embedded task worker did not stop within %g s", timeout)
