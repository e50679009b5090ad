"""riso-tasks against bare Celery, with Redis on loopback (database 2).

1. Enqueue throughput: N publishes through ``await riso_tasks.enqueue(...)``
   (JSON check + a thread hop, so the event loop never blocks) against bare
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
THROUGHPUT_N = 2000
ROUNDS = 3
RATE = 200
SECONDS = 10
HERE = Path(__file__).resolve().parent

import riso_tasks  # noqa: E402


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


def percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def start_worker(queue: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISO_")}
    env.update(RISO_TASKS_BROKER_URL=REDIS, RISO_TASKS_DEFAULT_QUEUE=queue, PYTHONUNBUFFERED="1")
    riso_cli = Path(sys.executable).parent / "riso"
    command = [str(riso_cli), "--app", "tasks_enqueue:app", "tasks", "worker"]
    return subprocess.Popen(
        [*command, "-P", "prefork", "-c", "2", "-l", "WARNING"],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def collect(client: Any, key: str, total: int) -> list[float]:
    deadline = time.monotonic() + 30
    while client.llen(key) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    values = [float(v) for v in client.lrange(key, 0, -1)]
    client.delete(key)
    return values


def main() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    run = uuid.uuid4().hex[:6]
    q_bare, q_riso, q_lat = f"bench-bare-{run}", f"bench-riso-{run}", f"bench-lat-{run}"
    total = RATE * SECONDS
    bare_rates, seq_rates, conc_rates = [], [], []
    for _ in range(ROUNDS):  # alternate, each in a fresh interpreter: the median counts
        bare_rates.append(throughput_in_subprocess("bare", q_bare))
        seq_rates.append(throughput_in_subprocess("riso", q_riso))
        conc_rates.append(throughput_in_subprocess("riso8", q_riso))
        client.delete(q_bare, q_riso)
    bare_rate = statistics.median(bare_rates)
    riso_seq = statistics.median(seq_rates)
    riso_conc = statistics.median(conc_rates)
    worker = start_worker(q_lat)
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
        make_app()
        key_riso = f"bench-riso-lat-{run}"

        async def paced() -> None:
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
        worker.terminate()
        worker.wait(20)
        client.delete(q_bare, q_riso, q_lat)

    print(
        f"enqueue throughput, {THROUGHPUT_N} publishes to Redis on loopback "
        f"(median of {ROUNDS} alternating rounds):"
    )
    print(f"  bare Celery delay()            {bare_rate:8.0f} /s")
    print(f"  riso enqueue(), sequential     {riso_seq:8.0f} /s  ratio {riso_seq / bare_rate:.2f}")
    print(
        f"  riso enqueue(), 8 in flight    {riso_conc:8.0f} /s  ratio {riso_conc / bare_rate:.2f}"
    )
    print(f"publish-to-start latency at {RATE} tasks/s for {SECONDS} s (prefork worker, c=2):")
    for label, values in (("bare Celery delay()", bare_lat), ("riso enqueue()", riso_lat)):
        p50, p95, p99 = percentiles(values)
        print(
            f"  {label:20} n={len(values):5d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"p99 {p99:6.1f} ms"
        )
    p95 = percentiles(riso_lat)[1]
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
started = time.perf_counter()
for i in range(n):
    noop.delay(i)
print(n / (time.perf_counter() - started))
"""


def throughput_in_subprocess(mode: str, queue: str) -> float:
    if mode == "bare":
        command = [sys.executable, "-c", BARE, REDIS, queue, str(THROUGHPUT_N)]
    else:
        command = [sys.executable, str(Path(__file__)), f"--{mode}", queue]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE)
    return float(out.stdout.strip().splitlines()[-1])


def riso_throughput(queue: str, in_flight: int) -> float:
    os.environ["RISO_TASKS_BROKER_URL"] = REDIS
    os.environ["RISO_TASKS_DEFAULT_QUEUE"] = queue
    make_app()

    async def run() -> float:
        await riso_tasks.enqueue(noop, 0)
        if in_flight == 1:
            started = time.perf_counter()
            for i in range(THROUGHPUT_N):
                await riso_tasks.enqueue(noop, i)
            return THROUGHPUT_N / (time.perf_counter() - started)
        sem = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with sem:
                await riso_tasks.enqueue(noop, i)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(THROUGHPUT_N)))
        return THROUGHPUT_N / (time.perf_counter() - started)

    return asyncio.run(run())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--riso", "--riso8"):
        print(riso_throughput(sys.argv[2], 1 if sys.argv[1] == "--riso" else 8))
    else:
        main()
