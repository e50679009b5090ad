"""riso-tasks' pytest plugin (``pytest11`` entry point): what the app enqueued, without a broker.

- ``captured_tasks``: a list of ``CapturedTask`` (``name``, ``args``, ``kwargs``,
  ``headers`` with the request id, ``options``, ``id``) for every task the app
  enqueued during the test; nothing reaches a broker or a worker.
- ``run_tasks``: ``run_tasks()`` runs what was enqueued (and what those tasks
  enqueue), in-process and in order, and returns their results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from riso_tasks_pytest._capture import CapturedTask, TaskRecorder

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["CapturedTask", "captured_tasks", "riso_task_recorder", "run_tasks"]


@pytest.fixture
def riso_task_recorder(riso_app: FastAPI) -> Iterator[TaskRecorder]:
    """Records the app's enqueues instead of sending them (shared by the two fixtures)."""
    import riso_tasks

    recorder = TaskRecorder(riso_tasks.celery_app(riso_app))
    with recorder.installed():
        yield recorder


@pytest.fixture
def captured_tasks(riso_task_recorder: TaskRecorder) -> list[CapturedTask]:
    """Every task the app enqueued during this test, in order; none was sent."""
    return riso_task_recorder.tasks


@pytest.fixture
def run_tasks(riso_task_recorder: TaskRecorder) -> Callable[[], list[object]]:
    """``run_tasks()``: run the enqueued tasks in-process and return their results."""
    return riso_task_recorder.run_pending
