"""Where rendered log lines go: the stream, buffered and flushed by a small thread.

Lines go to whatever ``sys.stderr`` is at the time of the write (stderr, like
uvicorn, so command output on stdout — ``riso db current`` — stays clean), or
to the stream given to ``set_stream``. ``write`` is the one entry point, for
structlog's wrapped logger, the stdlib root handler and the access line alike.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
import threading
from typing import Any, TextIO

_LOCK = threading.Lock()
#: None: write to whatever ``sys.stderr`` is at the time of the write
_stream_override: TextIO | None = None

#: how long a line may wait in the buffer when the output is a file or a pipe
FLUSH_INTERVAL = 0.2


def current_stream() -> TextIO:
    """The stream lines are written to now."""
    return _stream_override if _stream_override is not None else sys.stderr


def set_stream(stream: TextIO | None) -> None:
    """Write log lines to ``stream`` instead of ``sys.stderr`` (tests, benchmarks)."""
    global _stream_override
    _stream_override = stream


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for a closed or file-less stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Output:
    """Where lines go. To a terminal (or a test stream): written and flushed at once.

    To a file or a pipe, lines are appended to the stream's binary buffer and
    flushed by a small daemon thread every ``FLUSH_INTERVAL`` seconds (and at
    exit), instead of one ``write`` system call per line: with an access line
    per request that syscall was a large share of the logging cost.
    """

    def __init__(self) -> None:
        self.pending = False
        #: flush every line at once: set at shutdown, when no later flush may come
        self.write_through = False
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
            if _stream_override is None and not is_terminal(stream):
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
            # current_stream() and _buffer_of(), inlined for the common case:
            # once per log line, on the request path
            stream = _stream_override if _stream_override is not None else sys.stderr
            buffer = self.buffer if stream is self.stream else self._buffer_of(stream)
            if buffer is None:
                with contextlib.suppress(ValueError, OSError):  # closed or broken sink
                    stream.write(line + "\n")
                    stream.flush()
                return
            try:
                buffer.write((line + "\n").encode("utf-8", "replace"))
                if self.write_through:
                    buffer.flush()
                    return
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


_OUTPUT = _Output()
#: write one line (no newline) to the output
write = _OUTPUT.write


def flush_logs() -> None:
    """Write out buffered log lines now (lifespan shutdown, tests)."""
    _OUTPUT.flush()


def set_write_through(enabled: bool) -> None:
    """Flush each line as it is written (``True``) or batch them again (``False``).

    At shutdown the server still logs its last lines ("Application shutdown
    complete", "Finished server process") and uvicorn then re-raises the
    SIGTERM it caught, which ends the process without ``atexit``: a buffered
    line would be lost.
    """
    with _LOCK:
        _OUTPUT.write_through = enabled
    if enabled:
        _OUTPUT.flush()


class _LineLogger:
    """The structlog "wrapped logger": writes rendered lines to the output stream."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        write(message)

    debug = info = warning = warn = error = critical = fatal = exception = log = msg


_LINE_LOGGERS: dict[str | None, _LineLogger] = {}


def line_logger_factory(*args: Any) -> _LineLogger:
    """structlog's ``logger_factory``: one line logger per name, all writing here."""
    name = args[0] if args and isinstance(args[0], str) else None
    logger = _LINE_LOGGERS.get(name)
    if logger is None:
        logger = _LINE_LOGGERS.setdefault(name, _LineLogger(name))
    return logger
