"""``riso auth users ...`` and ``riso auth roles ...`` against a real database."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, SECRET, migrate

import riso
import riso_auth
import riso_db
from riso._cli_support import CliState
from riso_auth._cli import cli
from riso_pytest import blocking


@pytest.fixture
def cli_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db_url: str
) -> Iterator[tuple[Path, FastAPI]]:
    monkeypatch.setenv("RISO_DB_URL", empty_db_url)
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    monkeypatch.setenv("RISO_AUTH_INSECURE_TEST_HASHING", "true")
    (tmp_path / "adminapp.py").write_text(
        textwrap.dedent(
            """
            import riso, riso_db, riso_auth
            from fastapi import FastAPI
            app = FastAPI()
            riso.include(app, features=[riso_db.feature, riso_auth.feature])
            """
        )
    )
    sys.modules.pop("adminapp", None)
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    migrate(app)
    yield tmp_path, app
    blocking(riso_db.database(app).dispose)


def _invoke(folder: Path, *args: str, given: str = "") -> tuple[int, str]:
    state = CliState("adminapp:app", cwd=folder)
    result = CliRunner().invoke(cli, list(args), input=given, obj=state)
    return result.exit_code, result.output


def _make(app: FastAPI, email: str, superuser: bool = False) -> int:
    runtime = riso_auth.runtime(app)

    async def make() -> int:
        try:
            return (await runtime.create_user(email, PASSWORD, is_superuser=superuser)).id
        finally:
            # on the loop that opened them, as the CLI does: an asyncpg or aiomysql
            # connection cannot be closed from the CLI's loop once this one has ended
            await runtime.database.dispose()

    return blocking(make)


def test_users_commands(cli_app: tuple[Path, FastAPI]) -> None:
    folder, app = cli_app
    root = _make(app, "root@example.com", superuser=True)
    other = _make(app, "other@example.com")
    code, out = _invoke(folder, "users", "list")
    assert code == 0, out
    assert [line.split()[1] for line in out.splitlines()] == [
        "root@example.com",
        "other@example.com",
    ]
    code, out = _invoke(folder, "users", "show", "Other@Example.com")
    assert code == 0, out
    assert f"{other}  other@example.com  active unverified" in out
    assert "password: set" in out
    # the last superuser stays
    for command in ("demote", "deactivate"):
        code, out = _invoke(folder, "users", command, "root@example.com")
        assert code == 1
        assert "no active superuser" in out
        assert "Traceback" not in out
    code, out = _invoke(folder, "users", "delete", str(root), "--yes")
    assert code == 1
    assert "no active superuser" in out
    assert _invoke(folder, "users", "promote", "other@example.com")[0] == 0
    code, out = _invoke(folder, "users", "list", "--superusers")
    assert len(out.splitlines()) == 2
    assert _invoke(folder, "users", "demote", "root@example.com")[0] == 0
    code, out = _invoke(folder, "users", "deactivate", "root@example.com")
    assert code == 0, out
    assert "deactivated root@example.com" in out
    code, out = _invoke(folder, "users", "list", "--inactive")
    assert [line.split()[1] for line in out.splitlines()] == ["root@example.com"]
    assert _invoke(folder, "users", "activate", str(root))[0] == 0
    # delete asks first
    code, out = _invoke(folder, "users", "delete", "root@example.com", given="n\n")
    assert code == 1
    code, out = _invoke(folder, "users", "delete", "root@example.com", given="y\n")
    assert code == 0, out
    assert "deleted root@example.com" in out
    code, out = _invoke(folder, "users", "list")
    assert [line.split()[1] for line in out.splitlines()] == ["other@example.com"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "show", "nobody@example.com"), "no account nobody@example.com"),
        (("users", "show", "424242"), "no account 424242"),
        (("users", "deactivate", "not an email"), "neither an account id nor an email"),
        (("roles", "grant", "nosuchrole", "1"), "no such role"),
        (("roles", "create", "Bad Name"), "role name"),
        (("roles", "create", "ok", "--scopes", 'a"b'), "not a valid scope"),
        (("roles", "delete", "nosuchrole"), "no such role"),
    ],
)
def test_refusals_are_one_line(
    cli_app: tuple[Path, FastAPI], args: tuple[str, ...], message: str
) -> None:
    folder, _ = cli_app
    code, out = _invoke(folder, *args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out


def test_roles_commands(cli_app: tuple[Path, FastAPI]) -> None:
    folder, app = cli_app
    _make(app, "member@example.com")
    code, out = _invoke(folder, "roles", "create", "editor", "--scopes", "items:write items:read")
    assert code == 0, out
    assert "created role editor (items:read items:write)" in out
    code, out = _invoke(folder, "roles", "create", "editor")
    assert code == 1
    assert "already exists" in out
    assert _invoke(folder, "roles", "grant", "editor", "member@example.com")[0] == 0
    code, out = _invoke(folder, "users", "list", "--role", "editor")
    assert "member@example.com" in out
    assert "roles=editor" in out
    assert _invoke(folder, "roles", "set-scopes", "editor", "items:read")[0] == 0
    code, out = _invoke(folder, "roles", "list")
    assert out.split() == ["editor", "items:read"]
    assert _invoke(folder, "roles", "revoke", "editor", "member@example.com")[0] == 0
    code, out = _invoke(folder, "users", "list", "--role", "editor")
    assert out == ""
    assert _invoke(folder, "roles", "delete", "editor")[0] == 0
    assert _invoke(folder, "roles", "list")[1] == ""
