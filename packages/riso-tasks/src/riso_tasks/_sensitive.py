"""Keeping task arguments out of log lines: sensitive tasks' reprs, and the pool's debug line.

Celery writes a task's arguments into its log lines (``TaskPool: Apply``
at DEBUG carries the whole message body; the succeeded/failed lines and the
result meta use ``argsrepr``). A reset link or a token passed to a mail task
would reach the logs. Tasks declared ``sensitive_args=True`` publish
``[REDACTED]`` as their ``argsrepr``/``kwargsrepr``; the pool's debug line
never shows arguments, whichever the task.
"""

from __future__ import annotations

import logging

REDACTED = "[REDACTED]"
#: Celery's logger of ``TaskPool: Apply %s (args:%s kwargs:%s)``
POOL_LOGGER = "celery.pool"


class PoolArgsFilter(logging.Filter):
    """Drop the arguments from the pool's ``TaskPool: Apply`` line (the raw message body)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("TaskPool: Apply"):
            record.args = (REDACTED, REDACTED, REDACTED)
        return True


_FILTER = PoolArgsFilter()


def install_pool_filter() -> None:
    """Filter the pool's logger (idempotent: one filter object)."""
    logging.getLogger(POOL_LOGGER).addFilter(_FILTER)
