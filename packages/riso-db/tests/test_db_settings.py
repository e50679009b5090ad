"""Settings and URLs: the spellings users paste, the errors they get, no password leaks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from fastapi import FastAPI

import riso
import riso_db
from riso_db import DbSettings, parse_url


@pytest.mark.parametrize(
    ("raw", "dialect", "async_driver", "sync_driver"),
    [
        ("postgres://u:p@db/app", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgresql://u:p@db/app", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/app", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@db/app", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"),
        ("mysql://u:p@db/app", "mysql", "mysql+aiomysql", "mysql+pymysql"),
        ("mariadb://u:p@db/app", "mysql", "mysql+aiomysql", "mysql+pymysql"),
        ("mysql+pymysql://u@db/app", "mysql", "mysql+aiomysql", "mysql+pymysql"),
        ("sqlite:///./riso.db", "sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"),
        ("sqlite:////tmp/x.db", "sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"),
        ("sqlite://", "sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"),
    ],
)
def test_one_url_gives_async_and_sync_drivers(
    raw: str, dialect: str, async_driver: str, sync_driver: str
) -> None:
    urls = parse_url(raw)
    assert urls.dialect == dialect
    assert urls.async_url.drivername == async_driver
    assert urls.sync_url.drivername == sync_driver
    assert urls.async_url.database == urls.sync_url.database


def test_mysql_gets_utf8mb4_unless_told_otherwise() -> None:
    assert parse_url("mysql://u@h/d").sync_url.query["charset"] == "utf8mb4"
    assert parse_url("mysql://u@h/d?charset=latin1").sync_url.query["charset"] == "latin1"


@pytest.mark.parametrize(
    ("raw", "error", "names"),
    [
        ("oracle://scott:tiger@db/orcl", riso_db.UnsupportedUrlError, "riso-db[postgres]"),
        ("mongodb://u:hunter2@db/app", riso_db.UnsupportedUrlError, "unsupported"),
        ("postgresql+pg8000://u:hunter2@db/app", riso_db.UnsupportedUrlError, "asyncpg"),
        ("mysql+asyncmy://u:hunter2@db/app", riso_db.UnsupportedUrlError, "aiomysql"),
        ("not a url hunter2", riso_db.UnsupportedUrlError, "cannot be parsed"),
    ],
)
def test_unusable_urls_are_one_line_errors(raw: str, error: type[Exception], names: str) -> None:
    with pytest.raises(error) as info:
        parse_url(raw)
    message = str(info.value)
    assert names in message
    assert "\n" not in message
    assert "hunter2" not in message
    assert "tiger" not in message


@pytest.mark.parametrize(
    ("raw", "blocked", "extra"),
    [
        ("postgresql://u:hunter2@db/app", "psycopg", "pip install 'riso-db[postgres]'"),
        ("postgresql://u:hunter2@db/app", "asyncpg", "pip install 'riso-db[postgres]'"),
        ("mysql://u:hunter2@db/app", "aiomysql", "pip install 'riso-db[mysql]'"),
        ("mysql://u:hunter2@db/app", "pymysql", "pip install 'riso-db[mysql]'"),
    ],
)
def test_missing_driver_names_the_extra(
    raw: str, blocked: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed
    with pytest.raises(riso_db.MissingDriverError) as info:
        parse_url(raw)
    assert extra in str(info.value)
    assert blocked in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_url_fails_include_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "oracle://scott:hunter2@db/orcl")
    app = FastAPI()
    with pytest.raises(riso.SettingsError) as info:
        riso.include(app, features=[riso_db.feature])
    message = str(info.value)
    assert "RISO_DB_URL or DATABASE_URL" in message
    assert "riso-db[mysql]" in message
    assert "hunter2" not in message
    assert not hasattr(app.state, "riso")  # the app was not touched


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "sqlite:///./riso.db"),
        ({"DATABASE_URL": "postgres://a@h/fallback"}, "postgres://a@h/fallback"),
        (
            {"DATABASE_URL": "postgres://a@h/fallback", "RISO_DB_URL": "mysql://a@h/first"},
            "mysql://a@h/first",
        ),
    ],
)
def test_url_precedence(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = DbSettings()
    assert settings.url.get_secret_value() == expected
    assert settings.is_default_url == (not env)


def test_pool_settings_reach_the_engines(
    make_app: Callable[..., FastAPI], tmp_path: object
) -> None:
    app = make_app(
        f"sqlite:///{tmp_path}/pool.db",
        RISO_DB_POOL_SIZE="3",
        RISO_DB_MAX_OVERFLOW="2",
        RISO_DB_POOL_RECYCLE="60",
    )
    db = riso_db.database(app)
    for pool in (db.engine.pool, db.sync_engine.pool):
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool._max_overflow == 2  # type: ignore[attr-defined]
        assert pool._recycle == 60
        assert pool._pre_ping is True


def test_sqlite_foreign_keys_and_wal(make_app: Callable[..., FastAPI], tmp_path: object) -> None:
    from sqlalchemy import text

    db = riso_db.database(make_app(f"sqlite:///{tmp_path}/pragma.db"))
    with db.sync_engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.sync_engine.dispose()


def test_password_never_rendered(make_app: Callable[..., FastAPI], pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:hunter2@")
    app = make_app(url)
    db = riso_db.database(app)
    settings = riso.registry(app).settings_of("db")
    for text in (
        str(db.url),
        repr(db.url),
        repr(db),
        str(db.urls),
        repr(settings),
        str(settings.model_dump()),
    ):
        assert "hunter2" not in text
    assert "***" in str(db.url)


def test_riso_features_output_has_no_password(tmp_path: object) -> None:
    """`riso features` with a password in DATABASE_URL prints no secret."""
    import os

    app_module = f"{tmp_path}/pwapp.py"
    with open(app_module, "w") as handle:
        handle.write(
            "import riso, riso_db\nfrom fastapi import FastAPI\n"
            "app = FastAPI()\nriso.include(app, features=[riso_db.feature])\n"
        )
    result = subprocess.run(
        [sys.executable, "-c", "from riso._cli import cli; cli.main(prog_name='riso')", "features"],
        env={
            **os.environ,
            "DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x",
            "RISO_APP": "pwapp:app",
        },
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "db" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_installed_riso_command_has_the_db_group(pg_url: str, tmp_path: object) -> None:
    """The real ``riso`` script finds ``riso db`` through the entry point; no password shown."""
    import os
    from pathlib import Path

    script = Path(sys.executable).parent / "riso"
    folder = Path(str(tmp_path))
    (folder / "scriptapp.py").write_text(
        "import riso, riso_db\nfrom fastapi import FastAPI\n"
        "app = FastAPI()\nriso.include(app, features=[riso_db.feature])\n"
    )
    url = pg_url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
    result = subprocess.run(
        [str(script), "db", "upgrade"],
        env={**os.environ, "DATABASE_URL": url, "RISO_APP": "scriptapp:app"},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
