"""The package's shape: public names, import cost, settings, checks, CLI, feature wiring."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from riso_test_support.auth import SECRET, AppFactory, serve
from sqlalchemy import select

import riso
import riso_auth
import riso_db
from riso._cli_support import CliState
from riso_auth._checks import check_settings
from riso_auth._cli import cli
from riso_auth._settings import AuthSettings


def test_all_is_complete() -> None:
    public = {n for n in dir(riso_auth) if not n.startswith("_")} - {"annotations"}
    assert public == set(riso_auth.__all__)
    for name in riso_auth.__all__:
        assert getattr(riso_auth, name) is not None


def test_import_is_light_and_has_no_side_effects() -> None:
    code = textwrap.dedent(
        """
        import sys, threading
        before = threading.active_count()
        import riso_auth
        heavy = ("uvicorn", "httpx", "pytest", "celery", "redis", "riso_tasks", "riso_obs")
        heavy = [m for m in heavy if m in sys.modules]
        assert not heavy, heavy
        assert threading.active_count() == before
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr


def test_feature_declaration() -> None:
    f = riso_auth.feature
    assert f.name == "auth"
    assert f.requires == ("db",)
    assert f.migrations is not None
    assert f.migrations.versions == "riso_auth.migrations"
    assert {t.name for t in f.migrations.metadata()} == {  # type: ignore[misc]
        "auth_users",
        "auth_sessions",
        "auth_refresh_tokens",
        "auth_denylist",
        "auth_one_time_tokens",
        "auth_rate_limits",
        "auth_identities",
        "auth_oidc_flows",
        "auth_roles",
        "auth_user_roles",
        "auth_api_keys",
    }


def test_requires_db() -> None:
    with pytest.raises(riso.RisoError, match="db"):
        riso.include(FastAPI(), features=[riso_auth.feature])


def test_migration_revision_ids_are_short() -> None:
    import importlib
    import pkgutil

    import riso_auth.migrations as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"riso_auth.migrations.{info.name}")
        assert len(module.revision) <= 32


async def test_migrations_match_the_models(app_factory: AppFactory, sqlite_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    app = app_factory(sqlite_url)
    engine = riso_auth.runtime(app).database.sync_engine
    metadata = MetaData()
    for table in riso_auth.feature.migrations.metadata():  # type: ignore[union-attr,misc]
        table.to_metadata(metadata)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if d[0] != "remove_table"] == []


# --- settings ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"RISO_AUTH_SECRET_KEY": "short"}, "RISO_AUTH_SECRET_KEY"),
        ({"RISO_AUTH_ALGORITHMS": "HS256,RS256"}, "mixes algorithm families"),
        ({"RISO_AUTH_ALGORITHMS": "none"}, "unsupported algorithm"),
        ({"RISO_AUTH_ALGORITHMS": "RS256"}, "PRIVATE_KEY_FILE"),
        ({"RISO_AUTH_ARGON2_MEMORY_COST": "8192", "RISO_AUTH_ARGON2_TIME_COST": "2"}, "OWASP"),
        ({"RISO_AUTH_PASSWORD_MIN_LENGTH": "4"}, "RISO_AUTH_PASSWORD_MIN_LENGTH"),
        ({"RISO_AUTH_RATE_LOGIN_ADDRESS": "lots"}, "RISO_AUTH_RATE_LOGIN_ADDRESS"),
        ({"RISO_AUTH_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip"}, "not-an-ip"),
        ({"RISO_AUTH_COOKIE_NAME": "session"}, "__Host-"),
        ({"RISO_AUTH_COOKIE_SAMESITE": "none"}, "RISO_AUTH_COOKIE_SAMESITE"),
    ],
)
def test_bad_settings_fail_include(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RISO_DB_URL", "sqlite://")
    with pytest.raises(riso.SettingsError) as info:
        riso.include(FastAPI(), features=[riso_db.feature, riso_auth.feature])
    assert fragment in str(info.value)
    if "SECRET_KEY" in env:
        assert env["RISO_AUTH_SECRET_KEY"] not in str(info.value)


@pytest.mark.parametrize(
    ("memory", "time_cost"), [(19456, 2), (47104, 1), (12288, 3), (9216, 4), (7168, 5), (65536, 3)]
)
def test_owasp_argon2_configurations_accepted(memory: int, time_cost: int) -> None:
    AuthSettings(argon2_memory_cost=memory, argon2_time_cost=time_cost)


def test_missing_secret_in_development_generates_one_quietly_at_include(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the notice is a log line when the app starts (tests/system/test_quiet_output.py)
    monkeypatch.setenv("RISO_DB_URL", "sqlite://")
    app = FastAPI()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        riso.include(app, features=[riso_db.feature, riso_auth.feature])
    assert riso_auth.runtime(app).secret_generated


async def test_missing_secret_under_production_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_DB_URL", "sqlite://")
    monkeypatch.setenv("RISO_ENV", "production")
    app = FastAPI()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        riso.include(app, features=[riso_db.feature, riso_auth.feature])
    with pytest.raises(riso_auth.AuthConfigError, match="RISO_AUTH_SECRET_KEY is required"):
        async with app.router.lifespan_context(app):
            pass


# --- system checks ---------------------------------------------------------------
def _ids(settings: AuthSettings, *, deploy: bool = False, production: bool = False) -> list[str]:
    core = riso.CoreSettings(env="production" if production else "development")
    ctx = riso.CheckContext(app=None, settings={"auth": settings}, core=core, deploy=deploy)
    return sorted(m.id for m in check_settings(ctx))


@pytest.mark.parametrize(
    ("settings", "deploy", "production", "expected"),
    [
        (AuthSettings(), False, False, ["auth.W001"]),
        (AuthSettings(), True, False, ["auth.E001", "auth.W003"]),
        (AuthSettings(), False, True, ["auth.E001", "auth.W003"]),
        (AuthSettings(secret_key=SECRET), False, False, []),
        (AuthSettings(secret_key=SECRET, mail_sender="m:s"), True, True, []),
        (
            AuthSettings(secret_key=SECRET, mail_sender="m:s", rate_limit_enabled=False),
            True,
            True,
            ["auth.E002"],
        ),
        (AuthSettings(secret_key=SECRET, revocation_cache_seconds=5), False, False, ["auth.W002"]),
    ],
)
def test_system_checks(
    settings: AuthSettings, deploy: bool, production: bool, expected: list[str]
) -> None:
    assert _ids(settings, deploy=deploy, production=production) == expected


def test_riso_check_deploy_reports_e001(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riso._cli import cli as riso_cli

    _write_app(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISO_ENV", "production")
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'check.db'}")
    result = CliRunner().invoke(riso_cli, ["--app", "authapp:app", "check", "--deploy"])
    assert "auth.E001" in result.output
    assert result.exit_code != 0


# --- CLI -------------------------------------------------------------------------------
def _write_app(folder: Path) -> None:
    (folder / "authapp.py").write_text(
        textwrap.dedent(
            """
            import riso, riso_db, riso_auth
            from fastapi import FastAPI
            app = FastAPI()
            riso.include(app, features=[riso_db.feature, riso_auth.feature])
            """
        )
    )
    sys.modules.pop("authapp", None)


@pytest.fixture
def cli_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", SECRET)
    _write_app(tmp_path)
    from riso_test_support.auth import migrate

    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    migrate(app)
    riso_db.database(app).sync_engine.dispose()
    return tmp_path


def _invoke(folder: Path, args: list[str], given: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, input=given, obj=CliState("authapp:app", cwd=folder))
    return result.exit_code, result.output


async def test_create_user_prompts_without_echo(
    cli_app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _invoke(
        cli_app,
        ["create-user", "Admin@Example.com", "--superuser"],
        "a long admin secret\na long admin secret\n",
    )
    assert code == 0, output
    assert "created superuser admin@example.com" in output
    assert "a long admin secret" not in output  # hidden input
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    async with serve(app) as client:
        r = await client.post(
            "/auth/token", data={"username": "admin@example.com", "password": "a long admin secret"}
        )
        assert r.status_code == 200
        async with riso_auth.runtime(app).database.sessionmaker() as session:
            user = (await session.execute(select(riso_auth.User))).scalar_one()
        assert user.is_superuser
        assert user.is_verified


@pytest.mark.parametrize(
    ("args", "given", "message"),
    [
        (
            ["create-user", "not-an-email"],
            "a long admin secret\na long admin secret\n",
            "not a valid email",
        ),
        (["create-user", "x@example.com"], "password\npassword\n", "too common"),
        (["create-user", "x@example.com"], "short\nshort\n", "at least 8"),
    ],
)
def test_create_user_errors_are_one_line(
    cli_app: Path, args: list[str], given: str, message: str
) -> None:
    code, output = _invoke(cli_app, args, given)
    assert code == 1
    assert message in output
    assert "Traceback" not in output


def test_create_user_twice(cli_app: Path) -> None:
    assert (
        _invoke(
            cli_app, ["create-user", "t@example.com"], "a long admin secret\na long admin secret\n"
        )[0]
        == 0
    )
    code, output = _invoke(
        cli_app, ["create-user", "T@example.com"], "another long secret\nanother long secret\n"
    )
    assert code == 1
    assert "already exists" in output


def test_create_user_mismatched_confirmation(cli_app: Path) -> None:
    code, output = _invoke(
        cli_app,
        ["create-user", "m@example.com"],
        "a long admin secret\ndifferent entirely\na long admin secret\na long admin secret\n",
    )
    assert code == 0
    assert "do not match" in output.lower() or "match" in output.lower()
