"""The three endpoints over real HTTP through the ASGI stack (httpx + ASGITransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import riso
import riso_health
from riso import HealthCheck

pytestmark = pytest.mark.anyio

SECRET = "s3cret"


async def ok(app: Any) -> None:
    return None


async def refused(app: Any) -> None:
    raise ConnectionRefusedError(f"postgresql://app:{SECRET}@db.internal/prod refused")


async def hang(app: Any) -> None:
    await asyncio.Event().wait()


async def self_cancelled(app: Any) -> None:
    raise asyncio.CancelledError()


def build(
    checks: Sequence[HealthCheck] = (),
    *,
    app_checks: Sequence[HealthCheck] = (),
    extra: Sequence[riso.Feature[Any]] = (),
) -> FastAPI:
    app = FastAPI()
    features: list[riso.Feature[Any]] = [riso_health.feature, *extra]
    if checks:
        features.append(riso.Feature(name="deps", core=">=0.1,<0.2", health_checks=checks))
    riso.include(app, features=features)
    for c in app_checks:
        riso_health.add_check(app, c)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def get(app: FastAPI, path: str, **kwargs: Any) -> httpx.Response:
    async with client(app) as c:
        return await c.get(path, **kwargs)


STATUS_TABLE = [
    # (checks, HTTP status, body status)
    ([], 200, "pass"),
    ([HealthCheck("db", ok)], 200, "pass"),
    ([HealthCheck("db", refused)], 503, "fail"),
    ([HealthCheck("cache", refused, critical=False)], 200, "warn"),
    ([HealthCheck("db", ok), HealthCheck("cache", refused, critical=False)], 200, "warn"),
    ([HealthCheck("db", refused), HealthCheck("cache", ok, critical=False)], 503, "fail"),
    ([HealthCheck("db", hang, timeout=0.05)], 503, "fail"),
    ([HealthCheck("cache", hang, critical=False, timeout=0.05)], 200, "warn"),
    ([HealthCheck("db", self_cancelled)], 503, "fail"),
    ([HealthCheck("db", ok), HealthCheck("cache", self_cancelled, critical=False)], 200, "warn"),
]


@pytest.mark.parametrize(("checks", "code", "status"), STATUS_TABLE)
async def test_readiness_status_table(checks: list[HealthCheck], code: int, status: str) -> None:
    response = await get(build(checks), "/ready")
    assert response.status_code == code
    assert response.headers["content-type"] == "application/health+json"
    assert response.headers["cache-control"] == "no-store"
    # details are off by default: the status and nothing else
    assert response.json() == {"status": status}


async def test_liveness_runs_no_check_even_when_every_dependency_is_down() -> None:
    calls: list[str] = []

    async def counted_failure(app: Any) -> None:
        calls.append("db")
        raise ConnectionRefusedError("down")

    app = build([HealthCheck("db", counted_failure)])
    response = await get(app, "/health")
    assert (response.status_code, response.json()) == (200, {"status": "pass"})
    assert response.headers["content-type"] == "application/health+json"
    assert calls == []
    assert (await get(app, "/ready")).status_code == 503
    assert calls == ["db"]


async def test_startup_passes_once_running_without_checking_dependencies() -> None:
    app = build([HealthCheck("db", refused)])
    response = await get(app, "/startup")
    assert (response.status_code, response.json()) == (200, {"status": "pass"})


async def test_details_show_each_check_in_health_json_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build(
        [HealthCheck("db", ok), HealthCheck("cache", refused, critical=False)],
        app_checks=[HealthCheck("payments", hang, timeout=0.05, critical=False)],
    )
    body = (await get(app, "/ready")).json()
    assert body["status"] == "warn"
    assert set(body["checks"]) == {"db:responseTime", "cache:responseTime", "payments:responseTime"}
    (db,) = body["checks"]["db:responseTime"]
    assert db["status"] == "pass"
    assert db["observedUnit"] == "ms"
    assert isinstance(db["observedValue"], float)
    assert db["time"].endswith("Z")
    assert "output" not in db
    (cache,) = body["checks"]["cache:responseTime"]
    assert cache["status"] == "warn"
    assert cache["output"] == "ConnectionRefusedError: postgresql://***@db.internal/prod refused"
    (payments,) = body["checks"]["payments:responseTime"]
    assert payments["output"] == "timed out after 50 ms"


async def test_same_check_name_from_two_owners_is_qualified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build([HealthCheck("database", ok)], app_checks=[HealthCheck("database", refused)])
    body = (await get(app, "/ready")).json()
    assert set(body["checks"]) == {"deps.database:responseTime", "app.database:responseTime"}
    assert body["status"] == "fail"


async def test_app_checks_by_decorator_async_sync_with_or_without_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", "always")
    app = build()
    seen: list[str] = []

    @riso_health.check(app)
    async def async_with_app(the_app: FastAPI) -> None:
        assert the_app is app
        seen.append("async_with_app")

    @riso_health.check(app, name="async-no-arg")
    async def _a() -> None:
        seen.append("async-no-arg")

    @riso_health.check(app, name="sync-with-app")
    def _b(the_app: FastAPI) -> None:
        assert the_app is app
        seen.append("sync-with-app")

    @riso_health.check(app, name="sync-failing", critical=False)
    def _c() -> None:
        raise OSError("disk gone")

    response = await get(app, "/ready")
    body = response.json()
    assert response.status_code == 200
    assert sorted(seen) == ["async-no-arg", "async_with_app", "sync-with-app"]
    statuses = {key: entries[0]["status"] for key, entries in body["checks"].items()}
    assert statuses == {
        "async_with_app:responseTime": "pass",
        "async-no-arg:responseTime": "pass",
        "sync-with-app:responseTime": "pass",
        "sync-failing:responseTime": "warn",
    }
    # the decorator returns the function unchanged
    assert async_with_app.__name__ == "async_with_app"


async def test_app_checks_through_a_feature_declaration() -> None:
    calls: list[int] = []

    async def own(app: Any) -> None:
        calls.append(1)

    mine = riso.Feature(name="myapp", core=">=0.1,<0.2", health_checks=[HealthCheck("own", own)])
    app = build(extra=[mine])
    assert (await get(app, "/ready")).status_code == 200
    assert calls == [1]


def test_defaults_keep_a_round_below_a_probe_s_one_second() -> None:
    settings = riso_health.HealthSettings()
    assert settings.timeout == 0.8
    assert settings.details == "never"
    assert settings.failure_threshold == 1
    assert HealthCheck("x", ok).timeout < settings.timeout < 1.0


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/ready", "/startup"])
async def test_wrong_method_is_a_json_405_not_a_500(path: str) -> None:
    async with client(build([HealthCheck("db", refused)])) as c:
        response = await c.post(path, content=b"{not json")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_query_parameters_cannot_turn_details_on() -> None:
    response = await get(
        build([HealthCheck("db", refused)]), "/ready", params={"details": "always", "full": "1"}
    )
    assert (response.status_code, response.json()) == (503, {"status": "fail"})


async def test_head_answers_like_get_without_a_body() -> None:
    async with client(build([HealthCheck("db", refused)])) as c:
        response = await c.head("/ready")
    assert response.status_code == 503
    assert response.content == b""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RISO_HEALTH_DETAILS", "sometimes"),
        ("RISO_HEALTH_TIMEOUT", "0"),
        ("RISO_HEALTH_TIMEOUT", "soon"),
        ("RISO_HEALTH_CACHE_TTL", "-1"),
        ("RISO_HEALTH_FAILURE_THRESHOLD", "0"),
        ("RISO_HEALTH_LOOP_LAG_MAX", "-0.5"),
    ],
)
def test_invalid_settings_name_the_variable_and_leave_the_app_untouched(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    app = FastAPI()
    with pytest.raises(riso.SettingsError) as info:
        riso.include(app, features=[riso_health.feature])
    assert variable in str(info.value)
    assert not any(getattr(r, "path", None) == "/ready" for r in app.routes)
    assert getattr(app.state, "riso_health", None) is None


BAD_REGISTRATIONS = [
    lambda app: riso_health.add_check(app, HealthCheck("", ok)),
    lambda app: riso_health.add_check(app, HealthCheck("db:latency", ok)),
    lambda app: riso_health.add_check(app, HealthCheck("x" * 65, ok)),
    lambda app: riso_health.add_check(app, HealthCheck("slow", ok, timeout=0)),
    lambda app: riso_health.add_check(app, "not a check"),
    lambda app: riso_health.add_check(app, HealthCheck("ok", "not callable")),  # type: ignore[arg-type]
    lambda app: riso_health.check(app, name="bad name!")(ok),
    lambda app: riso_health.http_check("ftp://files.example/x"),
    lambda app: riso_health.http_check("no-scheme.example/health"),
    lambda app: riso_health.http_check("http://host:99999/"),
    lambda app: riso_health.http_check("http://h/", headers={"X": "a\r\nInjected: 1"}),
    lambda app: riso_health.disk_space_check("/", -1),
]


@pytest.mark.parametrize("register", BAD_REGISTRATIONS)
async def test_bad_registrations_raise_one_clear_error_and_keep_existing_checks(
    register: Any,
) -> None:
    app = build(app_checks=[HealthCheck("kept", ok)])
    with pytest.raises(riso_health.CheckRegistrationError):
        register(app)
    assert [c.name for c in riso_health.state(app).app_checks] == ["kept"]
    assert (await get(app, "/ready")).status_code == 200


def test_duplicate_app_check_name_is_refused() -> None:
    app = build(app_checks=[HealthCheck("db", ok)])
    with pytest.raises(riso_health.CheckRegistrationError, match="already has"):
        riso_health.add_check(app, HealthCheck("db", refused))


# -- details modes and secrets ----------------------------------------------------


async def authenticate(request: Any) -> Any:
    header = request.headers.get("authorization", "")
    if header == "Bearer operator":
        return SimpleNamespace(scopes=["health:read"])
    if header == "Bearer user":
        return SimpleNamespace(scopes=[])
    if header == "Bearer explode":
        raise RuntimeError(f"token store postgresql://u:{SECRET}@h/db down")
    if header == "Bearer slow":
        await asyncio.Event().wait()
    return None


#: stands in for riso-auth: a feature named "auth" providing authenticate_request
AUTH = riso.Feature(
    name="auth",
    core=">=0.1,<0.2",
    on_include=lambda app, _settings: riso.registry(app).provide(
        riso.REQUEST_AUTHENTICATOR, authenticate
    ),
)


@pytest.mark.parametrize(
    ("mode", "scope", "header", "with_auth", "shown"),
    [
        ("never", None, "Bearer operator", True, False),
        ("always", None, None, False, True),
        ("authenticated", None, None, True, False),
        ("authenticated", None, "Bearer operator", True, True),
        ("authenticated", None, "Bearer user", True, True),
        ("authenticated", "health:read", "Bearer user", True, False),
        ("authenticated", "health:read", "Bearer operator", True, True),
        ("authenticated", None, "Bearer forged", True, False),
        ("authenticated", None, "Bearer explode", True, False),
        ("authenticated", None, "Bearer slow", True, False),
        ("authenticated", None, "\x00garbage", True, False),
        ("authenticated", None, "Bearer operator", False, False),
    ],
)
async def test_who_sees_details(
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    scope: str | None,
    header: str | None,
    with_auth: bool,
    shown: bool,
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", mode)
    monkeypatch.setenv("RISO_HEALTH_TIMEOUT", "0.2")
    if scope:
        monkeypatch.setenv("RISO_HEALTH_DETAILS_SCOPE", scope)
    app = build([HealthCheck("db", refused)], extra=[AUTH] if with_auth else [])
    headers = {"Authorization": header} if header is not None else {}
    for path in ("/ready", "/startup", "/health"):
        response = await get(app, path, headers=headers)
        assert response.status_code in (200, 503)
    response = await get(app, "/ready", headers=headers)
    assert response.status_code == 503
    assert ("checks" in response.json()) is shown
    assert SECRET not in response.text


SECRET_BEARING = [
    ConnectionRefusedError(f"connect to postgresql://app:{SECRET}@db:5432/prod failed"),
    ValueError(f"host=db user=app password={SECRET} dbname=prod"),
    RuntimeError(f"redis://:{SECRET}@cache:6379/0\nTraceback (most recent call last):\n  File"),
    KeyError({"password": SECRET}),
    OSError(),
]


def _raiser(exc: BaseException) -> Any:
    async def check(app: Any) -> None:
        try:
            raise RuntimeError(f"inner mysql://root:{SECRET}@db/x")
        except RuntimeError as inner:
            raise exc from inner

    return check


@pytest.mark.parametrize("mode", ["never", "always", "authenticated"])
@pytest.mark.parametrize("exc", SECRET_BEARING, ids=lambda e: type(e).__name__)
async def test_no_dsn_password_or_traceback_in_any_body(
    monkeypatch: pytest.MonkeyPatch, mode: str, exc: BaseException
) -> None:
    monkeypatch.setenv("RISO_HEALTH_DETAILS", mode)
    app = build(
        [HealthCheck("db", _raiser(exc)), HealthCheck("cache", _raiser(exc), critical=False)],
        extra=[AUTH],
    )
    headers = {"Authorization": "Bearer operator"}
    bodies = [(await get(app, path, headers=headers)).text for path in ("/ready", "/health")]
    if mode != "never":
        assert "checks" in json.loads(bodies[0])
    for text in bodies:
        for forbidden in (SECRET, "Traceback", 'File "', "app:", "root:"):
            assert forbidden not in text


@pytest.mark.parametrize(
    ("env", "deploy", "with_auth", "ids"),
    [
        ({}, False, False, []),
        ({}, True, False, []),
        ({"RISO_HEALTH_DETAILS": "authenticated"}, False, False, ["health.W001"]),
        ({"RISO_HEALTH_DETAILS": "authenticated"}, False, True, []),
        ({"RISO_HEALTH_TIMEOUT": "1.5"}, False, False, ["health.W002"]),
        ({"RISO_HEALTH_DETAILS": "always"}, False, False, []),
        ({"RISO_HEALTH_DETAILS": "always"}, True, False, ["health.W003"]),
    ],
)
def test_system_checks(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    deploy: bool,
    with_auth: bool,
    ids: list[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = build(extra=[AUTH] if with_auth else [])
    registry = riso.registry(app)
    ctx = riso.CheckContext(app=app, settings=registry.settings, core=registry.core, deploy=deploy)
    messages = [m for check in riso_health.feature.system_checks for m in check(ctx)]
    assert [m.id for m in messages] == ids
    assert all(m.hint for m in messages)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://payments.internal:8080/ping", "payments.internal"),
        ("https://user:pw@api.example.com/health?x=1", "api.example.com"),
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://[::1]:9000/", "1"),
    ],
)
def test_http_check_is_named_after_its_host_never_its_credentials(url: str, name: str) -> None:
    check = riso_health.http_check(url)
    assert check.name == name
    assert check.critical is True
    assert check.timeout == 0.5
