"""riso-tasks: Celery background tasks for FastAPI apps composed with riso.

``riso_tasks.task`` declares a task, ``await riso_tasks.enqueue(task, ...)``
sends it from async code, ``riso_tasks.celery_app(app)`` is the Celery app
built from ``RISO_TASKS_*`` settings, ``riso tasks worker`` runs a worker.
"""

from riso_tasks._app import celery_app
from riso_tasks._db import db_session
from riso_tasks._enqueue import check_json, enqueue
from riso_tasks._exceptions import (
    BrokerUnavailableError,
    EtaTooFarError,
    NotConfiguredError,
    NotSerializableError,
    ResultBackendMissingError,
    TasksError,
)
from riso_tasks._feature import feature
from riso_tasks._settings import BeatEntry, TasksSettings
from riso_tasks._signals import RequestIdFilter
from riso_tasks._task import RisoTask, task

__version__ = "0.1.7"

__all__ = [
    "BeatEntry",
    "BrokerUnavailableError",
    "EtaTooFarError",
    "NotConfiguredError",
    "NotSerializableError",
    "RequestIdFilter",
    "ResultBackendMissingError",
    "RisoTask",
    "TasksError",
    "TasksSettings",
    "celery_app",
    "check_json",
    "db_session",
    "enqueue",
    "feature",
    "task",
]
