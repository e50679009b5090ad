"""Rate limits: fixed-window counters behind one ``RateLimiter`` protocol, and the rules.

The counters live in the database (``DatabaseRateLimiter``) or in Redis
(``RedisRateLimiter``, ``riso-auth[redis]``); either way every instance of the
app shares them, so a limit holds however many processes serve the app. A
database counter row is ``(bucket, window_start) -> count``; rows of past
windows are deleted now and then. ``RateLimits`` applies the settings' rates,
the login-attempt guard among them, on whichever limiter it is given.

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
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import HTTPConnection

from riso_auth._exceptions import RateLimitedError
from riso_auth._models import RateCounter
from riso_auth._settings import AuthSettings, Rate

if TYPE_CHECKING:
    from riso_db import Database

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


class RateLimiter(Protocol):
    """Counts events per bucket in fixed windows."""

    async def hit(self, bucket: str, rate: Rate) -> int:
        """Count one event; return the count in the current window, this one included."""
        ...

    async def counts(self, buckets: Sequence[tuple[str, Rate]]) -> list[int]:
        """The current count of each bucket (without counting anything)."""
        ...

    async def close(self) -> None:
        """Release what the limiter holds open (it is not used afterwards)."""
        ...


def make_limiter(settings: AuthSettings, database: Database) -> RateLimiter:
    """Redis when ``RISO_AUTH_REDIS_URL`` is set, else the database."""
    if settings.redis_url is not None:
        return RedisRateLimiter(settings.redis_url.get_secret_value())
    return DatabaseRateLimiter(database)


class DatabaseRateLimiter:
    """Counts events per bucket in the database (``auth_rate_limits``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def hit(self, bucket: str, rate: Rate) -> int:
        """Count one event; return the count in the current window, this one included."""
        now = time.time()
        start, _ = window(rate, now)
        for attempt in range(_ATTEMPTS):
            try:
                async with self._database.engine.begin() as conn:
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
        dialect = self._database.dialect
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
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
        async with self._database.engine.connect() as conn:
            rows = {(r[0], r[1]): int(r[2]) for r in await conn.execute(stmt)}
        return [int(rows.get(key, 0)) for key in keys]

    async def close(self) -> None:
        """Nothing to release: the connections are the database's."""


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


class RateLimits:
    """The settings' rates applied on a limiter; every check is a no-op when limits are off."""

    def __init__(self, settings: AuthSettings, limiter: RateLimiter) -> None:
        self._settings = settings
        self.limiter = limiter

    async def limit(self, bucket: str, rate_name: str) -> None:
        """Count one event in ``bucket``; raise RateLimitedError past the limit."""
        if not self._settings.rate_limit_enabled:
            return
        rate = self._settings.rate(rate_name)
        count = await self.limiter.hit(bucket, rate)
        if count > rate.limit:
            raise RateLimitedError(retry_after(rate.period))

    async def check_login_allowed(self, email: str, address: str) -> None:
        """Refuse a login attempt before the password is even looked at.

        Three counters: every attempt per address (spraying), failures per
        (account, address), failures per account. Past the per-account limit
        only addresses that have not failed for this account may still try, so
        an attacker can lock out the addresses he uses, not the victim's; those
        fresh tries are capped per account (``rate_login_account_fresh_address``),
        so N addresses cannot make N more guesses.
        """
        settings = self._settings
        if not settings.rate_limit_enabled:
            return
        await self.limit(f"login:addr:{address}", "login_address")
        acct = account_key(email)
        pair_rate = settings.rate("login_account_address")
        acct_rate = settings.rate("login_account")
        pair, total = await self.limiter.counts(
            [(f"login:fail:{acct}:{address}", pair_rate), (f"login:fail:{acct}", acct_rate)]
        )
        if pair >= pair_rate.limit:
            raise RateLimitedError(retry_after(pair_rate.period))
        if total >= acct_rate.limit:
            if pair > 0:
                raise RateLimitedError(retry_after(acct_rate.period))
            # a fresh address past the account limit: its try is counted when it
            # is made, so racing addresses cannot all slip under the cap
            await self.limit(f"login:fresh:{acct}", "login_account_fresh_address")

    async def record_login_failure(self, email: str, address: str) -> None:
        if not self._settings.rate_limit_enabled:
            return
        acct = account_key(email)
        await self.limiter.hit(
            f"login:fail:{acct}:{address}", self._settings.rate("login_account_address")
        )
        await self.limiter.hit(f"login:fail:{acct}", self._settings.rate("login_account"))


def retry_after(period: int) -> int:
    """Seconds until the current window of ``period`` ends (at least 1)."""
    return max(1, period - int(time.time()) % period)


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
