"""riso-db: one-row read through ``DbSession`` vs a hand-made ``AsyncSession``.

Both endpoints run in the same app, on the same engine and pool, through the
full ASGI stack (httpx.ASGITransport, in process, no network); rounds
alternate between them so drift hits both. Prints requests/second, the
throughput ratio DbSession / hand-made (wall clock, median of paired rounds)
and the same ratio from this process's CPU time per request (steadier when
the machine is shared) for SQLite and, when it answers on 127.0.0.1:5432,
PostgreSQL (a temporary database, dropped afterwards). Goal: ratio >= 0.95.

    uv run --no-sync python bench/db_session.py [--requests 150] [--rounds 20]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from benchkit import argument_parser, interleaved, listening, median_ratio
from fastapi import FastAPI, Request
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

import riso
import riso_db
from riso.testing import fresh_database


class BenchRow(riso_db.PrimaryKeyMixin, riso_db.Model):
    __tablename__ = "bench_row"

    name: Mapped[str] = mapped_column(String(50))


def build(url: str) -> FastAPI:
    os.environ["RISO_DB_URL"] = url
    app = FastAPI()
    riso.include(app, features=[riso_db.feature])
    db = riso_db.database(app)
    riso_db.Model.metadata.create_all(db.sync_engine, tables=[BenchRow.__table__])
    with db.sync_sessionmaker() as session:
        session.add(BenchRow(id=1, name="one"))
        session.commit()
    db.sync_engine.dispose()

    @app.get("/dbsession")
    async def with_dbsession(session: riso_db.DbSession) -> dict[str, str]:
        row = await session.scalar(select(BenchRow).where(BenchRow.id == 1))
        assert row is not None
        return {"name": row.name}

    @app.get("/handmade")
    async def handmade(request: Request) -> dict[str, str]:
        async with riso_db.database(request.app).sessionmaker() as session:
            row = await session.scalar(select(BenchRow).where(BenchRow.id == 1))
            assert row is not None
            return {"name": row.name}

    return app


async def measure(app: FastAPI, requests: int, rounds: int) -> dict[str, float]:
    """Median throughputs, and the median of the per-round (paired) ratios."""
    transport = httpx.ASGITransport(app=app)
    results: dict[str, list[float]] = {"/dbsession": [], "/handmade": []}
    cpu_per_request: dict[str, list[float]] = {"/dbsession": [], "/handmade": []}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        for path in results:  # warm up both
            for _ in range(200):
                (await client.get(path)).raise_for_status()
        for order in interleaved(list(results), rounds):
            for path in order:
                start, cpu = time.perf_counter(), time.process_time()
                for _ in range(requests):
                    response = await client.get(path)
                    assert response.status_code == 200
                results[path].append(requests / (time.perf_counter() - start))
                cpu_per_request[path].append((time.process_time() - cpu) / requests)
    figures = {path: statistics.median(values) for path, values in results.items()}
    figures["ratio"] = median_ratio(results["/dbsession"], results["/handmade"])
    # CPU time of this process per request: steadier than wall time on a shared machine
    figures["cpu_ratio"] = median_ratio(cpu_per_request["/handmade"], cpu_per_request["/dbsession"])
    return figures


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database's URL, or None when nothing answers on port 5432."""
    if not listening(5432):
        yield None
        return
    with fresh_database("postgresql://postgres@127.0.0.1:5432/postgres") as url:
        yield url


def report(label: str, url: str, requests: int, rounds: int) -> None:
    figures = asyncio.run(measure(build(url), requests, rounds))
    dbsession, handmade = figures["/dbsession"], figures["/handmade"]
    print(
        f"{label:<10} DbSession {dbsession:8.0f} req/s   hand-made {handmade:8.0f} req/s   "
        f"ratio {figures['ratio']:.3f} (median of {rounds} paired rounds); "
        f"CPU-time throughput ratio {figures['cpu_ratio']:.3f}"
    )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--requests", type=int, default=150, help="requests per round")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", f"sqlite:///{folder}/bench.db", args.requests, args.rounds)
    with postgres_database() as url:
        if url is None:
            print("postgresql skipped: nothing answers on 127.0.0.1:5432")
        else:
            report("postgresql", url, args.requests, args.rounds)


if __name__ == "__main__":
    main()
