"""The access line rendered straight to JSON: the hot path of the JSON log pipeline."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from riso_obs import _compat, _logging
from riso_obs._log_escape import escape_json_text
from riso_obs._log_output import write
from riso_obs._log_processors import FastTimeStamper

_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def encode_json_string(value: str) -> str:
    """``value`` as a JSON string literal (quotes included), as the JSON renderer writes it.

    (C1 controls and U+2028/U+2029 escaped, like the renderer: they split lines.)
    """
    if value.isascii():  # reads a flag, no scan: the common case costs one call
        return _encode_string(value)
    return escape_json_text(_encode_string(value))


class AccessLine:
    """The access line, rendered straight to JSON: the hot path of the JSON pipeline.

    For the fields the middleware itself produces (method, path, route,
    status, duration, ids, client) the processor chain would add only the
    logger name, level and timestamp: nothing to redact, no context to merge.
    This writes exactly the line the chain would write, without building and
    walking an event dict. The middleware uses it only when the JSON format is
    on, INFO is enabled and no structlog context variables are bound; anything
    else (errors, captured headers, console format) goes through structlog.
    """

    def __init__(self) -> None:
        self._stamp = FastTimeStamper()
        #: None: structlog's registry is gone, so bound variables cannot be
        #: ruled out and every line takes the structlog path
        self._bound = _compat.structlog_context_vars()

    def usable(self) -> bool:
        """False when structlog context variables are bound (they belong on the line)."""
        bound = self._bound
        if not bound:
            return bound is not None
        return all(var.get() is Ellipsis for var in tuple(bound.values()))

    def write(
        self,
        method: str,
        path: str,
        route_json: str,
        status: int,
        duration_ms: float,
        request_id: str,
        client: str | None,
        trace_id: str | None,
        span_id: str | None,
    ) -> None:
        client_part = f',"client":{encode_json_string(client)}' if client is not None else ""
        trace_part = f',"trace_id":"{trace_id}","span_id":"{span_id}"' if trace_id else ""
        write(
            f'{{"method":"{method}","path":{encode_json_string(path)},"route":{route_json},'
            f'"status":{status},"duration_ms":{duration_ms!r},"request_id":"{request_id}"'
            f'{client_part}{trace_part},"event":"request","logger":"riso.access",'
            f'"level":"info","timestamp":"{self._stamp.now()}"}}'
        )


def access_line() -> AccessLine | None:
    """The fast access-line writer, when the configuration in force allows it."""
    config = _logging.current_config()
    if config is None or not config.json or config.level > logging.INFO:
        return None
    return AccessLine()
