"""``await riso_tasks.enqueue(task, *args, **kwargs)`` from async code."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from celery import Celery, Task
from celery.app import app_or_default
from celery.canvas import Signature
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from kombu.utils.json import dumps

from riso_tasks import _loop_publish
from riso_tasks._app import RisoCelery, settings_of
from riso_tasks._compat import bind_signature
from riso_tasks._exceptions import BrokerUnavailableError, NotSerializableError
from riso_tasks._publisher import run_blocking
from riso_tasks._task import check_eta


def _is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` is how kombu, redis-py or py-amqp report an unreachable broker."""
    if isinstance(exc, OperationalError | OSError):
        return True
    module = type(exc).__module__
    return module.startswith("redis") and type(exc).__name__ in ("ConnectionError", "TimeoutError")


async def enqueue(
    task: Task[Any, Any] | Signature[Any] | str, /, *args: Any, **kwargs: Any
) -> AsyncResult[Any]:
    """Publish ``task(*args, **kwargs)`` without blocking the event loop.

    ``task`` is a task (``@riso_tasks.task`` or any Celery/shared task), a
    signature carrying options (``my_task.s(1).set(countdown=10)``) or a task
    name (sent like ``send_task``). Arguments are checked for JSON first
    (NotSerializableError names the argument); a broker that does not accept
    the message within ``RISO_TASKS_PUBLISH_TIMEOUT`` raises
    BrokerUnavailableError, which the feature turns into a 503 response.
    """
    capp = app_or_default()
    publish: Callable[..., AsyncResult[Any]]
    if isinstance(task, str | Signature):
        sig = _signature(capp, task, args, kwargs)
        name = str(sig.task)
        check_json(name, tuple(sig.args or ()), dict(sig.kwargs or {}), _run_of(capp, name))
        check_eta(capp, dict(sig.options or {}))
        publish = sig.apply_async
        ignores_result = False  # not worked out for signatures: only a quiet backend counts
    else:  # the common case, kept short: a task and its arguments
        name = task.name
        bound = capp.tasks.get(name) or task
        check_json(name, args, kwargs, bound)
        publish = partial(bound.apply_async, args, kwargs)
        ignores_result = bool(bound.ignore_result)
    timeout = _publish_timeout(capp)
    try:
        if _publishes_on_loop(capp, ignores_result):
            try:
                return await _loop_publish.publish_on_loop(capp.producer_pool, publish, timeout)
            except _loop_publish.NeverOnLoop:
                capp.riso_loop_publish = False  # type: ignore[attr-defined]
            except _loop_publish.WouldBlock:
                pass  # a connection or binding to set up first: the thread does it
        result = await run_blocking(publish, timeout)
    except TimeoutError as exc:
        raise BrokerUnavailableError(
            f"the task broker did not accept task {name!r} within {timeout:g} s"
        ) from exc
    except Exception as exc:
        if not _is_connection_error(exc):
            raise
        raise BrokerUnavailableError(
            f"the task broker is unavailable ({type(exc).__name__}); task {name!r} was not sent"
        ) from exc
    return result


def _publishes_on_loop(capp: Celery, ignores_result: bool) -> bool:
    """Whether the publish can run on the event loop with its I/O made asynchronous.

    Needs riso's Redis transport and a running feature lifespan (which closes
    the loop's connections); not in eager mode, where publishing runs the task;
    and no result backend I/O at publish time (Redis backends subscribe then).
    """
    return (
        isinstance(capp, RisoCelery)
        and capp.riso_loop_publish
        and _loop_publish.loop_is_open()
        and not capp.conf.task_always_eager
        and (ignores_result or _quiet_backend(capp))
    )


def _quiet_backend(capp: RisoCelery) -> bool:
    quiet = capp.riso_quiet_backend
    if quiet is None:
        from celery.backends.base import BaseBackend

        on_task_call = type(capp.backend).on_task_call
        quiet = capp.riso_quiet_backend = on_task_call is BaseBackend.on_task_call
    return quiet


def _signature(
    capp: Celery,
    task: Task[Any, Any] | Signature[Any] | str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> Signature[Any]:
    if isinstance(task, str):
        return capp.signature(task, args=tuple(args), kwargs=dict(kwargs))
    if isinstance(task, Signature):
        sig = task.clone(args=tuple(args), kwargs=dict(kwargs))
        bind_signature(sig, capp)
        return sig
    name = task.name
    bound = capp.tasks.get(name)
    return (bound if bound is not None else task).s(*args, **kwargs)


def _run_of(capp: Celery, name: str) -> Any:
    return capp.tasks.get(name)


def _publish_timeout(capp: Celery) -> float:
    try:
        return settings_of(capp).publish_timeout
    except Exception:
        return 5.0


def check_json(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], task: Any = None) -> None:
    """Raise NotSerializableError naming the first argument JSON cannot carry."""
    try:
        dumps((args, kwargs))
        return  # the usual case: one encoding, no introspection
    except (TypeError, ValueError, OverflowError):
        pass
    params = _positional_names(getattr(task, "run", None))
    for position, value in enumerate(args):
        label = (
            f"argument {params[position]!r} (position {position})"
            if position < len(params)
            else f"positional argument {position}"
        )
        _check_one(name, label, value)
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise NotSerializableError(
                f"task {name!r}: keyword argument names must be strings, got {key!r}",
                argument=repr(key),
            )
        _check_one(name, f"argument {key!r}", value)


def _positional_names(run: Any) -> list[str]:
    if run is None:
        return []
    try:
        parameters = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check_one(name: str, label: str, value: Any) -> None:
    try:
        dumps(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise NotSerializableError(
            f"{label} of task {name!r} is not JSON-serializable ({type(value).__name__}: {exc}); "
            "pass plain data (str, int, float, bool, None, lists, dicts, datetimes, UUIDs) "
            "and load objects inside the task",
            argument=label,
        ) from None
