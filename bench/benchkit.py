"""What every benchmark script shares: statistics, rounds, wrk, a load client, /proc, servers.

The scripts run as ``python bench/<script>.py``, so this sibling module is
imported as ``benchkit``. One definition of each figure keeps the scripts'
figures comparable:

* percentiles: linear interpolation between the two closest ranks (numpy's
  default, Hyndman & Fan type 7, ``statistics.quantiles(method="inclusive")``);
  wrk's own percentiles (from its histogram) are wrk's;
* paired rounds: each round measures every variant, in an order that rotates
  between rounds, and a ratio is the median of the per-round ratios;
* CPU time and memory of a server: from ``/proc/<pid>``.

Servers, free ports, clean environments and fresh databases come from the
public ``riso.testing`` API; this module adds what benchmarks want on top:
pinning a process to a CPU and the uvicorn command line.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")

#: the server runs on this CPU, the load generator on the other one
SERVER_CPU = 0
LOAD_CPU = 1
HOST = "127.0.0.1"

# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` (0-100) percentile of ``values``, by linear interpolation.

    Between the two closest ranks, as numpy's default and
    ``statistics.quantiles(..., method="inclusive")``: the 0th is the
    minimum, the 100th the maximum. NaN for no values.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles_ms(seconds: Sequence[float], pcts: Sequence[float]) -> tuple[float, ...]:
    """The percentiles of durations in seconds, in milliseconds."""
    return tuple(percentile(seconds, pct) * 1000 for pct in pcts)


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the per-round ratios ``numerators[i] / denominators[i]``."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """The per-round ratios, for their range."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def interleaved(variants: Sequence[T], rounds: int) -> Iterator[list[T]]:
    """Each round's order of the variants: rotated by one each round.

    The host is shared and its speed drifts, so every round measures every
    variant back to back and a different one goes first each time (with two
    variants: alternately). Divide each figure by its own round's baseline,
    then take the median (``median_ratio``).
    """
    for round_no in range(rounds):
        shift = round_no % len(variants)
        yield [*variants[shift:], *variants[:shift]]


# --------------------------------------------------------------------------- scripts, processes


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's command line; ``--help`` prints the script's docstring as it is."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def pinned(argv: Sequence[str], cpu: int) -> list[str]:
    """``argv`` run on CPU ``cpu`` with taskset, when there is taskset and a second CPU.

    taskset execs the command, so the process id is the command's own.
    """
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


def pin_this_process(cpu: int = LOAD_CPU) -> None:
    """Run the rest of this process (the load generator) on CPU ``cpu``."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def uvicorn_argv(target: str, *, log_level: str = "warning", access_log: bool = False) -> list[str]:
    """uvicorn serving ``target`` ("module:app") on ServerProcess's ``{host}`` and ``{port}``.

    One worker, uvloop and httptools (named, not left to uvicorn's "auto").
    """
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "{host}", "--port", "{port}"]
    argv += ["--log-level", log_level, "--loop", "uvloop", "--http", "httptools"]
    if not access_log:
        argv.append("--no-access-log")
    return argv


def listening(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- /proc


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> float:
    """Resident memory of a process now (VmRSS), in MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process so far (VmHWM), in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int, cmdline_contains: bytes = b"") -> list[int]:
    """The child processes of ``pid`` whose command line contains ``cmdline_contains``."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return [p for p in found if cmdline_contains in Path(f"/proc/{p}/cmdline").read_bytes()]


# --------------------------------------------------------------------------- results


class Throughput(Protocol):
    """What a load run reports, whether wrk or the asyncio client measured it."""

    @property
    def rps(self) -> float: ...

    @property
    def errors(self) -> int: ...

    def percentile_ms(self, pct: float) -> float: ...


@dataclass
class LoadResult:
    """Every answer's latency (seconds) of one asyncio load run."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    #: answers whose status was not the expected one
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000


@dataclass(frozen=True)
class WrkResult:
    """What wrk --latency printed: totals and its own percentiles (50, 75, 90, 99)."""

    requests: int
    seconds: float
    rps: float
    latency_ms: Mapping[float, float]
    #: answers with a status other than 2xx or 3xx
    errors: int
    #: connect, read and write errors and timeouts
    socket_errors: int

    def percentile_ms(self, pct: float) -> float:
        return self.latency_ms[pct]


# --------------------------------------------------------------------------- wrk

_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert match, text
    return float(match.group(1)) * _WRK_UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """The figures of wrk's output (run with --latency)."""
    totals = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert totals, output
    assert rps, output
    # wrk pads some values with a trailing space ("1.02s ")
    percentiles = re.findall(r"^\s+([\d.]+)%\s+(\S+)[ \t]*$", output, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_line = re.search(r"Socket errors: ([^\n]+)", output)
    socket_errors = (
        sum(int(n) for n in re.findall(r"\d+", socket_line.group(1))) if socket_line else 0
    )
    return WrkResult(
        requests=int(totals.group(1)),
        seconds=_wrk_ms(totals.group(2) + totals.group(3)) / 1000,
        rps=float(rps.group(1)),
        latency_ms={float(pct): _wrk_ms(value) for pct, value in percentiles},
        errors=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def _wrk_argv(
    url: str,
    connections: int,
    duration: float,
    headers: Mapping[str, str] | None,
    cpu: int,
    script: str | Path | None = None,
    script_args: Sequence[str] = (),
) -> list[str]:
    """One wrk thread on CPU ``cpu``, ``connections`` keep-alive connections, --latency.

    ``script`` is a wrk Lua script (``-s``); ``script_args`` reach its ``init(args)``.
    """
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    return pinned(argv, cpu)


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: Mapping[str, str] | None = None,
    cpu: int = LOAD_CPU,
    script: str | Path | None = None,
    script_args: Sequence[str] = (),
) -> WrkResult:
    """Load ``url`` with wrk (one thread, pinned to ``cpu``) and return its figures.

    ``duration`` is in whole seconds: wrk reads no fractions. With ``script``
    (a Lua file whose ``request()`` builds each request) wrk runs it, handing
    ``script_args`` to its ``init(args)``.
    """
    argv = _wrk_argv(url, connections, duration, headers, cpu, script, script_args)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result = parse_wrk(done.stdout)
    if result.requests and 99.0 not in result.latency_ms:
        raise RuntimeError(f"wrk printed no latency distribution:\n{done.stdout}{done.stderr}")
    return result


def run_wrk_together(
    urls: Sequence[str], *, connections: int, duration: float, cpu: int = LOAD_CPU
) -> list[WrkResult]:
    """One wrk per URL, all at the same time; their figures in the same order."""
    loads = [
        subprocess.Popen(
            _wrk_argv(url, connections, duration, None, cpu), stdout=subprocess.PIPE, text=True
        )
        for url in urls
    ]
    return [parse_wrk(load.communicate()[0]) for load in loads]


# --------------------------------------------------------------------------- asyncio client


def http_request(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: str = "",
    content_type: str | None = None,
    close: bool = False,
) -> bytes:
    """One HTTP/1.1 request, as bytes to write as they are."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body.encode())}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header of a bearer token (none without a token)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one response with a Content-Length (or none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return int(head[9:12]), body


async def request_once(port: int, request: bytes, host: str = HOST) -> tuple[int, bytes]:
    """Send one request on a new connection: (status, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return await read_response(reader)
    finally:
        writer.close()


async def keepalive_client(
    port: int, request: bytes, stop: float, out: LoadResult, expect: int = 200
) -> None:
    """Send ``request`` on one connection, one at a time, until ``perf_counter() >= stop``."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            status, _ = await read_response(reader)
            out.latencies.append(time.perf_counter() - started)
            if status != expect:
                out.errors += 1
    finally:
        writer.close()


async def run_load(port: int, request: bytes, seconds: float, connections: int) -> LoadResult:
    """A short warm-up (a quarter, at most 1 s), then ``seconds`` of ``connections`` clients."""
    warm = LoadResult(0.0)
    stop = time.perf_counter() + min(1.0, seconds / 4)
    await asyncio.gather(*(keepalive_client(port, request, stop, warm) for _ in range(connections)))
    result = LoadResult(seconds)
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        *(keepalive_client(port, request, stop, result) for _ in range(connections))
    )
    return result
