"""riso/_compat_routing.py: feature routes are skipped for other paths; nothing else changes.

``test_fastapi_asks_the_included_router_first`` is the check on FastAPI's
internals: when it fails, FastAPI no longer matches an included router
through ``APIRouter.matches`` and the skip has stopped working (every riso
route is tried again before each of the app's): adapt the module before
widening the fastapi range.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.routing import Host, Mount, Route, WebSocketRoute

from riso._compat_routing import FeatureRoutes, path_start


def _feature_routers() -> list[APIRouter]:
    things = APIRouter(prefix="/things")

    @things.get("/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    @things.post("/")
    async def make_thing() -> dict[str, str]:
        return {"made": "yes"}

    status = APIRouter()

    @status.get("/status")
    async def get_status() -> dict[str, str]:
        return {"status": "ok"}

    @status.websocket("/status/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("live")
        await websocket.close()

    return [things, status]


def _app(routers: list[APIRouter] | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(FeatureRoutes(_feature_routers() if routers is None else routers))
    return app


@pytest.fixture
def routers() -> list[APIRouter]:
    return _feature_routers()


@pytest.fixture
def client(routers: list[APIRouter]) -> Iterator[TestClient]:
    app = _app(routers)

    @app.get("/notes")
    async def notes() -> list[str]:
        return ["app"]

    @app.get("/{anything:path}")
    async def fallback(anything: str) -> dict[str, str]:
        return {"fallback": anything}

    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/things/7", 200, {"thing": 7}),
        ("POST", "/things/", 200, {"made": "yes"}),
        ("GET", "/status", 200, {"status": "ok"}),
        ("GET", "/notes", 200, ["app"]),  # an app route after the features' ones
        ("GET", "/elsewhere/x", 200, {"fallback": "elsewhere/x"}),
        # the features' routes still win over the app's catch-all, as before
        ("GET", "/things/x", 422, None),
        ("DELETE", "/status", 405, None),  # a feature route's PARTIAL match comes first
    ],
)
def test_which_route_answers(
    client: TestClient, method: str, path: str, status: int, body: object
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status, answer.text
    if body is not None:
        assert answer.json() == body


def test_a_wrong_method_on_a_feature_route_is_still_405() -> None:
    with TestClient(_app()) as test_client:
        assert test_client.delete("/status").status_code == 405
        assert test_client.get("/nothing").status_code == 404


def test_the_slash_redirect_still_reaches_a_feature_route() -> None:
    with TestClient(_app()) as test_client:
        answer = test_client.post("/things", follow_redirects=False)
        assert answer.status_code == 307
        assert answer.headers["location"].endswith("/things/")


def test_websocket_routes_are_matched(client: TestClient) -> None:
    with client.websocket_connect("/status/live") as websocket:
        assert websocket.receive_text() == "live"


def test_the_app_mounted_under_a_root_path_still_routes() -> None:
    with TestClient(_app(), root_path="/api") as test_client:
        assert test_client.get("/api/status").json() == {"status": "ok"}
        assert test_client.get("/api/things/3").json() == {"thing": 3}


def test_openapi_lists_every_feature_route() -> None:
    paths = set(_app().openapi()["paths"])
    assert paths == {"/things/{thing_id}", "/things/", "/status"}


def _endpoint() -> None:  # pragma: no cover - never called
    pass


@pytest.mark.parametrize(
    ("route", "start"),
    [
        (Route("/auth/me", _endpoint), "/auth/me"),
        (Route("/auth/users/{user_id}", _endpoint), "/auth/users/"),
        (Route("/{anything:path}", _endpoint), "/"),
        (WebSocketRoute("/live/{room}", _endpoint), "/live/"),
        (Mount("/static", routes=[]), "/static"),
        (Mount("", routes=[]), ""),
        (Host("example.com", app=_endpoint), None),
    ],
)
def test_path_start(route: object, start: str | None) -> None:
    assert path_start(route) == start  # type: ignore[arg-type]


def test_a_route_whose_paths_cannot_be_told_turns_the_skip_off() -> None:
    router = APIRouter()
    router.routes.append(Host("example.com", app=_endpoint))
    assert FeatureRoutes([router]).path_starts == ("",)
    assert FeatureRoutes([]).path_starts == ()


def test_fastapi_asks_the_included_router_first(
    client: TestClient, routers: list[APIRouter]
) -> None:
    """An app path never reaches a feature route's own ``matches``."""
    asked: list[str] = []
    for router in routers:
        for route in router.routes:
            original = route.matches

            def counting(
                scope: object, original: object = original, route: object = route
            ) -> object:
                asked.append(getattr(route, "path", "?"))
                return original(scope)  # type: ignore[operator]

            route.matches = counting  # type: ignore[method-assign]
    assert client.get("/notes").json() == ["app"]
    assert asked == [], f"FastAPI matched feature routes for /notes: {asked}"
    assert client.get("/status").json() == {"status": "ok"}
    assert asked, "the feature routes were not found where FastAPI keeps them"
