"""Authenticated endpoints at their real cost: many users, PostgreSQL, riso vs the template.

Three endpoints, each at 32 keep-alive connections (wrk, one thread):
current user, list 20 own rows, create a row. Every request carries the next
of many bearer tokens (``auth_real.lua``: at least 1,000 accounts, several
logins each), so a token comes back only after all the others have been
used, i.e. seconds later: riso's revocation cache (1 s by default) never
answers, as with many real users. The single-token case is measured too.

Variants, one uvicorn worker each (uvloop, httptools, no uvicorn access log;
riso's under ``riso serve``, the command riso ships, with its bounded protocol),
all serving at once, pinned to CPU 0; the load generator runs on CPU 1:

* ``bare``        FastAPI, no auth, no database (the ceiling)
* ``template``    what full-stack-fastapi-template's backend does: PyJWT, then
                  ``session.get(User, id)`` through a sync SQLAlchemy session
                  (psycopg, pool defaults) in FastAPI's threadpool
* ``fastapi-users`` JWT strategy + its SQLAlchemy async user db (psycopg async)
* ``riso off``    ``riso.include(app)`` (obs as installed; tasks disabled; asyncpg,
                  riso-db's default), ``/auth/me`` and notes via ``CurrentUser`` +
                  ``DbSession``, ``RISO_AUTH_REVOCATION_CACHE_SECONDS=0``
* ``riso``        the same with the default cache (1 s) and rotating tokens
* ``riso 1tok``   the same server, one token over and over (cache answers)
* ``riso pg3 off`` / ``riso pg3``: as ``riso off`` / ``riso`` with
                  ``RISO_DB_POSTGRES_ASYNC_DRIVER=psycopg`` (the driver comparison)

One PostgreSQL server (127.0.0.1:5432), a fresh database per app family.
Each round measures every variant and endpoint, the order rotating between
rounds; ratios are medians of per-round ratios (range in brackets). Per
measurement: throughput, wrk's p50/p99, server CPU per request
(``/proc/<pid>/stat`` utime+stime), new PostgreSQL connections per 1,000
requests and transactions per request (``pg_stat_database`` of the app's
database, before and after, once the server has flushed its counters).

``--profile SECONDS`` then samples the riso server (py-spy, native frames)
under load on ``/auth/me`` and the list endpoint and prints where the time
goes: top self-time functions, time per package, and a few inclusive buckets.

    .venv/bin/python bench/auth_real.py [--rounds 6] [--duration 5] [--profile 15]
    .venv/bin/python bench/auth_real.py --rounds 1 --duration 2 --users 1000  # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from auth_real_seed import TOKEN_LIFETIME, seed_fastapi_users, seed_riso, seed_template
from benchkit import (
    HOST,
    LOAD_CPU,
    SERVER_CPU,
    WrkResult,
    argument_parser,
    cpu_seconds,
    has_wrk,
    interleaved,
    pin_this_process,
    pinned,
    ratios,
    run_wrk,
    uvicorn_argv,
)

from riso.testing import ServerProcess, clean_environ, fresh_database

HERE = Path(__file__).parent
LUA = HERE / "auth_real.lua"
SECRET = "bench-secret-" + "k" * 40
NOTE_BODY = '{"title": "a new note", "body": "written under load"}'
ENDPOINTS = ("me", "list", "create")
ENDPOINT_LABELS = {"me": "current user", "list": "list 20 own rows", "create": "create a row"}
RISO_PATHS = {"me": ("GET", "/auth/me"), "list": ("GET", "/notes"), "create": ("POST", "/notes")}


@dataclass(frozen=True)
class Variant:
    name: str
    module: str  # auth_real_apps.<module>:app
    family: str  # whose tables and tokens: bare, template, fu, riso
    paths: dict[str, tuple[str, str]]
    env: dict[str, str] = field(default_factory=dict)
    single_token: bool = False


OTHER_PATHS = {"me": ("GET", "/users/me"), "list": ("GET", "/notes"), "create": ("POST", "/notes")}
CACHE_OFF = {"RISO_AUTH_REVOCATION_CACHE_SECONDS": "0"}
PSYCOPG = {"RISO_DB_POSTGRES_ASYNC_DRIVER": "psycopg"}
VARIANTS = [
    Variant("bare", "bare_app", "bare", {**RISO_PATHS, "me": ("GET", "/me")}),
    Variant(
        "template",
        "template_app",
        "template",
        {"me": ("GET", "/users/me"), "list": ("GET", "/items"), "create": ("POST", "/items")},
    ),
    Variant("fastapi-users", "fu_app", "fu", OTHER_PATHS),
    Variant("riso off", "riso_app", "riso", RISO_PATHS, CACHE_OFF),
    Variant("riso", "riso_app", "riso", RISO_PATHS),
    Variant("riso 1tok", "riso_app", "riso", RISO_PATHS, single_token=True),
    Variant("riso pg3 off", "riso_app", "riso", RISO_PATHS, {**CACHE_OFF, **PSYCOPG}),
    Variant("riso pg3", "riso_app", "riso", RISO_PATHS, PSYCOPG),
]
#: an idle PostgreSQL 15 backend may hold its counters up to 10 s (PGSTAT_IDLE_INTERVAL)
STATS_FLUSH_SECONDS = 11.0


@dataclass
class Sample:
    rps: float
    p50: float
    p99: float
    cpu_ms: float  # server CPU per request
    errors: int
    repeat_s: float  # seconds before a token comes back
    requests: int
    #: pg_stat_database (sessions, transactions) before; deltas filled in later
    counters: tuple[int, int] = (0, 0)
    new_conns: float = float("nan")  # per 1,000 requests
    tx: float = float("nan")  # transactions per request


class Stats:
    """``pg_stat_database`` of the bench databases, read over the server's ``postgres`` db.

    Each variant has a database of its own and its server is idle between its
    measurements, so the counters read just before measurement k+1 (at least
    STATS_FLUSH_SECONDS after k ended) minus those read before k are k's own.
    """

    def __init__(self, admin_url: str) -> None:
        self.conn = psycopg.connect(admin_url, autocommit=True)
        self._last: dict[str, tuple[float, Sample | None]] = {}

    def read(self, database: str) -> tuple[int, int]:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self.conn.execute(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def begin(self, database: str | None) -> tuple[int, int]:
        """Wait until ``database``'s last measurement is flushed; settle it; read the counters."""
        if database is None:
            return (0, 0)
        ended, previous = self._last.get(database, (0.0, None))
        time.sleep(max(0.0, ended + STATS_FLUSH_SECONDS - time.monotonic()))
        counters = self.read(database)
        if previous is not None:
            requests = max(previous.requests, 1)
            previous.new_conns = (counters[0] - previous.counters[0]) / requests * 1000
            previous.tx = (counters[1] - previous.counters[1]) / requests
        return counters

    def end(self, database: str | None, sample: Sample | None) -> None:
        if database is not None:
            self._last[database] = (time.monotonic(), sample)

    def finish(self) -> None:
        """Settle every database's last measurement."""
        for database in list(self._last):
            self.begin(database)
            self._last.pop(database)


def clone_database(admin_url: str, source: str, suffix: str) -> str:
    """A copy of the database ``source`` (CREATE DATABASE ... TEMPLATE), named source_suffix."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{source}_{suffix}" TEMPLATE "{source}"'.encode())
    return f"{source}_{suffix}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def server_env(variant: Variant, url: str) -> dict[str, str]:
    if variant.family == "riso":
        base = {
            "RISO_DB_URL": url,
            "RISO_AUTH_SECRET_KEY": SECRET,
            "RISO_DISABLE": "tasks",
            # the seeded tokens' lifetime: riso-auth refuses a token living longer
            # than the lifetime it is configured with
            "RISO_AUTH_ACCESS_TOKEN_LIFETIME": str(TOKEN_LIFETIME),
        }
        return {**base, **variant.env}
    if variant.family == "bare":
        return dict(variant.env)
    psycopg_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return {"BENCH_DB_URL": psycopg_url, "BENCH_SECRET": SECRET, **variant.env}


def server_process(module: str, env: dict[str, str], logs: Path) -> ServerProcess:
    """``auth_real_apps.<module>:app`` served on CPU 0; ``with`` starts and stops it.

    riso's apps run under ``riso serve``, the command riso ships (its bounded
    httptools protocol, uvloop); the others under uvicorn with uvloop and httptools.
    """
    target = f"auth_real_apps.{module}:app"
    if module == "riso_app":
        argv = [str(Path(sys.executable).with_name("riso")), "--app", target, "serve"]
        argv += ["--host", "{host}", "--port", "{port}", "--log-level", "warning"]
    else:
        argv = uvicorn_argv(target)
    return ServerProcess(
        pinned(argv, SERVER_CPU),
        cwd=HERE,
        env=clean_environ(os.environ, **env, PYTHONPATH=str(HERE)),
        ready_path="/openapi.json",
        log_path=logs,
    )


def wrk_once(
    server: ServerProcess,
    variant: Variant,
    endpoint: str,
    tokens: Path,
    seconds: float,
    connections: int,
) -> WrkResult:
    method, path = variant.paths[endpoint]
    return run_wrk(
        f"http://{HOST}:{server.port}{path}",
        connections=connections,
        duration=seconds,
        script=LUA,
        script_args=[str(tokens), method, path, NOTE_BODY if method == "POST" else ""],
    )


def check(server: ServerProcess, variant: Variant, endpoint: str, token: str) -> None:
    """One request: the expected status, and 20 rows from a list."""
    method, path = variant.paths[endpoint]
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=NOTE_BODY if method == "POST" else None, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    expected = 201 if method == "POST" else 200
    assert response.status == expected, (variant.name, endpoint, response.status, body[:300])
    if endpoint == "list":
        assert len(json.loads(body)) == 20, (variant.name, body[:300])


def measure(
    server: ServerProcess,
    variant: Variant,
    endpoint: str,
    tokens: Path,
    token_count: int,
    database: str | None,
    stats: Stats,
    args: argparse.Namespace,
) -> Sample:
    counters = stats.begin(database)
    cpu = cpu_seconds(server.proc.pid)
    result = wrk_once(server, variant, endpoint, tokens, args.duration, args.connections)
    cpu = cpu_seconds(server.proc.pid) - cpu
    requests = max(result.requests, 1)
    sample = Sample(
        rps=result.rps,
        p50=result.percentile_ms(50),
        p99=result.percentile_ms(99),
        cpu_ms=cpu / requests * 1000,
        errors=result.errors + result.socket_errors,
        repeat_s=token_count / result.rps if result.rps else 0.0,
        requests=result.requests,
        counters=counters,
    )
    stats.end(database, sample)
    return sample


# --------------------------------------------------------------------------- report


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio_text(subject: list[float], base: list[float]) -> str:
    if not subject or not base:
        return "-"
    per_round = ratios(subject, base)
    return f"{statistics.median(per_round):.2f}x [{min(per_round):.2f}-{max(per_round):.2f}]"


def report(
    samples: dict[tuple[str, str], list[Sample]], variants: list[Variant], endpoints: list[str]
) -> None:
    def col(v: str, e: str, attr: str) -> list[float]:
        return [getattr(s, attr) for s in samples.get((v, e), [])]

    print("\n## every variant (medians over rounds; ratio: median of per-round ratios [range])\n")
    columns = ["endpoint", "variant", "req/s", "vs template", "CPU ms/req", "p50 ms", "p99 ms"]
    columns += ["new conns/1k req", "tx/req", "errors", "token repeat s"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in endpoints:
        for v in variants:
            if (v.name, e) not in samples:
                continue
            rows = samples[(v.name, e)]
            bare = v.family == "bare"
            repeat = "-" if bare else f"{min(s.repeat_s for s in rows):.1f}"
            if not bare and not v.single_token and min(s.repeat_s for s in rows) < 1.0:
                repeat += " (cache may answer: add --tokens-per-user)"
            conns = "-" if bare else f"{med(col(v.name, e, 'new_conns')):.1f}"
            tx = "-" if bare else f"{med(col(v.name, e, 'tx')):.2f}"
            print(
                f"| {ENDPOINT_LABELS[e]} | {v.name} | {med(col(v.name, e, 'rps')):.0f} | "
                f"{ratio_text(col(v.name, e, 'rps'), col('template', e, 'rps'))} | "
                f"{med(col(v.name, e, 'cpu_ms')):.2f} | {med(col(v.name, e, 'p50')):.1f} | "
                f"{med(col(v.name, e, 'p99')):.1f} | {conns} | {tx} | "
                f"{sum(s.errors for s in rows)} | {repeat} |"
            )

    def pair_table(title: str, base: str, subjects: list[str]) -> None:
        present = [s for s in subjects if any((s, e) in samples for e in endpoints)]
        if not any((base, e) in samples for e in endpoints) or not present:
            return
        print(f"\n## {title}\n")
        head = " | ".join(f"{s} | ratio" for s in present)
        print(f"| endpoint | {base} | {head} |")
        print("|---|---|" + "---|---|" * len(present))
        for e in endpoints:
            cells = [
                f"{med(col(s, e, 'rps')):.0f} | {ratio_text(col(s, e, 'rps'), col(base, e, 'rps'))}"
                for s in present
            ]
            print(
                f"| {ENDPOINT_LABELS[e]} | {med(col(base, e, 'rps')):.0f} | {' | '.join(cells)} |"
            )

    pair_table(
        "template vs riso (req/s)", "template", ["riso off", "riso", "riso 1tok", "fastapi-users"]
    )
    pair_table(
        "driver: asyncpg (default) vs psycopg 3 async, cache off (req/s)",
        "riso pg3 off",
        ["riso off"],
    )
    pair_table(
        "driver: asyncpg (default) vs psycopg 3 async, cache 1 s (req/s)", "riso pg3", ["riso"]
    )
    print("\n## CPU per request, ratio to the template's (lower is cheaper)\n")
    names = [v.name for v in variants if v.name != "template"]
    print("| endpoint | template ms | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for e in endpoints:
        base = col("template", e, "cpu_ms")
        cells = [ratio_text(col(n, e, "cpu_ms"), base) for n in names]
        print(f"| {ENDPOINT_LABELS[e]} | {med(base):.2f} | " + " | ".join(cells) + " |")
    print("\n## per round: req/s (server CPU ms per request)\n")
    shown = [v.name for v in variants if v.family != "bare"]
    print("| endpoint | round | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    for e in endpoints:
        for i in range(max(len(samples.get((n, e), [])) for n in shown)):
            cells = []
            for n in shown:
                rows = samples.get((n, e), [])
                cells.append(f"{rows[i].rps:.0f} ({rows[i].cpu_ms:.2f})" if i < len(rows) else "-")
            print(f"| {ENDPOINT_LABELS[e]} | {i + 1} | " + " | ".join(cells) + " |")


def paired_on_one_core(
    servers: dict[str, ServerProcess],
    variants: list[Variant],
    endpoints: list[str],
    files: dict[tuple[str, bool], Path],
    args: argparse.Namespace,
) -> None:
    """The template and one riso variant loaded at the same time, both servers on CPU 0.

    The sequential rounds divide figures taken seconds apart, and this host's
    speed drifts by tens of percent in seconds. Here both servers share the
    core through the same seconds, so a drift slows both alike; the figure is
    the template's CPU per request over the subject's (how many of the
    subject's requests one core serves per template request). req/s under
    sharing is not compared: the kernel shares the core per thread, and the
    template has a threadpool.
    """
    template = next((v for v in variants if v.name == "template"), None)
    subjects = [v for v in variants if v.family == "riso" and not v.single_token]
    if template is None or not subjects:
        return
    costs: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for e in endpoints:
            for subject in subjects:
                pair = (template, subject)
                before = [cpu_seconds(servers[v.name].proc.pid) for v in pair]
                with ThreadPoolExecutor(2) as pool:
                    runs = [
                        pool.submit(
                            wrk_once,
                            servers[v.name],
                            v,
                            e,
                            files[(v.family, v.single_token)],
                            args.duration,
                            args.connections,
                        )
                        for v in pair
                    ]
                    results = [r.result() for r in runs]
                after = [cpu_seconds(servers[v.name].proc.pid) for v in pair]
                per_request = [
                    (b - a) / max(r.requests, 1)
                    for a, b, r in zip(before, after, results, strict=True)
                ]
                costs.setdefault((subject.name, e), []).append(per_request[0] / per_request[1])
    print(f"\n## paired on one core: template CPU per request / riso's ({args.rounds} rounds)\n")
    print("| endpoint | " + " | ".join(s.name for s in subjects) + " |")
    print("|---|" + "---|" * len(subjects))
    for e in endpoints:
        cells = []
        for subject in subjects:
            values = costs[(subject.name, e)]
            cells.append(f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]")
        print(f"| {ENDPOINT_LABELS[e]} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- profile

#: inclusive buckets: a sample counts when any frame of its stack contains one of the strings
MARKERS = {
    "uvicorn httptools protocol (all request work)": ("(uvicorn/protocols/http/httptools_impl",),
    "riso-obs middleware (incl. everything inside it)": ("ObsMiddleware.__call__ (riso_obs",),
    "  riso-obs own work (_finish: metrics, access line)": ("ObsMiddleware._finish (riso_obs",),
    "  logging / structlog (access line and log records)": ("(structlog/", "(logging/__init__"),
    "FastAPI solve_dependencies (auth + session deps)": ("solve_dependencies (fastapi",),
    "riso-auth principal() (the token check)": ("principal (riso_auth",),
    "  PyJWT decode + claim checks": ("decode (riso_auth/_tokens", "decode (jwt/"),
    "DbSession get_session (open/close, rollback)": ("get_session (riso_db",),
    "pool checkout + checkin": ("_ConnectionFairy._checkout (sqlalchemy", "_checkin (sqlalchemy"),
    "  pre-ping (SELECT 1 on every checkout)": ("_do_ping_w_event (sqlalchemy",),
    "SQLAlchemy statement building (select/where)": (
        "(sqlalchemy/sql/coercions",
        "(sqlalchemy/sql/operators",
        "_boolean_compare (sqlalchemy",
        "Select.where (sqlalchemy",
        "select (sqlalchemy/sql/_selectable_constructors",
    ),
    "SQLAlchemy cache key": ("(sqlalchemy/sql/cache_key",),
    "SQLAlchemy compile / construct_params": ("(sqlalchemy/sql/compiler",),
    "SQLAlchemy ORM result loading": ("(sqlalchemy/orm/loading",),
    "greenlet bridge (greenlet_spawn / await_only)": ("greenlet_spawn (sqlalchemy", "await_only"),
    "psycopg (Python + C)": ("(psycopg/", "_psycopg.cpython"),
    "asyncpg": ("(asyncpg/", "asyncpg/protocol"),
    "pydantic (validation, serialisation)": ("(pydantic", "pydantic_core"),
    "FastAPI serialize_response": ("serialize_response (fastapi",),
    "garbage collector": ("gc_collect_main",),
}
#: frames of a thread that waits (a lock, a condition): not CPU time
_IDLE = ("PyThread_acquire_lock_timed", "pthread_cond_timedwait", "epoll_wait")


def package_of(frame: str) -> str:
    location = frame.rpartition("(")[2].rstrip(")")
    if "site-packages/" in location:
        return location.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/src/" in location:
        return location.split("/src/", 1)[1].split("/", 1)[0]
    if location.endswith((".so", ".so.6")) or ".so." in location or "0x" in frame:
        return f"native: {location.split('/')[-1]}"
    return "python stdlib" if "/lib/python3" in location else location.split(":")[0]


def thread_of(stack: str) -> str:
    if "_log_output" in stack:
        return "riso-obs log output thread"
    if "concurrent/futures/thread" in stack:
        return "executor threads"
    return "event loop thread"


def summarise(raw: Path, label: str) -> None:
    """Top self time, self time per package, per thread, and the inclusive MARKERS."""
    self_time: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        if any(marker in stack for marker in _IDLE):
            idle += count
            continue
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        name, _, location = leaf.partition(" (")
        short = location.rsplit(":", 1)[0].split("site-packages/")[-1].split("/src/")[-1]
        self_time[f"{name} ({short.rstrip(')')})"] += count
        by_package[package_of(leaf)] += count
        by_thread[thread_of(stack)] += count
        for marker, needles in MARKERS.items():
            if any(n in stack for n in needles):
                markers[marker] += count
    if not total:
        print(f"\n{label}: no samples")
        return
    print(f"\n### profile: {label}\n")
    print(f"{total} busy samples ({idle} idle ones left out); % of busy time\n")
    print("top 10 self time (leaf frames):")
    for name, count in self_time.most_common(10):
        print(f"  {count / total:6.1%}  {name}")
    print("self time by package:")
    for name, count in by_package.most_common(12):
        print(f"  {count / total:6.1%}  {name}")
    print("by thread:")
    for name, count in by_thread.most_common():
        print(f"  {count / total:6.1%}  {name}")
    print("inclusive:")
    for marker in MARKERS:
        if markers[marker]:
            print(f"  {markers[marker] / total:6.1%}  {marker}")


def profile(
    server: ServerProcess, variant: Variant, tokens: Path, seconds: float, connections: int
) -> None:
    """py-spy (native frames, 250 Hz) on the server while wrk loads ``me`` then ``list``."""
    spy = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")
    if not Path(spy).exists():
        print("\nprofile skipped: py-spy is not installed (uv tool install py-spy)")
        return
    keep = HERE / ".profiles"
    keep.mkdir(exist_ok=True)
    for endpoint in ("me", "list"):
        raw = keep / f"{variant.name.replace(' ', '-')}-{endpoint}.txt"
        argv = [spy, "record", "--pid", str(server.proc.pid), "--rate", "250", "--native"]
        argv += ["--duration", f"{seconds:g}", "--format", "raw", "--output", str(raw)]
        spy_proc = subprocess.Popen(
            pinned(argv, LOAD_CPU), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        time.sleep(0.5)
        wrk_once(server, variant, endpoint, tokens, seconds + 1, connections)
        spy_proc.wait(timeout=60)
        summarise(raw, f"{variant.name} {ENDPOINT_LABELS[endpoint]} ({variant.paths[endpoint][1]})")
    print(f"\n(raw py-spy stacks kept in {keep})")


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--tokens-per-user", type=int, default=3, help="riso logins per account")
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--profile", type=float, default=0, help="seconds of py-spy per endpoint")
    parser.add_argument("--profile-variant", default="riso off")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="then load the template and each riso variant at once (CPU per request ratio)",
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args()


def seed(
    args: argparse.Namespace, urls: dict[str, str], families: set[str]
) -> dict[str, list[str]]:
    """Fill each family's database; its tokens (the bare app gets a placeholder)."""
    tokens: dict[str, list[str]] = {"bare": ["none"]}
    psycopg_url = {
        f: u.replace("postgresql://", "postgresql+psycopg://", 1) for f, u in urls.items()
    }
    if "riso" in families:
        tokens["riso"] = seed_riso(urls["riso"], SECRET, args.users, args.tokens_per_user)
    if "template" in families:
        tokens["template"] = seed_template(psycopg_url["template"], SECRET, args.users)
    if "fu" in families:
        tokens["fu"] = seed_fastapi_users(psycopg_url["fu"], SECRET, args.users)
    return tokens


def main() -> None:
    args = parse_args()
    assert has_wrk(), "auth_real.py needs wrk (apt-get install wrk)"
    pin_this_process(LOAD_CPU)
    wanted = {name.strip() for name in args.variants.split(",")}
    variants = [v for v in VARIANTS if v.name in wanted]
    endpoints = [e for e in ENDPOINTS if e in args.endpoints.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="riso-bench-auth-real-"))
    load_start = os.getloadavg()
    print(
        f"auth_real: {args.rounds} rounds x {args.duration} s, {args.connections} connections, "
        f"{args.users} accounts; load average {' '.join(f'{x:.2f}' for x in load_start)}"
    )
    families = {v.family for v in variants} - {"bare"}
    with contextlib.ExitStack() as stack:
        urls = {f: stack.enter_context(fresh_database(args.server)) for f in sorted(families)}
        started = time.perf_counter()
        tokens = seed(args, urls, families)
        files: dict[tuple[str, bool], Path] = {}
        for family, values in tokens.items():
            files[(family, False)] = folder / f"tokens-{family}.txt"
            files[(family, False)].write_text("\n".join(values) + "\n")
            files[(family, True)] = folder / f"token-{family}.txt"
            files[(family, True)].write_text(values[0] + "\n")
        # one database per variant: the first of a family gets the seeded one, the others copies
        databases: dict[str, str | None] = {}
        for v in variants:
            if v.family == "bare":
                databases[v.name] = None
                continue
            seeded = urls[v.family].rsplit("/", 1)[1]
            if seeded in databases.values():
                suffix = v.name.replace(" ", "_").replace("-", "_")
                databases[v.name] = clone_database(args.server, seeded, suffix)
                stack.callback(drop_database, args.server, databases[v.name])
            else:
                databases[v.name] = seeded
        summary = ", ".join(f"{f} {len(t)} tokens" for f, t in tokens.items() if f != "bare")
        print(f"seeded in {time.perf_counter() - started:.0f} s: {summary}")
        servers: dict[str, ServerProcess] = {}
        for v in variants:
            base = urls.get(v.family, "")
            url = base.rsplit("/", 1)[0] + f"/{databases[v.name]}" if base else ""
            logs = folder / f"{v.name.replace(' ', '_')}.log"
            servers[v.name] = stack.enter_context(
                server_process(v.module, server_env(v, url), logs)
            )
        stats = Stats(args.server)
        stack.callback(stats.conn.close)
        for v in variants:  # every endpoint answers as expected; then warm up
            for e in endpoints:
                check(servers[v.name], v, e, tokens[v.family][0])
                wrk_once(
                    servers[v.name], v, e, files[(v.family, v.single_token)], 2, args.connections
                )
            stats.end(databases[v.name], None)
        samples: dict[tuple[str, str], list[Sample]] = {}
        for round_no, order in enumerate(interleaved(variants, args.rounds)):
            shift = round_no % len(endpoints)
            for e in [*endpoints[shift:], *endpoints[:shift]]:
                for v in order:
                    count = 1 if v.single_token else len(tokens[v.family])
                    sample = measure(
                        servers[v.name],
                        v,
                        e,
                        files[(v.family, v.single_token)],
                        count,
                        databases[v.name],
                        stats,
                        args,
                    )
                    samples.setdefault((v.name, e), []).append(sample)
            print(
                f"round {round_no + 1}/{args.rounds}, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        load_end = os.getloadavg()
        stats.finish()
        report(samples, variants, endpoints)
        if args.paired:
            paired_on_one_core(servers, variants, endpoints, files, args)
        for v in variants:  # what the server said about failed requests
            if any(s.errors for e in endpoints for s in samples.get((v.name, e), [])):
                logs = folder / f"{v.name.replace(' ', '_')}.log"
                said = [
                    line
                    for line in logs.read_text(errors="replace").splitlines()
                    if "error" in line.lower() or '"status": 5' in line
                ]
                print(f"\n{v.name}: failed requests; the server logged {len(said)} error lines")
                for line in said[-5:]:
                    print(f"    {line[:300]}")
        print(
            f"\nload average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}; "
            "2 cores shared with other work"
        )
        target = next((v for v in variants if v.name == args.profile_variant), None)
        if args.profile and target is not None:
            tokens_file = files[(target.family, target.single_token)]
            profile(servers[target.name], target, tokens_file, args.profile, args.connections)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
