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

Prints req/s and p99 for each, and ratios to ``bare`` measured in the same run.
Runs ``--rounds`` rounds (variants interleaved) and keeps each variant's best
round. It also reads the server process's CPU time (``/proc``) around each
measurement: CPU microseconds per request give the same ratio even when other
processes share the machine (the server is single-threaded and CPU-bound, so
req/s on a quiet core is 1 / CPU per request). Total time is bounded (about
100 s with the defaults).

    .tools/bin/uv run --no-sync python bench/obs_overhead.py [--duration 4] [--rounds 3]

Diagnostics: ``--only bare obs obs_nolog obs_nometrics obs_bare`` switches
riso-obs parts off one at a time.

prometheus-fastapi-instrumentator pins ``starlette<1``, so it cannot be in the
workspace lock; when it is not importable the script installs it (no deps)
into a private folder under the temp dir with ``uv pip install --target``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
VARIANTS = ("bare", "obs", "obs_trace", "stack")
#: diagnostics, only with --only: riso-obs with one part switched off
EXTRA_VARIANTS = {
    "obs_nolog": {"RISO_OBS_ACCESS_LOG": "false"},
    "obs_nometrics": {"RISO_OBS_METRICS": "false"},
    "obs_bare": {"RISO_OBS_ACCESS_LOG": "false", "RISO_OBS_METRICS": "false"},
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


    if VARIANT in ("obs", "obs_trace"):
        import riso
        import riso_obs

        if VARIANT == "obs_trace":
            riso_obs.configure_tracing(drop_exporter())
        riso.include(app, features=[riso_obs.feature])

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_wrk(output: str) -> tuple[float, float, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    match = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    assert match, output
    value, unit = float(match.group(1)), match.group(2)
    p99_ms = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return rps, p99_ms, total


def run_variant(
    variant: str, workdir: Path, extra_path: str | None, duration: int, connections: int
) -> tuple[float, float, float]:
    """(req/s, p99 ms, server CPU microseconds per request)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISO_", "OTEL_"))}
    env["BENCH_VARIANT"] = (
        "obs" if variant.startswith("obs_") and variant != "obs_trace" else variant
    )
    env["RISO_OBS_LOG_FORMAT"] = "json"
    env.update(EXTRA_VARIANTS.get(variant, {}))
    paths = [str(workdir)] + ([extra_path] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    log_file = workdir / f"{variant}.log"
    cmd = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        "-m",
        "uvicorn",
        "bench_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
    ]
    if variant in ("bare", "obs_nolog", "obs_bare"):
        cmd.append("--no-access-log")
    with log_file.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=out, stderr=out)
        try:
            wait_ready(port, proc)
            url = f"http://127.0.0.1:{port}/ping"
            wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", "--latency"]
            subprocess.run([*wrk, "-d2s", url], check=True, capture_output=True)  # warm-up
            cpu_before = cpu_seconds(proc.pid)
            result = subprocess.run(
                [*wrk, f"-d{duration}s", url], check=True, capture_output=True, text=True
            )
            cpu = cpu_seconds(proc.pid) - cpu_before
            rps, p99, total = parse_wrk(result.stdout)
            return rps, p99, cpu / max(total, 1) * 1e6
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only", nargs="*", choices=[*VARIANTS, *EXTRA_VARIANTS], default=list(VARIANTS)
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs two CPUs: server on CPU 0, wrk on CPU 1")

    with tempfile.TemporaryDirectory(prefix="riso-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(APP)
        cache = Path(tempfile.gettempdir()) / "riso-bench-deps"
        extra = ensure_instrumentator(cache) if "stack" in args.only else None
        best: dict[str, tuple[float, float]] = {}
        cpu: dict[str, float] = {}
        for round_no in range(args.rounds):
            for variant in args.only:
                rps, p99, us = run_variant(variant, workdir, extra, args.duration, args.connections)
                print(
                    f"round {round_no + 1} {variant:10s} {rps:9.0f} req/s  p99 {p99:7.2f} ms"
                    f"  server CPU {us:6.1f} us/req",
                    flush=True,
                )
                if variant not in best or rps > best[variant][0]:
                    best[variant] = (rps, p99)
                cpu[variant] = min(cpu.get(variant, us), us)
        lines = sum(1 for _ in (workdir / "obs.log").open()) if "obs" in best else 0
        print(f"\n(obs wrote {lines} lines to its log file)")

    print(
        f"\n{'variant':10s} {'req/s':>9s} {'p99 ms':>8s} {'vs bare':>8s}"
        f" {'CPU us/req':>11s} {'CPU vs bare':>12s}"
    )
    base = best.get("bare", (0.0, 0.0))[0]
    base_cpu = cpu.get("bare", 0.0)
    for variant in args.only:
        rps, p99 = best[variant]
        ratio = f"{rps / base:.2f}x" if base else "-"
        cpu_ratio = f"{base_cpu / cpu[variant]:.2f}x" if base_cpu else "-"
        print(
            f"{variant:10s} {rps:9.0f} {p99:8.2f} {ratio:>8s} {cpu[variant]:11.1f} {cpu_ratio:>12s}"
        )
    if "obs_trace" in best and "stack" in best:
        print(f"\nobs_trace / stack: {best['obs_trace'][0] / best['stack'][0]:.2f}x req/s")
    print(
        "\nreq/s ratios assume a quiet machine; 'CPU vs bare' (server CPU time per request,"
        "\nbare / variant) is the same ratio measured independently of other load."
    )


if __name__ == "__main__":
    main()
