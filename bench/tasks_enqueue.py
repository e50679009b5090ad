"""riso-tasks against bare Celery, with Redis on loopback (database 2).

1. Enqueue throughput: N publishes through ``await riso_tasks.enqueue(...)``
   (JSON check, then the publish with its Redis I/O on the event loop through
   redis.asyncio, so the loop never blocks) against bare
   Celery ``task.delay(...)`` called in a plain loop, each to its own queue.
   Also riso with 8 enqueues in flight, as concurrent requests would do.
   Goal: riso within 10 % of bare Celery.
2. Publish-to-start latency at a fixed 200 tasks/s for 10 s, with a real
   worker process (``riso tasks worker``, prefork, 2 processes): each task
   records ``time.time()`` at start minus the time taken just before it was
   published. Baseline: the same worker, tasks published by bare Celery.
   Goal: p95 under 25 ms.

Run: ``.tools/bin/uv run --no-sync python bench/tasks_enqueue.py`` (< 2 min).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REDIS = os.environ.get("RISO_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/") + "/2"
THROUGHPUT_N = 1000
ROUNDS = 9
RATE = 200
SECONDS = 10
HERE = Path(__file__).resolve().parent

from benchkit import interleaved, median_ratio, percentiles_ms  # noqa: E402

import riso_tasks  # noqa: E402
from riso.testing import ServerProcess, clean_environ  # noqa: E402


@riso_tasks.task(name="bench.record")
def record(sent: float, key: str) -> None:
    import redis

    started = time.time()
    client = _CLIENTS.get(key) or _CLIENTS.setdefault(key, redis.Redis.from_url(REDIS))
    client.rpush(key, started - sent)


@riso_tasks.task(name="bench.noop")
def noop(i: int) -> None:
    """Never run: the throughput part only publishes."""


_CLIENTS: dict[str, Any] = {}


def make_app() -> Any:
    from fastapi import FastAPI

    import riso

    app = FastAPI()
    riso.include(app, features=[riso_tasks.feature])
    return app


def __getattr__(name: str) -> Any:  # the worker loads "tasks_enqueue:app"
    if name == "app":
        app = make_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


def bare_celery(queue: str) -> Any:
    from celery import Celery

    capp = Celery("bare", broker=REDIS, set_as_current=False)
    capp.conf.task_default_queue = queue
    capp.finalize()  # binds the module's shared tasks; riso's signals are not connected yet
    return capp


def worker_process(queue: str) -> ServerProcess:
    """``riso tasks worker`` (prefork, 2 processes) on ``queue``; ``with`` starts and stops it.

    Started means running: the first task it runs (see publish_to_start) shows it consumes.
    """
    env = clean_environ(
        RISO_TASKS_BROKER_URL=REDIS, RISO_TASKS_DEFAULT_QUEUE=queue, PYTHONUNBUFFERED="1"
    )
    riso_cli = Path(sys.executable).parent / "riso"
    command = [str(riso_cli), "--app", "tasks_enqueue:app", "tasks", "worker"]
    return ServerProcess(
        [*command, "-P", "prefork", "-c", "2", "-l", "WARNING"],
        cwd=HERE,
        env=env,
        ready=lambda worker: True,
    )


def collect(client: Any, key: str, total: int) -> list[float]:
    deadline = time.monotonic() + 30
    while client.llen(key) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    values = [float(v) for v in client.lrange(key, 0, -1)]
    client.delete(key)
    return values


def main(latency: bool = True) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    run = uuid.uuid4().hex[:6]
    q_bare, q_riso = f"bench-bare-{run}", f"bench-riso-{run}"
    # Paired rounds, each variant in a fresh interpreter: the host is shared and
    # noisy, so each riso figure is divided by the bare figure of its own round
    # and the median of those ratios counts. CPU time is summed over all threads.
    rounds: dict[str, list[tuple[float, float]]] = {"bare": [], "riso": [], "riso8": []}
    for order in interleaved(list(rounds), ROUNDS):
        for mode in order:
            queue = q_bare if mode == "bare" else q_riso
            rounds[mode].append(throughput_in_subprocess(mode, queue))
        client.delete(q_bare, q_riso)
    print(
        f"enqueue throughput, {THROUGHPUT_N} publishes to Redis on loopback "
        f"({ROUNDS} paired rounds; medians; ratios per round, then their median):"
    )
    bare = rounds["bare"]
    print(
        f"  bare Celery delay()          {statistics.median(r for r, _ in bare):6.0f} /s  "
        f"CPU {statistics.median(c for _, c in bare):5.0f} us/op"
    )
    for mode, label in (("riso", "sequential"), ("riso8", "8 in flight")):
        runs = rounds[mode]
        rate = median_ratio([r for r, _ in runs], [b for b, _ in bare])
        cpu = median_ratio([b for _, b in bare], [c for _, c in runs])
        print(
            f"  riso enqueue(), {label:12} {statistics.median(r for r, _ in runs):6.0f} /s  "
            f"CPU {statistics.median(c for _, c in runs):5.0f} us/op  "
            f"ratio {rate:.2f} (by CPU time {cpu:.2f})"
        )
    if latency:
        publish_to_start(client, run)


def publish_to_start(client: Any, run: str) -> None:
    total = RATE * SECONDS
    q_lat = f"bench-lat-{run}"
    worker = worker_process(q_lat).start()
    try:
        lat = bare_celery(q_lat)
        bare_record = lat.tasks["bench.record"]
        warm = f"bench-warm-{run}"
        bare_record.delay(time.time(), warm)
        deadline = time.monotonic() + 60
        while not client.llen(warm):
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start")
            time.sleep(0.1)
        client.delete(warm)
        key_bare = f"bench-bare-lat-{run}"
        start = time.monotonic()
        for i in range(total):
            delay = start + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            bare_record.delay(time.time(), key_bare)
        bare_lat = collect(client, key_bare, total)

        # --- riso
        os.environ["RISO_TASKS_BROKER_URL"] = REDIS
        os.environ["RISO_TASKS_DEFAULT_QUEUE"] = q_lat
        app = make_app()
        key_riso = f"bench-riso-lat-{run}"

        async def paced() -> None:
            async with app.router.lifespan_context(app):  # as while serving requests
                loop = asyncio.get_running_loop()
                start = loop.time()
                for i in range(total):
                    delay = start + i / RATE - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await riso_tasks.enqueue(record, time.time(), key_riso)

        asyncio.run(paced())
        riso_lat = collect(client, key_riso, total)
    finally:
        worker.stop(timeout=20)
        client.delete(q_lat)

    print(f"publish-to-start latency at {RATE} tasks/s for {SECONDS} s (prefork worker, c=2):")
    for label, values in (("bare Celery delay()", bare_lat), ("riso enqueue()", riso_lat)):
        p50, p95, p99 = percentiles_ms(values, (50, 95, 99))
        print(
            f"  {label:20} n={len(values):5d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"p99 {p99:6.1f} ms"
        )
    (p95,) = percentiles_ms(riso_lat, (95,))
    print(f"  goal p95 < 25 ms: {'met' if p95 < 25 else 'NOT met'}")


BARE = """
import sys, time
from celery import Celery
capp = Celery("bare", broker=sys.argv[1], set_as_current=False)
capp.conf.task_default_queue = sys.argv[2]
@capp.task(name="bench.noop")
def noop(i):
    pass
noop.delay(0)
n = int(sys.argv[3])
started, cpu = time.perf_counter(), time.process_time()
for i in range(n):
    noop.delay(i)
print(n / (time.perf_counter() - started), (time.process_time() - cpu) / n * 1e6)
"""


def throughput_in_subprocess(mode: str, queue: str) -> tuple[float, float]:
    """(publishes per second, process CPU microseconds per publish)."""
    if mode == "bare":
        command = [sys.executable, "-c", BARE, REDIS, queue, str(THROUGHPUT_N)]
    else:
        command = [sys.executable, str(Path(__file__)), f"--{mode}", queue]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE)
    rate, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(rate), float(cpu)


def riso_throughput(queue: str, in_flight: int) -> tuple[float, float]:
    os.environ["RISO_TASKS_BROKER_URL"] = REDIS
    os.environ["RISO_TASKS_DEFAULT_QUEUE"] = queue
    app = make_app()

    async def run() -> tuple[float, float]:
        # Inside the app's lifespan, as while serving requests; the warm-up sets
        # up the pooled connections that 8 concurrent publishes use.
        async with app.router.lifespan_context(app):
            for _ in range(2):
                await asyncio.gather(*(riso_tasks.enqueue(noop, 0) for _ in range(in_flight)))
            return await measured()

    async def measured() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        if in_flight == 1:
            for i in range(THROUGHPUT_N):
                await riso_tasks.enqueue(noop, i)
        else:
            sem = asyncio.Semaphore(in_flight)

            async def one(i: int) -> None:
                async with sem:
                    await riso_tasks.enqueue(noop, i)

            await asyncio.gather(*(one(i) for i in range(THROUGHPUT_N)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return THROUGHPUT_N / elapsed, cpu / THROUGHPUT_N * 1e6

    return asyncio.run(run())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--riso", "--riso8"):
        print(*riso_throughput(sys.argv[2], 1 if sys.argv[1] == "--riso" else 8))
    else:
        main(latency="--throughput-only" not in sys.argv)
