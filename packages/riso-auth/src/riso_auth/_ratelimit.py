"""Fixed-window rate limits whose counters live in the database.

Every instance of the app shares the counters, so a limit holds however many
processes serve the app. A counter row is ``(bucket, window_start) -> count``;
rows of past windows are deleted now and then.

A fixed window lets up to twice the limit through around a window boundary;
for brute-force protection (limits of a few attempts per quarter hour) that is
an accepted trade for one upsert per attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import random
import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from riso_auth._models import RateCounter
from riso_auth._settings import AuthSettings, Rate

_TABLE = cast(Table, RateCounter.__table__)

#: attempts when the database reports a deadlock
_ATTEMPTS = 4
#: one hit in this many also deletes expired counter rows
_CLEANUP_ONE_IN = 50


def account_key(email: str) -> str:
    """A fixed-length bucket part for an account, so no email is stored in counters."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:32]


def window(rate: Rate, now: float) -> tuple[int, int]:
    """The start of the current window and the seconds left in it (at least 1)."""
    start = int(now) // rate.period * rate.period
    return start, max(1, start + rate.period - int(now))


class RateLimiter:
    """Counts events per bucket in the database."""

    def __init__(self, engine: AsyncEngine, dialect: str) -> None:
        self.engine = engine
        self.dialect = dialect

    async def hit(self, bucket: str, rate: Rate) -> int:
        """Count one event; return the count in the current window, this one included."""
        now = time.time()
        start, _ = window(rate, now)
        for attempt in range(_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    count = await self._increment(conn, bucket, start, start + rate.period)
                    if random.randrange(_CLEANUP_ONE_IN) == 0:  # noqa: S311 - housekeeping
                        await conn.execute(
                            delete(RateCounter).where(RateCounter.expires < int(now))
                        )
                return count
            except OperationalError:  # a deadlock between racing first hits: try again
                if attempt == _ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0.001, 0.02))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _increment(self, conn: AsyncConnection, bucket: str, start: int, expires: int) -> int:
        table = _TABLE
        values = {"bucket": bucket, "window_start": start, "count": 1, "expires": expires}
        if self.dialect in ("postgresql", "sqlite"):
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                pg_stmt = pg_insert(table).values(values)
                stmt: Any = pg_stmt.on_conflict_do_update(
                    index_elements=["bucket", "window_start"],
                    set_={"count": table.c.count + 1},
                )
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                lite_stmt = sqlite_insert(table).values(values)
                stmt = lite_stmt.on_conflict_do_update(
                    index_elements=["bucket", "window_start"],
                    set_={"count": table.c.count + 1},
                )
            return int((await conn.execute(stmt.returning(table.c.count))).scalar_one())
        # MySQL / MariaDB: an atomic upsert, then read the count back
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        upsert = mysql_insert(table).values(values)
        await conn.execute(upsert.on_duplicate_key_update(count=table.c.count + 1))
        found = await conn.execute(
            select(RateCounter.count).where(
                RateCounter.bucket == bucket, RateCounter.window_start == start
            )
        )
        return int(found.scalar_one())

    async def counts(self, buckets: Sequence[tuple[str, Rate]]) -> list[int]:
        """The current count of each bucket (without counting anything)."""
        now = time.time()
        keys = [(bucket, window(rate, now)[0]) for bucket, rate in buckets]
        stmt = select(RateCounter.bucket, RateCounter.window_start, RateCounter.count).where(
            or_(*(and_(RateCounter.bucket == b, RateCounter.window_start == w) for b, w in keys))
        )
        async with self.engine.connect() as conn:
            rows = {(r[0], r[1]): int(r[2]) for r in await conn.execute(stmt)}
        return [int(rows.get(key, 0)) for key in keys]


class RedisRateLimiter:
    """The same counters in Redis: INCR with an expiry per window (``riso-auth[redis]``)."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis_asyncio

        self.client: Any = redis_asyncio.Redis.from_url(url)

    @staticmethod
    def _key(bucket: str, start: int) -> str:
        return f"riso:auth:rl:{bucket}:{start}"

    async def hit(self, bucket: str, rate: Rate) -> int:
        start, _ = window(rate, time.time())
        key = self._key(bucket, start)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rate.period + 1)
            count, _ = await pipe.execute()
        return int(count)

    async def counts(self, buckets: Sequence[tuple[str, Rate]]) -> list[int]:
        now = time.time()
        keys = [self._key(bucket, window(rate, now)[0]) for bucket, rate in buckets]
        values = await self.client.mget(keys)
        return [int(v) if v is not None else 0 for v in values]

    async def close(self) -> None:
        await self.client.aclose()


def client_address(connection: HTTPConnection, settings: AuthSettings) -> str:
    """The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy.

    X-Forwarded-For is read right to left, skipping trusted proxies; the first
    address not trusted is the client. A client can prepend anything it likes,
    which is why the left part is never believed.
    """
    peer = connection.client.host if connection.client else "unknown"
    trusted = settings.trusted_proxy_networks
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [
        part.strip()
        for header in connection.headers.getlist("x-forwarded-for")
        for part in header.split(",")
    ]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _in(hop, trusted):
            break
    return client


def _in(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
