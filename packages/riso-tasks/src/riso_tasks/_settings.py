"""Settings of the tasks feature (prefix ``RISO_TASKS_``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

import riso

REDIS_SCHEMES = ("redis", "rediss", "sentinel", "redis+socket")


class BeatEntry(BaseModel):
    """One periodic task: ``schedule`` is seconds, or a 5-field crontab string."""

    #: the task's name, as Celery registers it (``app.tasks.report``)
    task: str
    #: seconds between runs, or a crontab string (``0 3 * * *``, UTC)
    schedule: float | str
    #: positional arguments (JSON list)
    args: list[Any] = Field(default_factory=list)
    #: keyword arguments (JSON object; the JSON key ``kwargs`` works too)
    keyword_args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _kwargs_key(cls, data: Any) -> Any:
        # "kwargs" in JSON; a field of that name would clash with **kwargs in __init__.
        if isinstance(data, dict) and "kwargs" in data:
            data = {k: v for k, v in data.items() if k != "kwargs"} | {
                "keyword_args": data["kwargs"]
            }
        return data

    #: queue to send it to (default: ``RISO_TASKS_DEFAULT_QUEUE``)
    queue: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            if len(value.split()) != 5:
                raise ValueError(
                    "a crontab schedule has 5 fields: 'minute hour day-of-month month day-of-week'"
                )
        elif value <= 0:
            raise ValueError("an interval schedule must be a positive number of seconds")
        return value


class TasksSettings(riso.Settings):
    """How riso-tasks builds the Celery app. No broker means the embedded one."""

    model_config = SettingsConfigDict(env_prefix="RISO_TASKS_")

    #: ``redis://...``, ``amqp://...``; unset = in-process broker and worker (development)
    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RISO_TASKS_BROKER_URL", "CELERY_BROKER_URL")
    )
    #: where results of tasks declared with ``ignore_result=False`` go (e.g. ``redis://...``)
    result_backend: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RISO_TASKS_RESULT_BACKEND", "CELERY_RESULT_BACKEND"),
    )
    #: queue used by tasks without a route
    default_queue: str = "celery"
    #: comma-separated modules the worker imports to find tasks
    imports: str = ""
    #: seconds after which a running task gets SoftTimeLimitExceeded (to clean up)
    soft_time_limit: int = Field(default=300, gt=0)
    #: seconds after which a running task is killed (above the soft limit)
    time_limit: int = Field(default=330, gt=0)
    #: seconds a Redis message may stay unacknowledged before it is delivered again
    visibility_timeout: int = Field(default=3600, gt=0)
    #: extra kombu transport options (JSON), merged over riso's
    broker_transport_options: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)
    #: seconds enqueue() waits for the broker before raising BrokerUnavailableError
    publish_timeout: float = Field(default=5.0, gt=0)
    #: Redis URL for idempotency keys (default: the broker's or result backend's Redis)
    idempotency_url: str | None = None
    #: seconds an idempotency key is remembered after the task succeeded
    idempotency_ttl: int = Field(default=86400, gt=0)
    #: seconds results are kept in the result backend
    result_expires: int = Field(default=86400, gt=0)
    #: periodic tasks (JSON): {"name": {"task": "...", "schedule": 60}}
    beat_schedule: Annotated[dict[str, BeatEntry], NoDecode] = Field(default_factory=dict)
    #: threads of the embedded worker
    embedded_concurrency: int = Field(default=2, gt=0)

    @field_validator("broker_transport_options", "beat_schedule", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        # Parsed here, not by pydantic-settings, so bad JSON is an ordinary
        # validation error that riso reports with the variable's name.
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
        return value

    @model_validator(mode="after")
    def _limits(self) -> TasksSettings:
        if self.time_limit <= self.soft_time_limit:
            raise ValueError(
                "RISO_TASKS_TIME_LIMIT must be greater than RISO_TASKS_SOFT_TIME_LIMIT "
                "(the soft limit lets the task clean up before the hard kill)"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: in-process broker and worker."""
        return not self.broker_url

    @property
    def broker_is_redis(self) -> bool:
        return _scheme(self.broker_url) in REDIS_SCHEMES

    @property
    def imports_list(self) -> list[str]:
        return [part.strip() for part in self.imports.split(",") if part.strip()]

    def redis_url_for_keys(self) -> str | None:
        """The Redis holding idempotency keys, if any."""
        for url in (self.idempotency_url, self.broker_url, self.result_backend):
            if url and _scheme(url) in ("redis", "rediss"):
                return url
        return None


def _scheme(url: str | None) -> str:
    return url.split("://", 1)[0].lower() if url and "://" in url else ""
