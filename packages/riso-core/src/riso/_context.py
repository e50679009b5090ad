"""Request-scoped context shared between features without importing each other.

riso-obs sets the request id; riso-tasks carries it into tasks; anything may
read it. Keeping the variable in core means neither depends on the other.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("riso_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or task) being handled, if any."""
    return request_id_var.get()
