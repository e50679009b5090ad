"""Fixtures for riso-obs tests: global configuration reset around every test."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import riso_obs


class LogCapture:
    """Every line riso-obs wrote during the test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def access(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("logger") == "riso.access"]


@pytest.fixture(autouse=True)
def _reset_obs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("OTEL_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    riso_obs.reset()
    yield
    riso_obs.reset()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """JSON log lines captured in memory (RISO_OBS_LOG_FORMAT=json)."""
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", "json")
    capture = LogCapture()
    riso_obs.set_stream(capture.stream)
    return capture


class Login(BaseModel):
    email: str
    password: str


class TeapotError(Exception):
    """Raised by the test app; its handler answers 418 with the request id."""


def build_test_app() -> Any:
    """The app most tests use: route templates, a mount, threadpool work, errors, logging."""
    import logging

    import structlog

    import riso

    app = FastAPI()
    log = structlog.get_logger("riso.test")
    stdlib_log = logging.getLogger("riso.test.stdlib")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        log.info("item fetched", item_id=item_id)
        stdlib_log.info("stdlib says %s", item_id)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        secret_local = "hunter2-local-value"  # must never be rendered
        raise RuntimeError(f"kaboom {len(secret_local)}")

    def sync_dependency() -> str | None:
        return riso.current_request_id()

    @app.get("/threaded")
    def threaded(from_dependency: str | None = Depends(sync_dependency)) -> dict[str, Any]:
        return {"dependency": from_dependency, "endpoint": riso.current_request_id()}

    @app.exception_handler(TeapotError)
    async def teapot(_request: Request, _exc: TeapotError) -> JSONResponse:
        return JSONResponse({"detail": "teapot", "request_id": riso.current_request_id()}, 418)

    @app.get("/teapot")
    async def teapot_route() -> None:
        raise TeapotError

    @app.post("/login")
    async def login(body: Login, request: Request) -> dict[str, str]:
        log.info("login attempt", body=body.model_dump(), headers=dict(request.headers))
        stdlib_log.info("login for %s", body.email, extra={"password": body.password})
        return {"email": body.email}

    router = APIRouter(prefix="/api")

    @router.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    app.include_router(router)

    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.mount("/v1", sub)
    return app


@pytest.fixture
def make_app() -> Any:
    """Build the test app and include riso-obs (explicit feature list)."""
    import riso

    def make() -> Any:
        app = build_test_app()
        riso.include(app, features=[riso_obs.feature])
        return app

    return make
