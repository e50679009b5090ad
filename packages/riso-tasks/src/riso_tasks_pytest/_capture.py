"""Recording a Celery app's task messages instead of sending them, and running them in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, signals
from celery.result import AsyncResult


@dataclass
class CapturedTask:
    """One enqueued task: what a worker would have received."""

    __test__ = False

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: message headers (riso-tasks adds the request id, ``riso_request_id``, here)
    headers: dict[str, Any]
    #: the other publish options (countdown, eta, queue...)
    options: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    ran: bool = False

    @property
    def request_id(self) -> str | None:
        for key, value in self.headers.items():
            if "request_id" in key and isinstance(value, str):
                return value
        return None


class TaskRecorder:
    """Replaces ``send_task`` of one Celery app while installed."""

    def __init__(self, capp: Celery) -> None:
        self.capp = capp
        self.tasks: list[CapturedTask] = []

    @contextmanager
    def installed(self) -> Iterator[TaskRecorder]:
        capp: Any = self.capp
        saved_loop_publish = getattr(capp, "riso_loop_publish", None)
        capp.send_task = self._send_task  # an attribute of this instance, removed below
        if saved_loop_publish is not None:
            capp.riso_loop_publish = False  # publishing goes through send_task only
        try:
            yield self
        finally:
            del capp.send_task
            if saved_loop_publish is not None:
                capp.riso_loop_publish = saved_loop_publish

    def _send_task(
        self,
        name: str,
        args: Any = None,
        kwargs: Any = None,
        *,
        task_id: str | None = None,
        headers: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        task_id = task_id or str(uuid.uuid4())
        message_headers: dict[str, Any] = {"task": name, "id": task_id, **(headers or {})}
        # the publish signal lets riso-tasks (and anyone else) add their headers,
        # the request id among them, as when a message is really sent
        signals.before_task_publish.send(
            sender=name,
            body=(tuple(args or ()), dict(kwargs or {}), {}),
            exchange="",
            routing_key=options.get("queue") or "celery",
            headers=message_headers,
            properties={},
            declare=[],
            retry_policy=None,
        )
        for internal in ("producer", "result_cls", "task_type", "link", "link_error", "shadow"):
            options.pop(internal, None)
        self.tasks.append(
            CapturedTask(
                name=name,
                args=tuple(args or ()),
                kwargs=dict(kwargs or {}),
                headers=message_headers,
                options=options,
                id=task_id,
            )
        )
        return AsyncResult(task_id, app=self.capp)

    def run_pending(self) -> list[object]:
        """Run every captured task not run yet (those it enqueues included), in order."""
        results: list[object] = []
        index = 0
        while index < len(self.tasks):
            captured = self.tasks[index]
            index += 1
            if captured.ran:
                continue
            captured.ran = True
            task = self.capp.tasks[captured.name]
            outcome = task.apply(
                args=captured.args,
                kwargs=captured.kwargs,
                task_id=captured.id,
                headers=captured.headers,
                throw=True,
            )
            results.append(outcome.get(propagate=True))
        return results
