"""Load and soak: the starter on PostgreSQL + Redis under a realistic mix.

Starts everything itself on loopback (a fresh PostgreSQL database, Redis DB 5,
``riso db upgrade``, ``uvicorn --workers 2``, one ``riso tasks worker``),
drives a fixed duration of traffic from concurrent virtual users, then stops
everything. Each user registers, logs in, then loops over authenticated note
writes, reads, deletes, ``/auth/me`` and task enqueues, with a fresh login now
and then. Reports throughput, p50/p95/p99 per kind, 5xx and transport errors,
and the RSS of each uvicorn worker process at start, middle and end.

    python bench/soak.py --duration 120 --users 16
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import httpx
from benchkit import argument_parser, child_pids, percentiles_ms, rss_mib

from riso.testing import fresh_database

# the system tests' stack (starter, worker, databases); on pytest's path under pytest
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from riso_test_support import stack as st

PASSWORD = "a long enough password 42"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)

    def record(self, kind: str, started: float, response: httpx.Response) -> None:
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[kind][response.status_code] += 1

    @property
    def server_errors(self) -> int:
        return sum(n for codes in self.statuses.values() for s, n in codes.items() if s >= 500)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())


async def _call(
    stats: Stats, client: httpx.AsyncClient, kind: str, method: str, url: str, **kw: object
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        return None
    stats.record(kind, started, response)
    return response


def _answered(
    response: httpx.Response | None, status: int, stats: Stats, kind: str
) -> TypeGuard[httpx.Response]:
    """Whether ``response`` has ``status``; if not, the flow error is recorded."""
    if response is not None and response.status_code == status:
        return True
    stats.errors.append(f"{kind}: {response and response.status_code}")
    return False


async def _user(base: str, stop: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    email = f"soak-{uuid.uuid4().hex[:12]}@example.com"
    client = httpx.AsyncClient(base_url=base, timeout=30)
    try:
        created = await _call(
            stats, client, "register", "POST", "/auth/register",
            json={"email": email, "password": PASSWORD},
        )  # fmt: skip
        if not _answered(created, 201, stats, "register"):
            return

        async def login() -> dict[str, str] | None:
            answer = await _call(
                stats, client, "login", "POST", "/auth/token",
                data={"username": email, "password": PASSWORD},
            )  # fmt: skip
            if not _answered(answer, 200, stats, "login"):
                return None
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        headers = await login()
        notes: list[int] = []
        while headers is not None and time.monotonic() < stop:
            roll = rng.random()
            if roll < 0.25:
                r = await _call(
                    stats, client, "note_create", "POST", "/notes", headers=headers,
                    json={"title": f"t{rng.randrange(10**6)}", "body": "b" * rng.randrange(500)},
                )  # fmt: skip
                if r is not None and r.status_code == 201:
                    notes.append(r.json()["id"])
            elif roll < 0.50:
                await _call(stats, client, "note_list", "GET", "/notes", headers=headers)
            elif roll < 0.65 and notes:
                note = rng.choice(notes)
                await _call(stats, client, "note_get", "GET", f"/notes/{note}", headers=headers)
            elif roll < 0.72 and notes:
                note = notes.pop()
                await _call(
                    stats, client, "note_delete", "DELETE", f"/notes/{note}", headers=headers
                )
            elif roll < 0.85:
                await _call(stats, client, "me", "GET", "/auth/me", headers=headers)
            elif roll < 0.97:
                await _call(
                    stats, client, "enqueue", "POST", "/tasks/add",
                    params={"x": rng.randrange(100), "y": rng.randrange(100)},
                )  # fmt: skip
            else:
                # the user comes back later: a new connection (so both workers get
                # traffic) and a new login
                await client.aclose()
                client = httpx.AsyncClient(base_url=base, timeout=30)
                headers = await login()
    finally:
        await client.aclose()


def _uvicorn_workers(master_pid: int) -> list[int]:
    # uvicorn's workers, not multiprocessing's resource tracker
    return child_pids(master_pid, cmdline_contains=b"spawn_main")


async def drive(base: str, duration: float, users: int, master_pid: int | None) -> Stats:
    stats = Stats()
    workers = _uvicorn_workers(master_pid) if master_pid else []
    rss: dict[int, list[float]] = {pid: [rss_mib(pid)] for pid in workers}
    stop = time.monotonic() + duration
    tasks = [asyncio.create_task(_user(base, stop, stats, n)) for n in range(users)]
    await asyncio.sleep(duration / 2)
    for pid in workers:
        rss[pid].append(rss_mib(pid))
    await asyncio.gather(*tasks)
    for pid in workers:
        rss[pid].append(rss_mib(pid))
    stats.rss = rss  # type: ignore[attr-defined]
    return stats


def report(stats: Stats, duration: float) -> None:
    print(f"requests: {stats.total} in {duration:.0f}s = {stats.total / duration:.0f} req/s")
    print(f"5xx: {stats.server_errors}   transport/flow errors: {len(stats.errors)}")
    for line in stats.errors[:10]:
        print("  ", line)
    print(f"{'kind':12} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for kind, values in sorted(stats.latencies.items()):
        p50, p95, p99 = percentiles_ms(values, (50, 95, 99))
        codes = dict(sorted(stats.statuses[kind].items()))
        print(f"{kind:12} {len(values):7} {p50:8.1f} {p95:8.1f} {p99:8.1f}  {codes}")
    for pid, (start, middle, end) in getattr(stats, "rss", {}).items():
        print(
            f"uvicorn worker {pid}: RSS start/middle/end {start:.1f}/{middle:.1f}/{end:.1f} MiB "
            f"(growth {end - start:+.1f} MiB, second half {end - middle:+.1f} MiB)"
        )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    import redis

    with fresh_database(args.postgres) as db_url:
        redis.Redis.from_url(f"{args.redis}/{st.REDIS_DB}").flushdb()
        # the soak measures the app, not the brute-force limiter
        limits = {
            f"RISO_AUTH_RATE_{k}": "1000000/1m" for k in ("LOGIN_ADDRESS", "REGISTER_ADDRESS")
        }
        env = st.stack_env(db_url, args.redis, RISO_TASKS_PUBLISH_TIMEOUT="5", **limits)
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            st.migrate(env, cwd)
            with st.worker(env, cwd), st.server(env, cwd, workers=2) as srv:
                stats = asyncio.run(drive(srv.base, args.duration, args.users, srv.proc.pid))
        report(stats, args.duration)
    if stats.server_errors or stats.errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
