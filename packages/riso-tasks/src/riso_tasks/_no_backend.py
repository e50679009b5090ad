"""The result backend of an app without one: a read raises ``ResultBackendMissingError``.

Celery's ``DisabledBackend`` fails on ``AsyncResult(...).state`` with an
``AttributeError`` (``_get_task_meta_for``), which an endpoint turns into a
500; this one names the setting to change, and the feature answers it 501.
"""

from __future__ import annotations

from typing import Any, NoReturn

from celery.backends.base import DisabledBackend

from riso_tasks._exceptions import ResultBackendMissingError

#: what ``RisoCelery.backend_cls`` names when no result backend is configured
NO_BACKEND = "riso_tasks._no_backend:NoResultBackend"

MESSAGE = (
    "task results are not kept: no result backend is configured; set "
    "RISO_TASKS_RESULT_BACKEND (e.g. redis://...) to read task states and results"
)


class NoResultBackend(DisabledBackend):
    """Stores nothing (as Celery's disabled backend); every read raises a riso-tasks error."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise ResultBackendMissingError(MESSAGE)

    get_state = get_status = get_result = get_traceback = _refuse
    get_task_meta_for = wait_for = get_many = _refuse
    get_task_meta = _refuse
