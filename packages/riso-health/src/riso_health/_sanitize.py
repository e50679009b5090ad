"""Turn whatever a failing check raised into a short message safe to publish.

Only ``str(exc)`` is used (never ``repr`` or a traceback), reduced to its first
line, with credentials removed from URLs, ``key=value`` secrets masked and the
result truncated.
"""

from __future__ import annotations

import re

MAX_LENGTH = 200
_MASK = "***"

# scheme://user:password@host -> scheme://***@host (any userinfo is dropped)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^\s/@]*@")
# password=..., token: ..., api_key='...' and the like (libpq DSNs, query strings)
_SECRET_PAIR = re.compile(
    r"(?P<key>\b[\w\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key"
    r"|private[_\-]?key|credential|credentials|auth|authorization|session|cookie)[\w\-]*"
    r"['\"]?)(?P<sep>\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,}]+)",
    re.IGNORECASE,
)
# Authorization schemes written without a key (Bearer xyz, Basic xyz)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}", re.I)


def sanitize_text(text: str) -> str:
    """The first line of ``text`` without secrets, at most ``MAX_LENGTH`` characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _URL_USERINFO.sub(lambda m: m.group("scheme") + _MASK + "@", first)
    first = _AUTH_SCHEME.sub(lambda m: m.group("scheme") + " " + _MASK, first)
    first = _SECRET_PAIR.sub(lambda m: m.group("key") + m.group("sep") + _MASK, first)
    if len(first) > MAX_LENGTH:
        first = first[: MAX_LENGTH - 3].rstrip() + "..."
    return first


def describe(exc: BaseException) -> str:
    """A safe one-line description of ``exc``: its type name and cleaned message."""
    kind = type(exc).__name__
    message = sanitize_text(str(exc))
    return f"{kind}: {message}" if message else kind
