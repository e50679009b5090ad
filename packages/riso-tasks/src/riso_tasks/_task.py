"""``@riso_tasks.task``: Celery's shared task with riso's defaults.

Defaults: retries on any exception with exponential backoff and full jitter,
an optional idempotency key, and a refusal of ETAs that Redis would deliver
twice. The task binds to whichever Celery app is built later, exactly like
``celery.shared_task`` (it *is* a shared task).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, overload

from celery import Task, shared_task
from celery.exceptions import Ignore

from riso_tasks._exceptions import EtaTooFarError
from riso_tasks._idempotency import store_for
from riso_tasks._sensitive import REDACTED
from riso_tasks._settings import BeatEntry

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("riso.tasks")

_SCHEDULES: dict[str, BeatEntry] = {}

#: Key function: called with the task's arguments, returns a string.
IdempotencyKey = Callable[..., object]


class RisoTask(Task[Any, Any]):
    """Base class of tasks declared with ``@riso_tasks.task``."""

    autoretry_for: tuple[type[BaseException], ...] = (Exception,)
    dont_autoretry_for: tuple[type[BaseException], ...] = (Ignore, EtaTooFarError)
    retry_backoff: int | bool = True
    retry_backoff_max = 600
    retry_jitter = True
    max_retries: int | None = 5
    #: staticmethod(fn) when the task was declared with ``idempotency_key=fn``
    idempotency_key: IdempotencyKey | None = None
    #: True: the arguments never appear in log lines or result meta
    sensitive_args: bool = False

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        check_eta(self.app, options)
        if self.sensitive_args:
            options["argsrepr"] = options["kwargsrepr"] = REDACTED
        return super().apply_async(
            args, kwargs, task_id, producer, link, link_error, shadow, **options
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key_fn = self.idempotency_key
        if key_fn is None or self.request.called_directly:
            return super().__call__(*args, **kwargs)
        key = f"{self.name}:{key_fn(*args, **kwargs)}"
        store = store_for(self.app)
        task_id = str(self.request.id)
        if store.is_done(key):
            logger.info("task %s skipped: idempotency key %r already done", self.name, key)
            return None
        if not store.acquire(key, task_id, ttl=self._lock_ttl()):
            # Another delivery with the same key is running: try again later.
            raise self.retry(countdown=min(2 ** (self.request.retries or 0), 60), max_retries=None)
        try:
            result = super().__call__(*args, **kwargs)
        except BaseException:
            store.release(key, task_id)
            raise
        store.mark_done(key, task_id)
        return result

    def _lock_ttl(self) -> int:
        limit = self.time_limit or self.app.conf.task_time_limit or 3600
        return int(limit) + 5


def check_eta(capp: Any, options: dict[str, Any]) -> None:
    """Refuse an ETA/countdown that Redis would deliver twice."""
    settings = getattr(capp, "riso_settings", None)
    if settings is None or not settings.broker_is_redis:
        return
    countdown = options.get("countdown")
    eta = options.get("eta")
    delay: float | None = None
    if countdown is not None:
        delay = float(countdown)
    elif isinstance(eta, datetime):
        when = eta if eta.tzinfo else eta.replace(tzinfo=UTC)
        delay = (when - datetime.now(UTC)).total_seconds()
    elif isinstance(eta, str):
        when = datetime.fromisoformat(eta)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        delay = (when - datetime.now(UTC)).total_seconds()
    if delay is not None and delay > settings.visibility_timeout:
        raise EtaTooFarError(
            f"a task delayed by {delay:.0f} s exceeds the Redis visibility timeout "
            f"({settings.visibility_timeout} s, RISO_TASKS_VISIBILITY_TIMEOUT): Redis would "
            "deliver it twice; raise the timeout, or schedule it with riso tasks beat"
        )


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    *,
    name: str | None = ...,
    idempotency_key: IdempotencyKey | None = ...,
    schedule: float | str | None = ...,
    sensitive_args: bool = ...,
    **options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...
def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    idempotency_key: IdempotencyKey | None = None,
    schedule: float | str | None = None,
    sensitive_args: bool = False,
    **options: Any,
) -> Any:
    """Declare a task: ``@riso_tasks.task`` or ``@riso_tasks.task(max_retries=3, ...)``.

    Every Celery task option is accepted (``bind``, ``queue``, ``autoretry_for``,
    ``retry_backoff``, ``retry_jitter``, ``max_retries``, ``ignore_result``...).
    ``idempotency_key=lambda *args, **kwargs: ...`` makes deliveries with the same
    key run to completion once. ``schedule`` (seconds, or a crontab string) adds a
    periodic entry run by ``riso tasks beat``. ``sensitive_args=True`` (tokens,
    links, keys among the arguments) keeps the arguments out of every log line
    and of the result meta.
    """

    def decorate(fun: Callable[..., Any]) -> Any:
        opts: dict[str, Any] = {"base": RisoTask, **options}
        if name is not None:
            opts["name"] = name
        if idempotency_key is not None:
            opts["idempotency_key"] = staticmethod(idempotency_key)
        if sensitive_args:
            opts["sensitive_args"] = True
        proxy = shared_task(**opts)(fun)
        if schedule is not None:
            task_name = name or f"{fun.__module__}.{fun.__name__}"
            _SCHEDULES[task_name] = BeatEntry(task=task_name, schedule=schedule)
        return proxy

    if fn is not None:
        return decorate(fn)
    return decorate


def declared_schedules() -> dict[str, BeatEntry]:
    """Periodic entries declared with ``@task(schedule=...)``."""
    return dict(_SCHEDULES)


__all__ = ["RisoTask", "check_eta", "declared_schedules", "task"]
