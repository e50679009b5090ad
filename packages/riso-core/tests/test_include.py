"""include() on explicit features: lifespans, middleware, idempotence, registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic_settings import SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import riso

CORE = ">=0.1,<0.2"


def recording_lifespan(
    name: str, events: list[str], *, fail: bool = False
) -> Callable[[Any, Any], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI, settings: Any) -> AsyncIterator[Mapping[str, Any]]:
        events.append(f"start {name}")
        if fail:
            raise RuntimeError(f"{name} cannot start")
        try:
            yield {name: True}
        finally:
            events.append(f"stop {name}")

    return lifespan


def test_lifespans_start_in_order_app_innermost_and_stop_in_reverse() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start app")
        yield
        events.append("stop app")

    app = FastAPI(lifespan=app_lifespan)
    features = [
        riso.Feature(
            name="b", core=CORE, requires=("a",), lifespan=recording_lifespan("b", events)
        ),
        riso.Feature(name="a", core=CORE, lifespan=recording_lifespan("a", events)),
        riso.Feature(name="c", core=CORE, lifespan=recording_lifespan("c", events)),
    ]
    registry = riso.include(app, features=features)

    @app.get("/state")
    async def state(request: Request) -> dict[str, bool]:
        return {key: request.state._state[key] for key in ("a", "b", "c")}

    with TestClient(app) as client:
        assert registry.phase == "running"
        assert client.get("/state").json() == {"a": True, "b": True, "c": True}
    assert events == [
        "start a", "start b", "start c", "start app",
        "stop app", "stop c", "stop b", "stop a",
    ]  # fmt: skip
    assert registry.phase == "stopped"


def test_a_feature_that_fails_to_start_shuts_down_the_ones_before_it() -> None:
    events: list[str] = []
    app = FastAPI()
    riso.include(
        app,
        features=[
            riso.Feature(name="a", core=CORE, lifespan=recording_lifespan("a", events)),
            riso.Feature(name="b", core=CORE, lifespan=recording_lifespan("b", events, fail=True)),
            riso.Feature(name="c", core=CORE, lifespan=recording_lifespan("c", events)),
        ],
    )
    with pytest.raises(RuntimeError, match="b cannot start"), TestClient(app):
        pass
    assert events == ["start a", "start b", "stop a"]


def test_phase_is_stopping_before_any_feature_stops() -> None:
    seen: list[str] = []
    app = FastAPI()

    @asynccontextmanager
    async def watch(app: FastAPI, settings: None) -> AsyncIterator[None]:
        yield
        seen.append(riso.registry(app).phase)

    riso.include(app, features=[riso.Feature(name="w", core=CORE, lifespan=watch)])
    with TestClient(app):
        pass
    assert seen == ["stopping"]


def test_including_twice_is_a_no_op() -> None:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> str:
        return "pong"

    feature = riso.Feature(name="p", core=CORE, routers=[router])
    app = FastAPI()
    first = riso.include(app, features=[feature])
    routes = len(app.routes)
    second = riso.include(app, features=[feature])
    assert first is second
    assert len(app.routes) == routes


def test_including_after_the_app_started_is_an_error() -> None:
    app = FastAPI()
    with TestClient(app), pytest.raises(riso.AppStateError, match="before the app starts"):
        riso.include(app, features=[])


def test_registry_requires_include() -> None:
    with pytest.raises(riso.RisoError, match=r"riso.include\(app\) has not been called"):
        riso.registry(FastAPI())


class Tag:
    """Pure-ASGI middleware appending its name to a response header."""

    name = ""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-order", self.name.encode())]
            await send(message)

        await self.app(scope, receive, tagged)


def tag(name: str) -> type[Tag]:
    return type(f"Tag_{name}", (Tag,), {"name": name})


async def test_middleware_is_added_once_outermost_stage_first_then_feature_order() -> None:
    app = FastAPI()
    app.add_middleware(tag("app"))  # the app's own middleware stays innermost
    features = [
        riso.Feature(
            name="z",
            core=CORE,
            middleware=[
                riso.Middleware(tag("z-inner"), "inner"),
                riso.Middleware(tag("z-outer"), "outer"),
            ],
        ),
        riso.Feature(
            name="a",
            core=CORE,
            middleware=[
                riso.Middleware(tag("a-security"), "security"),
                riso.Middleware(tag("a-telemetry"), "telemetry"),
                riso.Middleware(tag("a-skipped"), "inner", when=lambda settings: False),
            ],
        ),
    ]
    riso.include(app, features=features)

    @app.get("/")
    async def root() -> str:
        return "ok"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        response = await client.get("/")
    # Each layer appends as the response goes out: innermost first.
    assert response.headers.get_list("x-order") == [
        "app", "z-inner", "a-security", "a-telemetry", "z-outer",
    ]  # fmt: skip


class Outer:
    """Records what an outer-stage middleware sees of an unhandled error."""

    seen: ClassVar[list[int]] = []

    def __init__(self, app: ASGIApp, settings: Any) -> None:
        self.app = app
        self.header = settings.header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                Outer.seen.append(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-outer", self.header)]
            await send(message)

        await self.app(scope, receive, send_with_header)


class OuterSettings(riso.Settings):
    model_config = SettingsConfigDict(env_prefix="RISO_OUTER_")
    header: str = "default"


def test_outer_middleware_gets_settings_and_sees_the_500_of_an_unhandled_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_OUTER_HEADER", "configured")
    Outer.seen = []
    app = FastAPI()
    feature = riso.Feature(
        name="outer",
        core=CORE,
        settings=OuterSettings,
        middleware=[riso.Middleware(Outer, "outer")],
    )
    riso.include(app, features=[feature])

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-outer"] == "configured"
    assert Outer.seen == [500]


def test_on_include_runs_with_validated_settings_before_routers() -> None:
    calls: list[tuple[str, int]] = []
    app = FastAPI()

    def hook(app: FastAPI, settings: OuterSettings) -> None:
        calls.append((settings.header, len(app.routes)))

    router = APIRouter()
    router.add_api_route("/x", lambda: None)
    feature = riso.Feature(
        name="outer", core=CORE, settings=OuterSettings, on_include=hook, routers=[router]
    )
    riso.include(app, features=[feature])
    # the feature's one router is added after the hook ran
    assert calls == [("default", len(app.routes) - 1)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad-Name"}, "must be lowercase letters"),
        ({"name": "loop", "requires": ("loop",)}, "cannot require itself"),
        ({"name": "wrong", "settings": OuterSettings}, "must use env_prefix 'RISO_WRONG_'"),
    ],
)
def test_invalid_declarations_fail_at_definition(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        riso.Feature(core=CORE, **kwargs)


def test_unknown_middleware_stage_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown middleware stage 'middle'"):
        riso.Middleware(Tag, "middle")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"\xff\xfe", {}),
        (b"\xff\xfe", {"content-type": "application/json"}),
        (b"{not json", {"content-type": "application/json"}),
        (b"\xc3\x28", {"content-type": "text/plain"}),
        # regression (found by the system fuzzer): FastAPI answered an undeclared 400
        (b"\r\xa0\xb0f", {"content-type": "application/json"}),
        (b'{"title": "\xff"}', {"content-type": "application/json"}),
    ],
)
def test_undecodable_bodies_are_a_422_never_a_500(content: bytes, headers: dict[str, str]) -> None:
    from pydantic import BaseModel

    class Item(BaseModel):
        title: str

    app = FastAPI()
    riso.include(app, features=[])

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/items", content=content, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert {"loc", "msg", "type"} <= set(detail[0])  # the shape the schema declares for 422


def test_other_http_errors_keep_fastapis_answer() -> None:
    from fastapi import HTTPException as FastAPIHTTPException

    app = FastAPI()
    riso.include(app, features=[])

    @app.get("/teapot")
    async def teapot() -> None:
        raise FastAPIHTTPException(400, "There was an error parsing the tea", headers={"X-T": "1"})

    with TestClient(app) as client:
        response = client.get("/teapot")
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the tea"}
    assert response.headers["x-t"] == "1"


def test_an_apps_own_validation_handler_is_kept() -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import PlainTextResponse

    async def mine(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("mine", status_code=400)

    app = FastAPI(exception_handlers={RequestValidationError: mine})
    riso.include(app, features=[])
    assert app.exception_handlers[RequestValidationError] is mine
