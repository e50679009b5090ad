"""Escaping of the characters that would split a log line or drive a terminal.

JSON's own escaping covers C0 controls (``\\n``, ESC, ...) but leaves C1
controls (U+0080-U+009F, NEL U+0085 among them) and the Unicode line and
paragraph separators raw: ``str.splitlines()`` splits on them, so a request
path or a header could cut one record in two. The console renderer writes
strings as they are, so an ESC in a logged value would reach the terminal.
"""

from __future__ import annotations

import io
import re
from typing import TextIO

from structlog.typing import EventDict, ExceptionRenderer, ExcInfo, WrappedLogger

#: what JSON leaves raw and ``splitlines()`` (or a terminal) still acts on
_JSON_UNSAFE = re.compile("[\x80-\x9f\u2028\u2029]")
#: what a console line may not carry raw: every control but tab, C1, separators
_CONSOLE_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json_text(text: str) -> str:
    """Encoded JSON ``text`` with C1 controls and U+2028/U+2029 as ``\\uXXXX`` escapes.

    Those characters never occur in JSON outside a string literal, so the
    whole encoded text can be rewritten. ASCII text (the common case) is
    returned at once: ``str.isascii`` reads a flag, it does not scan.
    """
    if text.isascii() or _JSON_UNSAFE.search(text) is None:
        return text
    return _JSON_UNSAFE.sub(_escape_char, text)


def escape_console_text(text: str) -> str:
    """``text`` with controls, C1 and U+2028/U+2029 as visible ``\\uXXXX`` escapes."""
    if _CONSOLE_UNSAFE.search(text) is None:
        return text
    return _CONSOLE_UNSAFE.sub(_escape_char, text)


def escape_console_values(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """The console chain's last step before rendering: escape every string value.

    (Containers are rendered with ``repr``, which escapes these characters already.)
    """
    for key, value in event_dict.items():
        if isinstance(value, str) and key != "exception":
            event_dict[key] = escape_console_text(value)
    return event_dict


def escape_console_traceback(formatter: ExceptionRenderer) -> ExceptionRenderer:
    """``formatter`` (a structlog exception formatter) with controls escaped, lines kept."""

    def format_exception(sio: TextIO, exc_info: ExcInfo) -> None:
        buffer = io.StringIO()
        formatter(buffer, exc_info)
        sio.write("\n".join(escape_console_text(line) for line in buffer.getvalue().split("\n")))

    return format_exception
