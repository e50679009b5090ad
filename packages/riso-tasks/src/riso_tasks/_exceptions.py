"""Every error riso-tasks raises derives from one root, ``TasksError``.

The tree::

    riso.RisoError
    └── TasksError                    root of riso-tasks' errors
        ├── NotConfiguredError        no riso.include(app), or the feature is not active
        ├── NotSerializableError      an argument cannot travel as JSON (also a TypeError)
        ├── EtaTooFarError            delay beyond the Redis visibility timeout (a ValueError)
        ├── BrokerUnavailableError    the broker did not accept the message in time (HTTP 503)
        └── ResultBackendMissingError a result was read with no result backend (HTTP 501;
                                      also a NotImplementedError, as Celery's own)

Messages name what to change; they never contain a broker URL or password.
"""

from __future__ import annotations

from riso import RisoError


class TasksError(RisoError):
    """Root of every riso-tasks error."""


class NotConfiguredError(TasksError):
    """The tasks feature is not active on this app (or no app was built yet)."""


class NotSerializableError(TasksError, TypeError):
    """A task argument cannot be serialized to JSON; ``argument`` names it."""

    def __init__(self, message: str, *, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


class EtaTooFarError(TasksError, ValueError):
    """An ETA or countdown longer than the Redis visibility timeout.

    Redis redelivers a message that stays unacknowledged longer than the
    visibility timeout, so such a task would run twice.
    """


class BrokerUnavailableError(TasksError):
    """The broker could not be reached or did not accept the message in time."""


class ResultBackendMissingError(TasksError, NotImplementedError):
    """A task state or result was read, but no result backend is configured."""
