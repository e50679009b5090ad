"""riso-obs overhead: GET of a trivial endpoint under four server variants.

Variants (same uvicorn options, one worker, pinned to CPU 0 with taskset; the
load generator, wrk, pinned to CPU 1; loopback only):

* ``bare``       FastAPI alone, no access log
* ``obs``        riso-obs with its defaults: JSON access line per request to a
                 file, metrics on, tracing off (no exporter configured)
* ``obs_trace``  the same with tracing at 100 % (parent-based always-on) to an
                 exporter that drops the spans (batch span processor)
* ``stack``      the hand-assembled stack with the same settings:
                 asgi-correlation-id + prometheus-fastapi-instrumentator +
                 opentelemetry-instrumentation-fastapi (100 % to the dropping
                 exporter) + structlog (uvicorn access log rendered as JSON to a file)

Two measurements, both against ``bare`` measured in the same run. The host
is shared and its speed drifts by 20 % within minutes, so all servers start
once and stay up.

1. **Sequential** (the issue's method): every round measures each server
   alone for two seconds with 32 connections, back to back (the order
   rotates between rounds). Prints median req/s and p99, and the median of
   each round's ratio to that round's bare server, with the range. It also
   reads the server's CPU time from ``/proc`` (CPU microseconds per request)
   and counts its garbage collections (a ``gc`` callback in the benchmark
   app, read through ``/bench/gc``): tracing keeps finished spans queued for
   export, and the collections that causes are most of tracing's p99.

2. **Paired on one core**: ``bare`` and one variant run at the same time,
   both on CPU 0, each loaded by its own wrk (16 connections) on CPU 1. The
   kernel shares the core between them, so a drift in host speed hits both
   alike; the ratio of their CPU time per request (variant / bare) is the
   cost ratio, and 1 / cost ratio the throughput ratio it implies. Its spread
   over repetitions is a few percent where the sequential ratios spread by
   tens of percent. Also measures ``sdk_span``, the floor the OpenTelemetry
   SDK sets: riso-obs with tracing off, plus the smallest server span the SDK
   can make (no attributes, not made current, batch-exported to the same
   dropping exporter).

Total time is bounded (about 4 minutes with the defaults).

    .tools/bin/uv run --no-sync python bench/obs_overhead.py [--duration 2] [--rounds 12]

Diagnostics: ``--only bare obs obs_nolog obs_nometrics obs_bare`` switches
riso-obs parts off one at a time; ``--paired`` chooses the variants of part 2
(``--paired`` alone skips it).

prometheus-fastapi-instrumentator pins ``starlette<1``, so it cannot be in the
workspace lock; when it is not importable the script installs it (no deps)
into a private folder under the temp dir with ``uv pip install --target``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any, NamedTuple

from benchkit import (
    SERVER_CPU,
    argument_parser,
    cpu_seconds,
    has_wrk,
    interleaved,
    median_ratio,
    pinned,
    ratios,
    run_wrk,
    run_wrk_together,
    uvicorn_argv,
)

from riso.testing import ServerProcess, clean_environ

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
VARIANTS = ("bare", "obs", "obs_trace", "stack")
#: diagnostics, only with --only: riso-obs with one part switched off
EXTRA_VARIANTS = {
    "obs_nolog": {"RISO_OBS_ACCESS_LOG": "false"},
    "obs_nometrics": {"RISO_OBS_METRICS": "false"},
    "obs_bare": {"RISO_OBS_ACCESS_LOG": "false", "RISO_OBS_METRICS": "false"},
    "sdk_span": {},
}

APP = textwrap.dedent(
    """
    import os
    from fastapi import FastAPI

    VARIANT = os.environ["BENCH_VARIANT"]


    def drop_exporter():
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans):
                return SpanExportResult.SUCCESS

            def shutdown(self):
                pass

        return Drop()


    app = FastAPI()


    @app.get("/ping")
    async def ping():
        return {"ok": True}


    # garbage collections during the measured window (all variants alike)
    import gc
    from time import perf_counter

    GC = {"collections": [0, 0, 0], "seconds": 0.0}
    _started = [0.0]


    def _on_gc(phase, info):
        if phase == "start":
            _started[0] = perf_counter()
        else:
            GC["seconds"] += perf_counter() - _started[0]
            GC["collections"][info["generation"]] += 1


    gc.callbacks.append(_on_gc)


    @app.get("/bench/gc")
    async def gc_stats():
        snapshot = {"collections": list(GC["collections"]), "seconds": GC["seconds"]}
        GC.update(collections=[0, 0, 0], seconds=0.0)
        return snapshot


    if VARIANT in ("obs", "obs_trace"):
        import riso
        import riso_obs

        if VARIANT == "obs_trace":
            riso_obs.configure_tracing(drop_exporter())
        riso.include(app, features=[riso_obs.feature])

    elif VARIANT == "sdk_span":
        import riso
        import riso_obs
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(drop_exporter()))
        tracer = provider.get_tracer("bench")
        riso.include(app, features=[riso_obs.feature])

        class SmallestSpan:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] != "http":
                    return await self.app(scope, receive, send)
                span = tracer.start_span("GET", kind=SpanKind.SERVER)
                try:
                    await self.app(scope, receive, send)
                finally:
                    span.end()

        app.middleware_stack = SmallestSpan(app.build_middleware_stack())

    elif VARIANT == "stack":
        import logging
        import sys

        import structlog
        from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
        from opentelemetry import trace
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from prometheus_fastapi_instrumentator import Instrumentator

        def add_ids(logger, name, event_dict):
            event_dict["request_id"] = correlation_id.get()
            ctx = trace.get_current_span().get_span_context()
            if ctx.is_valid:
                event_dict["trace_id"] = format(ctx.trace_id, "032x")
                event_dict["span_id"] = format(ctx.span_id, "016x")
            return event_dict

        shared = [
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_ids,
        ]
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers = []
            logging.getLogger(name).propagate = True

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(drop_exporter()))
        trace.set_tracer_provider(provider)
        app.add_middleware(CorrelationIdMiddleware)
        Instrumentator().instrument(app).expose(app)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    """
)


def ensure_instrumentator(cache: Path) -> str | None:
    """A PYTHONPATH entry providing prometheus_fastapi_instrumentator, if needed."""
    try:
        import prometheus_fastapi_instrumentator  # noqa: F401

        return None
    except ImportError:
        pass
    target = cache / "pfi"
    if not (target / "prometheus_fastapi_instrumentator").is_dir():
        subprocess.run(
            [
                str(UV),
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                "--python",
                sys.executable,
                "prometheus-fastapi-instrumentator>=7,<8",
            ],
            check=True,
        )
    return str(target)


class Measurement(NamedTuple):
    rps: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    gc_full: int  # full (generation 2) collections in the server
    gc_share: float  # share of the measured time the server spent collecting


def gc_snapshot(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/gc", timeout=5) as resp:
        return json.load(resp)  # type: ignore[no-any-return]


@contextlib.contextmanager
def start_server(
    variant: str, workdir: Path, extra_path: str | None, connections: int
) -> Iterator[ServerProcess]:
    """One uvicorn server for ``variant`` on CPU 0, warmed up."""
    paths = [str(workdir)] + ([extra_path] if extra_path else [])
    env = clean_environ(
        os.environ,
        BENCH_VARIANT=variant if variant in (*VARIANTS, "sdk_span") else "obs",
        RISO_OBS_LOG_FORMAT="json",
        **EXTRA_VARIANTS.get(variant, {}),
    )
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    access_log = variant not in ("bare", "obs_nolog", "obs_bare")
    argv = uvicorn_argv("bench_app:app", log_level="info", access_log=access_log)
    server = ServerProcess(
        pinned(argv, SERVER_CPU),
        env=env,
        cwd=workdir,
        ready_path="/ping",
        timeout=20,
        log_path=workdir / f"{variant}.log",
    )
    with server:
        run_wrk(ping_url(server), connections=connections, duration=2)  # warm-up
        yield server


def ping_url(server: ServerProcess) -> str:
    return f"{server.base_url}/ping"


def measure(server: ServerProcess, connections: int, duration: int) -> Measurement:
    gc_snapshot(server.port)
    cpu_before = cpu_seconds(server.proc.pid)
    started = time.monotonic()
    result = run_wrk(ping_url(server), connections=connections, duration=duration)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    collected = gc_snapshot(server.port)
    return Measurement(
        result.rps,
        result.percentile_ms(99),
        cpu / max(result.requests, 1) * 1e6,
        collected["collections"][2],
        collected["seconds"] / elapsed,
    )


def paired_cost_ratio(bare: ServerProcess, other: ServerProcess, duration: int) -> float:
    """CPU per request of ``other`` / ``bare``, both loaded at the same time on one core."""
    servers = (bare, other)
    before = [cpu_seconds(server.proc.pid) for server in servers]
    results = run_wrk_together(
        [ping_url(server) for server in servers], connections=16, duration=duration
    )
    after = [cpu_seconds(server.proc.pid) for server in servers]
    bare_us, other_us = (
        (end - start) / max(result.requests, 1)
        for start, end, result in zip(before, after, results, strict=True)
    )
    return other_us / bare_us


def summarize(variants: list[str], rounds: list[dict[str, Measurement]]) -> None:
    print(
        f"\n{'variant':10s} {'req/s':>8s} {'p99 ms':>7s} {'vs bare':>8s} {'(range)':>13s}"
        f" {'CPU us/req':>10s} {'CPU vs bare':>11s} {'full GCs':>8s} {'GC time':>7s}"
    )
    for variant in variants:
        runs = [r[variant] for r in rounds]
        rps, p99 = median(m.rps for m in runs), median(m.p99_ms for m in runs)
        line = f"{variant:10s} {rps:8.0f} {p99:7.2f}"
        if "bare" in variants:
            bare = [r["bare"] for r in rounds]
            rps_ratios = ratios([m.rps for m in runs], [m.rps for m in bare])
            cpu_ratios = ratios([m.cpu_us for m in bare], [m.cpu_us for m in runs])
            spread = f"({min(rps_ratios):.2f}-{max(rps_ratios):.2f})"
            line += f" {median(rps_ratios):7.2f}x {spread:>13s}"
        else:
            cpu_ratios = []
            line += f" {'-':>8s} {'':13s}"
        line += f" {median(m.cpu_us for m in runs):10.1f}"
        line += f" {median(cpu_ratios):10.2f}x" if cpu_ratios else f" {'-':>11s}"
        line += f" {median(m.gc_full for m in runs):8.0f} {median(m.gc_share for m in runs):6.1%}"
        print(line)
    if "obs_trace" in variants and "stack" in variants:
        ratio = median_ratio([r["obs_trace"].rps for r in rounds], [r["stack"].rps for r in rounds])
        print(f"\nobs_trace / stack: {ratio:.2f}x req/s (median of per-round ratios)")
    print(
        "\nColumns are medians over the rounds; 'vs bare' is the median of each round's"
        "\nratio to that round's bare server, with the range over rounds. 'CPU vs bare'"
        "\n(server CPU time per request, bare / variant) is the same ratio measured"
        "\nindependently of other load. 'full GCs' counts the server's generation-2"
        "\ncollections during one measurement; 'GC time' is the share of it spent collecting."
    )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--duration", type=int, default=2, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only", nargs="*", choices=[*VARIANTS, *EXTRA_VARIANTS], default=list(VARIANTS)
    )
    parser.add_argument(
        "--paired",
        nargs="*",
        choices=[v for v in (*VARIANTS, *EXTRA_VARIANTS) if v != "bare"],
        default=["obs", "obs_trace", "sdk_span"],
    )
    parser.add_argument("--paired-reps", type=int, default=5)
    args = parser.parse_args()
    if not has_wrk() or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs two CPUs: server on CPU 0, wrk on CPU 1")

    variants: list[str] = list(args.only)
    rounds: list[dict[str, Measurement]] = []
    with tempfile.TemporaryDirectory(prefix="riso-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(APP)
        cache = Path(tempfile.gettempdir()) / "riso-bench-deps"
        needs_stack = "stack" in variants or "stack" in (args.paired or ())
        extra = ensure_instrumentator(cache) if needs_stack else None
        # All servers run for the whole benchmark (idle ones cost nothing), so
        # the measurements of one round are seconds apart, not minutes.
        servers = {
            v: stack.enter_context(start_server(v, workdir, extra, args.connections))
            for v in variants
        }
        for round_no, order in enumerate(interleaved(variants, args.rounds)):
            measured: dict[str, Measurement] = {}
            for variant in order:
                m = measure(servers[variant], args.connections, args.duration)
                measured[variant] = m
                print(
                    f"round {round_no + 1:2d} {variant:10s} {m.rps:7.0f} req/s"
                    f"  p99 {m.p99_ms:6.2f} ms  server CPU {m.cpu_us:6.1f} us/req"
                    f"  full GCs {m.gc_full:2d}  GC time {m.gc_share:5.1%}",
                    flush=True,
                )
            rounds.append(measured)
        paired: dict[str, list[float]] = {}
        if args.paired and args.paired_reps > 0:
            if "bare" not in servers:
                servers["bare"] = stack.enter_context(
                    start_server("bare", workdir, extra, args.connections)
                )
            print("\npaired on one core (cost = CPU per request, variant / bare):")
            for variant in args.paired:
                if variant not in servers:
                    servers[variant] = stack.enter_context(
                        start_server(variant, workdir, extra, args.connections)
                    )
                paired[variant] = []
                for _ in range(args.paired_reps):
                    ratio = paired_cost_ratio(servers["bare"], servers[variant], 3)
                    paired[variant].append(ratio)
                    print(f"  {variant:10s} cost {ratio:.3f}", flush=True)
        stack.close()
        lines = sum(1 for _ in (workdir / "obs.log").open()) if "obs" in variants else 0
        print(f"\n(obs wrote {lines} lines to its log file)")
    summarize(variants, rounds)
    if paired:
        print(
            f"\n{'paired':10s} {'cost vs bare':>12s} {'(range)':>13s} {'throughput vs bare':>18s}"
        )
        for variant, ratios in paired.items():
            spread = f"({min(ratios):.3f}-{max(ratios):.3f})"
            print(
                f"{variant:10s} {median(ratios):11.3f}x {spread:>13s} {1 / median(ratios):17.2f}x"
            )


if __name__ == "__main__":
    main()
