"""/ready under bursts of 200 concurrent probes, with a database and a broker check.

A real uvicorn (uvloop + httptools, one worker, in a subprocess) serves an app
with riso-health and two critical checks:

- database: ``SELECT 1`` on a fresh PostgreSQL database over PostgreSQL's wire
  protocol (no driver), on one kept connection (a pool of one);
- broker:   ``PING`` to Redis over a raw asyncio connection.

The client opens a new connection per probe, as a kubelet does, and sends 200
probes at once per burst. Scenarios, all in the same run:

- baseline: ``GET /ping``, a trivial JSON endpoint of the same app;
- subject:  ``GET /ready`` with the default cache (1 s), bursts back to back
            (warm cache: most bursts are answered by an already cached round);
- subject:  the same, bursts spaced 1.1 s apart (cold cache: every burst needs
            a fresh round, which the first probe starts and the other 199 await);
- subject:  cold cache again with ``RISO_HEALTH_STALE_WHILE_REFRESH=1``: the
            previous result answers at once while one round refreshes it;
- subject:  ``GET /ready`` with ``RISO_HEALTH_CACHE_TTL=0`` (single-flight only);
- reference: the same server, one probe at a time: what one round costs alone.

Reported: p50/p99 client latency (connect to last byte; it includes queueing
behind the other 199 connections on the one worker, which dominates it), p50/p99
server-side time (ASGI call to last body byte), and the database queries the
bursts caused, counted twice: by the check itself and by PostgreSQL (from
``xact_commit`` and ``sessions`` of the fresh database in ``pg_stat_database``).
The database check keeps one pooled connection, as riso-db's engine does.
Goal: p99 under 5 ms with caching, and one query per cache window.

Run: ``.venv/bin/python bench/health_ready.py`` (PostgreSQL on 127.0.0.1:5432
with trust auth, Redis on 127.0.0.1:6379). Bounded to well under two minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import struct
import sys
import time
from typing import Any

from benchkit import argument_parser, http_request, percentiles_ms, request_once

from riso.testing import ServerProcess, clean_environ, fresh_database

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_SERVER_URL = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BURST = 200
BURSTS = 8
SPACING = 1.1  # seconds between bursts: past the default 1 s cache window
SEQUENTIAL = 200  # probes of the one-at-a-time scenario (the cost of one round)


# -- PostgreSQL and Redis over raw asyncio streams ----------------------------------


async def _pg_messages(reader: asyncio.StreamReader) -> list[tuple[bytes, bytes]]:
    """Messages up to ReadyForQuery; raises on an error response."""
    messages = []
    while True:
        kind = await reader.readexactly(1)
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        payload = await reader.readexactly(length - 4)
        if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
            raise ConnectionError("PostgreSQL asks for a password (trust auth expected)")
        if kind == b"E":
            raise ConnectionError("PostgreSQL error " + payload.decode(errors="replace"))
        messages.append((kind, payload))
        if kind == b"Z":
            return messages


class PgConnection:
    """One PostgreSQL connection speaking the simple query protocol."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        params = f"user\0{PG_USER}\0database\0{self.database}\0\0".encode()
        self.writer.write(struct.pack("!ii", 8 + len(params), 196608) + params)
        await _pg_messages(self.reader)

    async def query(self, sql: str) -> list[list[str | None]]:
        assert self.reader is not None
        assert self.writer is not None
        query = sql.encode() + b"\0"
        self.writer.write(b"Q" + struct.pack("!i", 4 + len(query)) + query)
        rows: list[list[str | None]] = []
        for kind, payload in await _pg_messages(self.reader):
            if kind == b"D":
                (count,) = struct.unpack("!h", payload[:2])
                pos, row = 2, []
                for _ in range(count):
                    (size,) = struct.unpack("!i", payload[pos : pos + 4])
                    pos += 4
                    row.append(None if size < 0 else payload[pos : pos + size].decode())
                    pos += max(size, 0)
                rows.append(row)
        return rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.write(b"X" + struct.pack("!i", 4))
            self.writer.close()
        self.reader = self.writer = None


async def pg_query(database: str, sql: str) -> list[list[str | None]]:
    """Run one simple query on its own connection; the rows as text."""
    conn = PgConnection(database)
    try:
        await conn.connect()
        return await conn.query(sql)
    finally:
        conn.close()


class PgPool:
    """A one-connection pool, as an engine's pool keeps one: reconnects after any error."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.conn: PgConnection | None = None
        self.lock = asyncio.Lock()

    async def select_one(self) -> None:
        async with self.lock:
            try:
                if self.conn is None:
                    self.conn = PgConnection(self.database)
                    await self.conn.connect()
                await self.conn.query("SELECT 1")
            except BaseException:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


async def redis_ping() -> None:
    reader, writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        if await reader.readline() != b"+PONG\r\n":
            raise ConnectionError("Redis did not answer PONG")
    finally:
        writer.close()


# -- the server (subprocess) ----------------------------------------------------------


def serve(port: int, database: str) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    import riso
    import riso_health

    counts = {"db": 0, "broker": 0}
    timings: dict[str, list[float]] = {}

    pool = PgPool(database)

    async def database_check(app: Any) -> None:
        counts["db"] += 1
        await pool.select_one()

    async def broker_check(app: Any) -> None:
        counts["broker"] += 1
        await redis_ping()

    class Timing:
        """Server-side time per path: ASGI call to the last body byte."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["path"].startswith("/bench"):
                await self.app(scope, receive, send)
                return
            start = time.perf_counter()

            async def timed_send(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    timings.setdefault(scope["path"], []).append(time.perf_counter() - start)

            await self.app(scope, receive, timed_send)

    app = FastAPI()
    deps: riso.Feature[Any] = riso.Feature(
        name="deps",
        core=">=0.1,<0.2",
        health_checks=[
            riso.HealthCheck("database", database_check),
            riso.HealthCheck("broker", broker_check),
        ],
    )
    riso.include(app, features=[riso_health.feature, deps])
    app.add_middleware(Timing)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "pass"}

    @app.get("/bench/stats")
    async def stats() -> JSONResponse:
        body = {"counts": dict(counts), "timings": {k: list(v) for k, v in timings.items()}}
        counts.update(db=0, broker=0)
        timings.clear()
        pool.close()  # its backend exits and flushes its statistics
        return JSONResponse(body)

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        backlog=4096,
    )


# -- the client -----------------------------------------------------------------------


async def probe(port: int, path: str) -> tuple[float, int]:
    """One probe on a new connection: (seconds from connect to last byte, status)."""
    start = time.perf_counter()
    status, _ = await request_once(port, http_request("GET", path, close=True))
    return time.perf_counter() - start, status


async def burst(port: int, path: str, size: int = BURST) -> list[tuple[float, int]]:
    return await asyncio.gather(*(probe(port, path) for _ in range(size)))


async def stats(port: int) -> dict[str, Any]:
    _, body = await request_once(port, http_request("GET", "/bench/stats", close=True))
    return json.loads(body)  # type: ignore[no-any-return]


async def pg_counters(database: str) -> tuple[int, int]:
    """(transactions committed, sessions) PostgreSQL counted on the database.

    Statistics reach pg_stat_database when a backend exits (or, idle, after a
    while): the server closes its pooled connection when asked for its
    statistics, and this pause lets that backend exit.
    """
    await asyncio.sleep(1.2)
    rows = await pg_query(
        database,
        f"SELECT xact_commit, sessions FROM pg_stat_database WHERE datname = '{database}'",
    )
    return int(rows[0][0] or 0), int(rows[0][1] or 0)


def server_process(database: str, env: dict[str, str]) -> ServerProcess:
    """This script serving (``--serve``) on a free port; ``with`` starts and stops it."""
    argv = [sys.executable, __file__, "--serve", "{port}", "--database", database]
    return ServerProcess(argv, env=clean_environ(os.environ, **env), ready_path="/ping")


async def scenario(
    label: str, port: int, path: str, database: str, spacing: float, size: int = BURST
) -> dict[str, Any]:
    await burst(port, path, size)  # warm-up (connections, first round), not counted
    await stats(port)
    before = await pg_counters(database)
    latencies: list[float] = []
    codes: set[int] = set()
    count = BURSTS if size > 1 else SEQUENTIAL
    for i in range(count):
        if i and spacing:
            await asyncio.sleep(spacing)
        for elapsed, code in await burst(port, path, size):
            latencies.append(elapsed)
            codes.add(code)
    server = await stats(port)
    after = await pg_counters(database)
    # Every session commits one transaction as it starts, then one per query;
    # the reading session itself (2 transactions, 1 session) shows in the next
    # reading. So queries = transactions - sessions - 1.
    xacts, sessions = after[0] - before[0], after[1] - before[1]
    pg_counted = xacts - sessions - 1
    handler = server["timings"].get(path, [])
    p50, p99 = percentiles_ms(latencies, (50, 99))
    (server_p99,) = percentiles_ms(handler, (99,))  # NaN when none
    return {
        "label": label,
        "probes": len(latencies),
        "codes": sorted(codes),
        "p50": p50,
        "p99": p99,
        "server_p99": server_p99,
        "server_median": statistics.median(handler) * 1000 if handler else float("nan"),
        "db_checks": server["counts"]["db"],
        "broker_checks": server["counts"]["broker"],
        "pg_queries": pg_counted,
    }


async def run() -> None:
    await redis_ping()
    results = []
    with fresh_database(PG_SERVER_URL) as url:
        database = url.rsplit("/", 1)[1]
        for env, runs in (
            (
                {},
                [
                    ("baseline GET /ping", "/ping", 0.0, BURST),
                    ("/ready warm cache", "/ready", 0.0, BURST),
                    ("/ready cold cache", "/ready", SPACING, BURST),
                ],
            ),
            (
                {"RISO_HEALTH_STALE_WHILE_REFRESH": "1"},
                [("/ready cold, stale ok", "/ready", SPACING, BURST)],
            ),
            (
                {"RISO_HEALTH_CACHE_TTL": "0"},
                [
                    ("/ready no cache", "/ready", 0.0, BURST),
                    ("one probe at a time", "/ready", 0.0, 1),
                ],
            ),
        ):
            with server_process(database, env) as server:
                for label, path, spacing, size in runs:
                    results.append(
                        await scenario(label, server.port, path, database, spacing, size)
                    )

    print(f"{BURSTS} bursts of {BURST} concurrent probes (new connection each), one uvicorn worker")
    head = (
        f"{'scenario':<24}{'probes':>7}{'codes':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'srv p50':>9}{'srv p99':>9}{'db checks':>10}{'pg query':>9}{'pings':>7}"
    )
    print(head)
    for r in results:
        print(
            f"{r['label']:<24}{r['probes']:>7}{','.join(map(str, r['codes'])):>11}"
            f"{r['p50']:>9.2f}{r['p99']:>9.2f}{r['server_median']:>9.3f}{r['server_p99']:>9.3f}"
            f"{r['db_checks']:>10}{r['pg_queries']:>9}{r['broker_checks']:>7}"
        )
    base = results[0]
    for r in results[1:-1]:
        print(
            f"{r['label']} vs /ping: client p99 {r['p99'] / base['p99']:.2f}x, "
            f"server p99 {r['server_p99'] / base['server_p99']:.2f}x, "
            f"database queries per burst of {BURST}: {r['db_checks'] / BURSTS:.2f} "
            f"(PostgreSQL counted {r['pg_queries']} in {BURSTS} bursts)"
        )
    alone = results[-1]
    print(
        f"one round alone (no burst, {alone['probes']} probes): server p50 "
        f"{alone['server_median']:.2f} ms, p99 {alone['server_p99']:.2f} ms, "
        f"{alone['db_checks']} queries"
    )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--serve", type=int)
    parser.add_argument("--database")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database)
        return
    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


if __name__ == "__main__":
    main()
