"""The processors every log line goes through, redaction included, and the chains built of them.

One shared chain serves structlog loggers (rendered natively) and stdlib
records (through ``structlog.stdlib.ProcessorFormatter``), so every line has
the same shape whichever API wrote it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from riso import request_id_var
from riso_obs import _compat, _tracing
from riso_obs._log_escape import (
    escape_console_traceback,
    escape_console_values,
    escape_json_text,
)

if TYPE_CHECKING:
    from riso_obs._logging import LogConfig

REDACTED = "[REDACTED]"


def _merge_contextvars_fast() -> Processor:
    """structlog's ``merge_contextvars`` without copying the whole context each time."""
    from structlog import contextvars as sc

    registry = _compat.structlog_context_vars()
    prefix_len = len(getattr(sc, "STRUCTLOG_KEY_PREFIX", "structlog_"))
    if registry is None:  # pragma: no cover - structlog changed its internals
        return sc.merge_contextvars

    def merge(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        if registry:
            for var in tuple(registry.values()):
                value = var.get()
                if value is not Ellipsis:
                    event_dict.setdefault(var.name[prefix_len:], value)
        return event_dict

    return merge


def add_logger_name(logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """``logger``: the name given to ``structlog.get_logger(name)`` or the stdlib record's."""
    if "logger" not in event_dict:
        record = event_dict.get("_record")
        name = record.name if record is not None else getattr(logger, "name", None)
        if name is not None:
            event_dict["logger"] = name
    return event_dict


def add_request_context(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Add ``request_id`` and, inside a recording span, ``trace_id``/``span_id``."""
    if "request_id" not in event_dict:
        request_id = request_id_var.get()
        if request_id is not None:
            event_dict["request_id"] = request_id
    if "trace_id" not in event_dict and _tracing.STATE.tracer is not None:
        ids = _tracing.current_ids()
        if ids is not None:
            event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


class FastTimeStamper:
    """``timestamp``: ISO 8601 UTC with microseconds and ``Z``; the seconds part is cached."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1e6):06d}Z"

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict["timestamp"] = self.now()
        return event_dict


def _json_fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


class JSONLineRenderer:
    """One compact JSON object per line, with a pre-built encoder (no per-call setup).

    C1 controls and U+2028/U+2029 are escaped too: they would split the line.
    """

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(
            default=_json_fallback, separators=(",", ":"), ensure_ascii=False
        ).encode

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> str:
        return escape_json_text(self._encode(event_dict))


_CONTAINERS = (dict, list, tuple)
_SCALARS = frozenset({str, int, float, bool, type(None)})


class Redactor:
    """Replace the value of every sensitive key (at any depth) with ``[REDACTED]``.

    A key is sensitive when, lower-cased with ``-`` read as ``_``, it contains
    one of the configured fragments (``password`` covers ``db_password``).
    """

    def __init__(self, fragments: Iterable[str]) -> None:
        self.fragments = tuple(dict.fromkeys(f.lower().replace("-", "_") for f in fragments))
        self._decisions: dict[str, bool] = {}
        self._safe: set[str] = set()

    def is_sensitive(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        decision = self._decisions.get(key)
        if decision is None:
            normal = key.lower().replace("-", "_")
            decision = any(fragment in normal for fragment in self.fragments)
            if len(self._decisions) < 4096:
                self._decisions[key] = decision
                if not decision:
                    self._safe.add(key)
        return decision

    def _clean(self, value: Any, depth: int) -> Any:
        if depth > 4:
            return value
        if isinstance(value, MutableMapping | dict):
            return {
                k: (REDACTED if self.is_sensitive(k) else self._clean(v, depth + 1))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple) and value and isinstance(value[0], tuple):
            # header-style pairs: [(name, value), ...]
            return [
                (pair[0], REDACTED)
                if len(pair) == 2 and self.is_sensitive(_text(pair[0]))
                else pair
                for pair in value
            ]
        return value

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        # fast path (C-level set operations): every key already known to be
        # harmless and every value a plain scalar
        if self._safe.issuperset(event_dict) and _SCALARS.issuperset(
            map(type, event_dict.values())
        ):
            return event_dict
        decisions = self._decisions
        for key, value in event_dict.items():
            decision = decisions.get(key)
            if decision is None:
                decision = self.is_sensitive(key)
            if decision or isinstance(value, _CONTAINERS):
                break
        else:
            return event_dict  # the common case: nothing to do, nothing allocated
        for key in list(event_dict):
            if key in ("exc_info", "_record", "_from_structlog"):
                continue
            if self.is_sensitive(key):
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._clean(event_dict[key], 0)
        return event_dict


def _text(value: object) -> object:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def build_processors(
    config: LogConfig, *, colors: bool = False
) -> tuple[list[Processor], list[Processor], list[Processor]]:
    """(shared pre-render chain, structlog chain, stdlib formatter chain)."""
    redactor = Redactor(config.redact)
    shared: list[Processor] = [
        _merge_contextvars_fast(),
        add_logger_name,
        structlog.processors.add_log_level,
        FastTimeStamper(),
        add_request_context,
        redactor,
    ]
    renderer: Processor
    tail: list[Processor]
    if config.json:
        tail = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
        ]
        renderer = JSONLineRenderer()
    else:
        tail = [escape_console_values]
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors,
            exception_formatter=escape_console_traceback(structlog.dev.plain_traceback),
        )
    native = [*shared, *tail, renderer]
    foreign = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer]
    return shared, native, foreign
