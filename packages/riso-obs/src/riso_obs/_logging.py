"""structlog configuration: one pipeline for structlog and stdlib loggers.

``configure_logging`` runs from the feature's ``on_include`` hook, once per
process (calling it again with the same settings is a no-op; with different
settings it replaces, never adds to, what it installed). structlog loggers
render natively (fast path, used by the access line); stdlib records, uvicorn's
included, go through one root handler running the same processors, so every
line has the same shape and is written exactly once.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from riso import request_id_var
from riso_obs import _tracing
from riso_obs._settings import ObsSettings

REDACTED = "[REDACTED]"

_LOCK = threading.Lock()
#: None: write to whatever ``sys.stderr`` is at the time of the write (stderr, like
#: uvicorn, so command output on stdout — ``riso db current`` — stays clean)
_stream_override: TextIO | None = None


def _stream() -> TextIO:
    return _stream_override if _stream_override is not None else sys.stderr


#: how long a line may wait in the buffer when the output is a file or a pipe
FLUSH_INTERVAL = 0.2


class _Output:
    """Where lines go. To a terminal (or a test stream): written and flushed at once.

    To a file or a pipe, lines are appended to the stream's binary buffer and
    flushed by a small daemon thread every ``FLUSH_INTERVAL`` seconds (and at
    exit), instead of one ``write`` system call per line: with an access line
    per request that syscall was a large share of the logging cost.
    """

    def __init__(self) -> None:
        self.pending = False
        self.flusher_running = False
        self.hooks_installed = False
        self.wake = threading.Event()
        self.stream: TextIO | None = None
        self.buffer: io.BufferedWriter | None = None

    def _buffer_of(self, stream: TextIO) -> io.BufferedWriter | None:
        """Our own buffer on the stream's file descriptor, or None to write through.

        (``sys.stderr.buffer`` passes every write straight to the descriptor.)
        Cached per stream object; flushed before a fork so a child never
        repeats the parent's lines.
        """
        if stream is not self.stream:
            if self.buffer is not None:
                with contextlib.suppress(ValueError, OSError):
                    self.buffer.flush()
            self.stream = stream
            self.buffer = None
            if _stream_override is None and not _isatty_stream(stream):
                try:
                    fd = stream.fileno()
                except (AttributeError, ValueError, OSError):
                    fd = -1
                if fd >= 0:
                    stream.flush()
                    raw = io.FileIO(fd, "w", closefd=False)
                    self.buffer = io.BufferedWriter(raw, buffer_size=1 << 16)
        return self.buffer

    def write(self, line: str) -> None:
        with _LOCK:
            stream = _stream()
            buffer = self._buffer_of(stream)
            if buffer is None:
                with contextlib.suppress(ValueError, OSError):  # closed or broken sink
                    stream.write(line + "\n")
                    stream.flush()
                return
            try:
                buffer.write((line + "\n").encode("utf-8", "replace"))
            except (ValueError, OSError):  # closed at interpreter exit, broken pipe
                return
            self.pending = True
        if not self.flusher_running:
            self._start_flusher()

    def flush(self) -> None:
        with _LOCK:
            if not self.pending:
                return
            self.pending = False
            if self.buffer is not None:
                with contextlib.suppress(ValueError, OSError):
                    self.buffer.flush()

    def _start_flusher(self) -> None:
        with _LOCK:
            if self.flusher_running:
                return
            if not self.hooks_installed:
                atexit.register(self.flush)
                os.register_at_fork(before=self.flush, after_in_child=self._forked)
                self.hooks_installed = True
            self.flusher_running = True
        thread = threading.Thread(target=self._run, name="riso-obs-log-flush", daemon=True)
        thread.start()

    def _forked(self) -> None:
        self.flusher_running = False  # threads do not survive a fork: start a new one

    def _run(self) -> None:
        while not self.wake.wait(FLUSH_INTERVAL):
            self.flush()


def _isatty_stream(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_OUTPUT = _Output()
_write = _OUTPUT.write


def flush_logs() -> None:
    """Write out buffered log lines now (lifespan shutdown, tests)."""
    _OUTPUT.flush()


class _LineLogger:
    """The structlog "wrapped logger": writes rendered lines to the output stream."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _write(message)

    debug = info = warning = warn = error = critical = fatal = exception = log = msg


_LINE_LOGGERS: dict[str | None, _LineLogger] = {}


def _line_logger_factory(*args: Any) -> _LineLogger:
    name = args[0] if args and isinstance(args[0], str) else None
    logger = _LINE_LOGGERS.get(name)
    if logger is None:
        logger = _LINE_LOGGERS.setdefault(name, _LineLogger(name))
    return logger


def add_logger_name(logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """``logger``: the name given to ``structlog.get_logger(name)`` or the stdlib record's."""
    if "logger" not in event_dict:
        record = event_dict.get("_record")
        name = record.name if record is not None else getattr(logger, "name", None)
        if name is not None:
            event_dict["logger"] = name
    return event_dict


class RisoHandler(logging.Handler):
    """The one root handler riso-obs installs; routes stdlib records to the same output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        _write(line)


# -- processors ---------------------------------------------------------------


def _merge_contextvars_fast() -> Processor:
    """structlog's ``merge_contextvars`` without copying the whole context each time."""
    from structlog import contextvars as sc

    registry: dict[str, Any] | None = getattr(sc, "_CONTEXT_VARS", None)
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
    """One compact JSON object per line, with a pre-built encoder (no per-call setup)."""

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(
            default=_json_fallback, separators=(",", ":"), ensure_ascii=False
        ).encode

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> str:
        return self._encode(event_dict)


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


# -- configuration ------------------------------------------------------------


@dataclass(frozen=True)
class LogConfig:
    """What configure_logging installed, to make a second call a no-op."""

    json: bool
    level: int
    redact: tuple[str, ...]
    access_log: bool


_current: LogConfig | None = None
_saved_loggers: dict[str, tuple[list[logging.Handler], bool, bool]] = {}
_saved_root_level: int | None = None

#: the server loggers routed into the pipeline (their own handlers removed)
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "gunicorn", "gunicorn.error")
#: server access loggers: disabled while riso-obs writes its own access line
ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")


def wants_json(settings: ObsSettings, production: bool, stream: TextIO | None = None) -> bool:
    """JSON unless the log stream is a terminal outside production; ``RISO_OBS_LOG_FORMAT`` wins."""
    if settings.log_format != "auto":
        return settings.log_format == "json"
    if production:
        return True
    target = stream if stream is not None else _stream()
    isatty: Callable[[], bool] | None = getattr(target, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # closed stream
        return True


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
        tail = []
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    native = [*shared, *tail, renderer]
    foreign = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer]
    return shared, native, foreign


def configure_logging(settings: ObsSettings, *, production: bool) -> LogConfig:
    """Install the pipeline (idempotent). Returns what is now in force."""
    global _current, _saved_root_level
    config = LogConfig(
        json=wants_json(settings, production),
        level=settings.level_number,
        redact=settings.redact_keys,
        access_log=settings.access_log,
    )
    with _CONFIG_LOCK:
        if config == _current and _our_handler() is not None:
            route_server_loggers(config.access_log)
            return config
        colors = not config.json and _isatty()
        shared, native, foreign = build_processors(config, colors=colors)
        structlog.configure(
            processors=native,
            wrapper_class=structlog.make_filtering_bound_logger(config.level),
            logger_factory=_line_logger_factory,
            context_class=dict,
            cache_logger_on_first_use=True,
        )
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=foreign,
        )
        root = logging.getLogger()
        if _saved_root_level is None:
            _saved_root_level = root.level
        old = _our_handler()
        if old is not None:
            root.removeHandler(old)
        for handler in list(root.handlers):
            # logging.basicConfig() handlers would print every line a second time
            if type(handler) is logging.StreamHandler and handler.stream in (
                sys.stdout,
                sys.stderr,
            ):
                root.removeHandler(handler)
        handler = RisoHandler()
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(config.level)
        route_server_loggers(config.access_log)
        _current = config
        return config


_CONFIG_LOCK = threading.RLock()


def _isatty() -> bool:
    try:
        return _stream().isatty()
    except (AttributeError, ValueError):
        return False


def _our_handler() -> RisoHandler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RisoHandler):
            return handler
    return None


def route_server_loggers(access_log: bool) -> None:
    """Send uvicorn/gunicorn records through the root handler, exactly once.

    Their own handlers are removed and propagation turned on; their access
    loggers are disabled while riso-obs writes its own access line. Safe to
    call again (a server that re-applies its logging config after the app was
    imported is fixed at startup).
    """
    for name in (*SERVER_LOGGERS, *ACCESS_LOGGERS):
        logger = logging.getLogger(name)
        if name not in _saved_loggers:
            _saved_loggers[name] = (list(logger.handlers), logger.propagate, logger.disabled)
        if (
            name in ACCESS_LOGGERS
            and not access_log
            and not logger.propagate
            and not logger.handlers
        ):
            continue  # the server's own access log is off (uvicorn --no-access-log)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        silenced = access_log and name in ACCESS_LOGGERS
        # silenced: no handler anywhere up the chain, so uvicorn (which asks
        # hasHandlers()) does not even format its access message
        logger.propagate = not silenced
        logger.disabled = silenced


def current_config() -> LogConfig | None:
    return _current


_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def encode_json_string(value: str) -> str:
    """``value`` as a JSON string literal (quotes included), as the JSON renderer writes it."""
    return _encode_string(value)


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
        from structlog import contextvars as sc

        self._bound: dict[str, Any] = getattr(sc, "_CONTEXT_VARS", {"unknown": None})

    def usable(self) -> bool:
        """False when structlog context variables are bound (they belong on the line)."""
        bound = self._bound
        if not bound:
            return True
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
        client_part = f',"client":{_encode_string(client)}' if client is not None else ""
        trace_part = f',"trace_id":"{trace_id}","span_id":"{span_id}"' if trace_id else ""
        _write(
            f'{{"method":"{method}","path":{_encode_string(path)},"route":{route_json},'
            f'"status":{status},"duration_ms":{duration_ms!r},"request_id":"{request_id}"'
            f'{client_part}{trace_part},"event":"request","logger":"riso.access",'
            f'"level":"info","timestamp":"{self._stamp.now()}"}}'
        )


def access_line() -> AccessLine | None:
    """The fast access-line writer, when the configuration allows it."""
    config = _current
    if config is None or not config.json or config.level > logging.INFO:
        return None
    return AccessLine()


def set_stream(stream: TextIO | None) -> None:
    """Write log lines to ``stream`` instead of ``sys.stderr`` (tests, benchmarks)."""
    global _stream_override
    _stream_override = stream


def reset_logging() -> None:
    """Undo configure_logging: structlog defaults, root handler and server loggers restored."""
    global _current, _saved_root_level
    with _CONFIG_LOCK:
        structlog.reset_defaults()
        root = logging.getLogger()
        handler = _our_handler()
        if handler is not None:
            root.removeHandler(handler)
        if _saved_root_level is not None:
            root.setLevel(_saved_root_level)
            _saved_root_level = None
        for name, (handlers, propagate, disabled) in _saved_loggers.items():
            logger = logging.getLogger(name)
            for h in list(logger.handlers):
                logger.removeHandler(h)
            for h in handlers:
                logger.addHandler(h)
            logger.propagate = propagate
            logger.disabled = disabled
        _saved_loggers.clear()
        _current = None
        set_stream(None)
