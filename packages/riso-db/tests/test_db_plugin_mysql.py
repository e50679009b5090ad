"""The plugin's MariaDB connection: one PyMySQL connection, any event loop, any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from riso.testing import fresh_database
from riso_db import parse_url
from riso_db_pytest._mysql import LockedConnection
from riso_db_pytest._shared import SharedConnection, TransactionEndedError


@pytest.fixture
def database(mariadb_url: str) -> Iterator[str]:
    """A new database on the MariaDB server, with one table."""
    with fresh_database(mariadb_url) as url:
        engine = create_engine(parse_url(url).sync_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE plugin_probe (n INT PRIMARY KEY)"))
        engine.dispose()
        yield url


@pytest.fixture
def shared(database: str) -> Iterator[SharedConnection]:
    connection = SharedConnection(parse_url(database))
    connection.begin()
    try:
        yield connection
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()


async def _insert(shared: SharedConnection, n: int) -> None:
    async with shared.async_engine.begin() as conn:
        await conn.execute(text("INSERT INTO plugin_probe (n) VALUES (:n)"), {"n": n})


async def _numbers(shared: SharedConnection) -> list[int]:
    async with shared.async_engine.connect() as conn:
        return list((await conn.execute(text("SELECT n FROM plugin_probe ORDER BY n"))).scalars())


def _sync_numbers(shared: SharedConnection) -> list[int]:
    with shared.sync_engine.connect() as conn:
        return list(conn.execute(text("SELECT n FROM plugin_probe ORDER BY n")).scalars())


def test_aiomysql_connections_are_bound_to_their_loop(database: str) -> None:
    """Why the adapter exists: should aiomysql stop binding, it could go."""
    import aiomysql  # type: ignore[import-untyped]

    url = parse_url(database).sync_url

    async def connect() -> Any:
        return await aiomysql.connect(
            host=url.host, port=url.port or 3306, user=url.username, db=url.database
        )

    async def select_one(conn: Any) -> Any:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT 1")
            return await cursor.fetchone()

    opener = asyncio.new_event_loop()
    try:
        conn = opener.run_until_complete(connect())
        try:
            assert opener.run_until_complete(select_one(conn)) == (1,)
            with pytest.raises(RuntimeError, match="different loop"):
                asyncio.run(select_one(conn))  # the TestClient's portal, the test's loop...
        finally:
            conn.close()
            opener.run_until_complete(asyncio.sleep(0))  # the transport's close runs there
    finally:
        opener.close()


def test_one_connection_from_several_loops_and_the_sync_side(shared: SharedConnection) -> None:
    asyncio.run(_insert(shared, 1))  # the TestClient's portal, say
    asyncio.run(_insert(shared, 2))  # the test's own loop
    with shared.sync_engine.begin() as conn:
        conn.execute(text("INSERT INTO plugin_probe (n) VALUES (3)"))
    assert asyncio.run(_numbers(shared)) == [1, 2, 3]
    assert _sync_numbers(shared) == [1, 2, 3]


def test_the_rollback_undoes_commits(shared: SharedConnection) -> None:
    asyncio.run(_insert(shared, 7))
    shared.rollback()
    shared.begin()
    assert _sync_numbers(shared) == []


def test_a_failed_statement_leaves_the_earlier_ones(shared: SharedConnection) -> None:
    asyncio.run(_insert(shared, 1))
    with pytest.raises(Exception, match="Duplicate entry"):
        asyncio.run(_insert(shared, 1))
    assert _sync_numbers(shared) == [1]


def test_ddl_during_a_test_is_reported(shared: SharedConnection) -> None:
    asyncio.run(_insert(shared, 1))
    with shared.sync_engine.connect() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS plugin_probe_2 (n INT)"))
        conn.execute(text("DROP TABLE plugin_probe_2"))
        with pytest.raises(TransactionEndedError, match="commits implicitly"):
            conn.commit()  # its savepoint went with the implicit commit
    with pytest.raises(TransactionEndedError, match="what was written before it stays"):
        shared.rollback()
    shared.begin()
    shared.begin()
    assert _sync_numbers(shared) == [1]  # committed by MySQL: what the message says


def test_round_trips_from_threads_and_a_loop_do_not_interleave(shared: SharedConnection) -> None:
    """A sync endpoint's thread and the app's loop may use the connection at once."""
    raw: LockedConnection = shared._raw
    errors: list[BaseException] = []
    mismatches: list[tuple[int, object]] = []

    def worker(base: int) -> None:
        try:
            for n in range(base, base + 300):
                with raw.cursor() as cursor:
                    cursor.execute("SELECT %s, REPEAT('x', 2000)", (n,))
                    row = cursor.fetchone()
                if row is None or row[0] != n:
                    mismatches.append((n, row))
        except BaseException as exc:
            errors.append(exc)

    async def on_a_loop() -> list[int]:
        async with shared.async_engine.connect() as conn:
            found = []
            for n in range(300):
                value = (await conn.execute(text("SELECT :n"), {"n": n})).scalar_one()
                found.append(int(value))
            return found

    threads = [threading.Thread(target=worker, args=(base,)) for base in (1000, 2000, 3000)]
    for thread in threads:
        thread.start()
    try:
        assert asyncio.run(on_a_loop()) == list(range(300))
    finally:
        for thread in threads:
            thread.join()
    assert errors == []
    assert mismatches == []
