"""Logging configuration: one pipeline for structlog and stdlib loggers, installed and undone.

``configure_logging`` runs from the feature's ``on_include`` hook, once per
process (calling it again with the same settings is a no-op; with different
settings it replaces, never adds to, what it installed). structlog loggers
render natively (fast path, used by the access line); stdlib records, uvicorn's
included, go through one root handler running the same processors, so every
line has the same shape and is written exactly once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import structlog

from riso_obs._log_output import current_stream, is_terminal, line_logger_factory, set_stream, write
from riso_obs._log_processors import build_processors
from riso_obs._settings import ObsSettings


class RisoHandler(logging.Handler):
    """The one root handler riso-obs installs; routes stdlib records to the same output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        write(line)


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
_CONFIG_LOCK = threading.RLock()

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
    target = stream if stream is not None else current_stream()
    isatty: Callable[[], bool] | None = getattr(target, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # closed stream
        return True


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
        colors = not config.json and is_terminal(current_stream())
        shared, native, foreign = build_processors(config, colors=colors)
        structlog.configure(
            processors=native,
            wrapper_class=structlog.make_filtering_bound_logger(config.level),
            logger_factory=line_logger_factory,
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
    """What ``configure_logging`` installed, None before it ran (or after a reset)."""
    return _current


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
