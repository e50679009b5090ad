"""The request body limit riso.include installs: JSON 413s, streaming cut-off, per-route limits."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

import riso
from riso._checks import CheckContext, limit_checks
from riso._settings import CoreSettings

MIB = 1024 * 1024


class Item(BaseModel):
    text: str


def make_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[FastAPI, list[int]]:
    """An app whose endpoints record how many body bytes they read."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = FastAPI()
    riso.include(app, features=[])
    read: list[int] = []

    @app.post("/items")
    async def items(item: Item) -> dict[str, int]:
        read.append(len(item.text))
        return {"length": len(item.text)}

    @app.post("/uploads")
    @riso.body_limit(5 * MIB)
    async def upload(request: Request) -> dict[str, int]:
        size = len(await request.body())
        read.append(size)
        return {"size": size}

    @app.post("/tiny")
    @riso.body_limit(10)
    async def tiny(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    router = APIRouter(prefix="/api")

    @router.post("/unlimited")
    @riso.body_limit(None)
    async def unlimited(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.include_router(router)
    return app, read


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


def assert_413(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json() == {"detail": f"Request body too large: the limit is {limit} bytes"}


async def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, read = make_app(monkeypatch)
    async with client(app) as c:
        response = await c.post(
            "/items", content=b"x" * (MIB + 1), headers={"content-type": "application/json"}
        )
        assert_413(response, MIB)
        assert read == []
        ok = await c.post("/items", json={"text": "y" * (MIB - 100)})
        assert ok.status_code == 200


async def test_a_streamed_body_is_cut_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    app, read = make_app(monkeypatch)
    async with client(app) as c:
        response = await c.post(
            "/items", content=chunks(3 * MIB), headers={"content-type": "application/json"}
        )
        assert_413(response, MIB)
        assert read == []
        small = await c.post("/uploads", content=chunks(1000))
        assert small.json() == {"size": 1000}


async def test_a_route_limit_raises_or_lowers_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(monkeypatch)
    async with client(app) as c:
        assert (await c.post("/uploads", content=b"u" * (4 * MIB))).json() == {"size": 4 * MIB}
        assert (await c.post("/uploads", content=chunks(4 * MIB))).json() == {"size": 4 * MIB}
        assert_413(await c.post("/uploads", content=b"u" * (5 * MIB + 1)), 5 * MIB)
        assert_413(await c.post("/uploads", content=chunks(6 * MIB)), 5 * MIB)
        assert_413(await c.post("/tiny", content=b"0123456789!"), 10)
        assert (await c.post("/tiny", content=b"0123456789")).json() == {"size": 10}
        big = await c.post("/api/unlimited", content=chunks(3 * MIB))
        assert big.json() == {"size": 3 * MIB}


async def test_the_setting_changes_or_disables_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(monkeypatch, RISO_MAX_BODY_SIZE="100")
    async with client(app) as c:
        assert_413(await c.post("/items", json={"text": "z" * 200}), 100)
        assert (await c.post("/items", json={"text": "z"})).status_code == 200
    monkeypatch.setenv("RISO_MAX_BODY_SIZE", "0")
    app, _ = make_app(monkeypatch)
    async with client(app) as c:
        assert (await c.post("/items", json={"text": "z" * (2 * MIB)})).status_code == 200


async def test_fastapis_own_route_limit_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(monkeypatch)
    if "max_body_size" not in inspect.signature(app.post).parameters:
        pytest.skip("this FastAPI has no per-route max_body_size")

    @app.post("/native", max_body_size=3 * MIB)
    async def native(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async with client(app) as c:
        assert (await c.post("/native", content=b"n" * (2 * MIB))).json() == {"size": 2 * MIB}
        response = await c.post("/native", content=chunks(4 * MIB))
        assert response.status_code == 413


async def test_a_413_from_a_handler_that_swallows_the_error_is_still_a_413(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = make_app(monkeypatch)

    @app.post("/careless")
    async def careless(request: Request) -> dict[str, Any]:
        try:
            await request.body()
        except Exception:
            return {"read": "failed, answered 200 anyway"}
        return {"read": "ok"}

    async with client(app) as c:
        assert_413(await c.post("/careless", content=chunks(2 * MIB)), MIB)


def test_body_limit_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match="bytes"):
        riso.body_limit(-1)


@pytest.mark.parametrize(
    ("env", "ids"),
    [
        ({}, []),
        ({"RISO_MAX_BODY_SIZE": "0"}, ["core.W001"]),
        ({"RISO_LIMIT_CONCURRENCY": "0", "RISO_HEAD_TIMEOUT": "0"}, ["core.W002", "core.W005"]),
        (
            {"RISO_MAX_HEAD_SIZE": "0", "RISO_MAX_HEADER_COUNT": "0", "RISO_BODY_TIMEOUT": "0"},
            ["core.W003", "core.W004", "core.W006"],
        ),
    ],
)
def test_check_deploy_reports_limits_that_are_off(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], ids: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = FastAPI()
    ctx = CheckContext(app=app, settings={}, core=CoreSettings(), deploy=True)
    assert [m.id for m in limit_checks(ctx)] == ids
    assert list(limit_checks(CheckContext(app, {}, CoreSettings(), deploy=False))) == []
