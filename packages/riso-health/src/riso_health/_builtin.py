"""Built-in checks: an HTTP dependency and free disk space.

``http_check`` speaks just enough HTTP/1.1 over asyncio streams to read a
status line, so riso-health needs no HTTP client dependency. Neither check
ever puts its URL in an error message (a URL may carry credentials).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import shutil
import ssl
from collections.abc import Container
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from riso import HealthCheck
from riso_health._exceptions import CheckFailedError, CheckRegistrationError
from riso_health._registration import validate_name

_MAX_STATUS_LINE = 8192


def http_check(
    url: str,
    *,
    name: str | None = None,
    critical: bool = True,
    timeout: float = 0.5,
    expected_status: Container[int] = range(200, 400),
    headers: dict[str, str] | None = None,
) -> HealthCheck:
    """A check that GETs ``url`` and passes on an expected status (2xx/3xx by default).

    ``name`` defaults to the URL's host. Credentials in the URL
    (``https://user:pass@host/``) are sent as HTTP Basic auth and never shown.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckRegistrationError(
            "http_check needs an absolute http:// or https:// URL with a host"
        )
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CheckRegistrationError("http_check: the URL has an invalid port") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if ":" not in host else f"[{host}]"
    if parts.port:
        host_header += f":{parts.port}"
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host_header}",
        "User-Agent: riso-health",
        "Accept: */*",
        "Connection: close",
    ]
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append("Authorization: Basic " + base64.b64encode(userinfo.encode()).decode())
    for key, value in (headers or {}).items():
        if any(c in key + value for c in "\r\n"):
            raise CheckRegistrationError("http_check: header names and values cannot hold newlines")
        lines.append(f"{key}: {value}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    use_tls = parts.scheme == "https"

    async def probe(app: Any) -> None:
        context = ssl.create_default_context() if use_tls else None
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if use_tls else None
        )
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if not status_line:
            raise CheckFailedError("the server closed the connection without a response")
        fields = status_line[:_MAX_STATUS_LINE].split(None, 2)
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
            raise CheckFailedError("the server did not answer with an HTTP status line")
        status = int(fields[1])
        if status not in expected_status:
            raise CheckFailedError(f"unexpected HTTP status {status}")

    return HealthCheck(
        name=validate_name(name if name is not None else _default_name(host)),
        func=probe,
        critical=critical,
        timeout=timeout,
    )


def _default_name(host: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "-", host).strip("-.")[:64]
    return cleaned or "http"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def disk_space_check(
    path: str | Path = ".",
    min_free_bytes: int = 100 * 1024 * 1024,
    *,
    name: str = "disk",
    critical: bool = True,
    timeout: float = 0.5,
) -> HealthCheck:
    """A check that fails when the filesystem holding ``path`` has less free space."""
    if min_free_bytes < 0:
        raise CheckRegistrationError("disk_space_check: min_free_bytes cannot be negative")
    where = str(path)

    async def probe(app: Any) -> None:
        # A hung network filesystem blocks statvfs: keep it off the event loop.
        usage = await asyncio.to_thread(shutil.disk_usage, where)
        if usage.free < min_free_bytes:
            raise CheckFailedError(
                f"{_size(usage.free)} free, below the minimum of {_size(min_free_bytes)}"
            )

    return HealthCheck(name=validate_name(name), func=probe, critical=critical, timeout=timeout)
