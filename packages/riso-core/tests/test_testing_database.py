"""riso.testing.fresh_database on the real PostgreSQL and MariaDB servers."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from riso.testing import fresh_database


def _pg_databases(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def _mysql_databases(url: str) -> set[str]:
    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def test_postgres_database_is_created_then_dropped(postgres_url: str) -> None:
    with fresh_database(postgres_url) as url:
        name = urlsplit(url).path.lstrip("/")
        assert name.startswith("riso_")
        assert url.startswith(postgres_url.rsplit("/", 1)[0] + "/")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (id int)")  # an empty database of its own
        assert name in _pg_databases(postgres_url)
    assert name not in _pg_databases(postgres_url)


def test_driver_suffix_is_kept(postgres_url: str) -> None:
    server = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with fresh_database(server) as url:
        assert url.startswith("postgresql+psycopg://")
        assert urlsplit(url).path.lstrip("/") in _pg_databases(postgres_url)


def test_mariadb_database_is_created_then_dropped(mariadb_url: str) -> None:
    with fresh_database(mariadb_url) as url:
        name = urlsplit(url).path.lstrip("/")
        assert url.startswith("mysql://")
        assert name in _mysql_databases(mariadb_url)
    assert name not in _mysql_databases(mariadb_url)


def test_other_engines_are_refused() -> None:
    with pytest.raises(ValueError, match="sqlite"), fresh_database("sqlite:///x.db"):
        pass
