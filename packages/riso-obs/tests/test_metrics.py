"""/metrics: Prometheus text, route-template labels, bounded label values, protection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

import riso
import riso_obs


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called ``name``, keyed by its sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_total(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (dict(k)["method"], dict(k)["endpoint"], dict(k)["status"]): v
        for k, v in samples(text, "http_requests_total").items()
    }


def test_metrics_parse_and_count_by_route_template(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/1")
        client.get("/items/2")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "http_requests",
        "http_request_duration_seconds",
        "http_requests_in_progress",
    } <= families
    counts = requests_total(response.text)
    assert counts[("GET", "/items/{item_id}", "200")] == 2
    assert not any("/items/1" in endpoint for _, endpoint, _ in counts)
    durations = samples(response.text, "http_request_duration_seconds_count")
    assert durations[(("endpoint", "/items/{item_id}"), ("method", "GET"))] == 2
    in_progress = samples(response.text, "http_requests_in_progress")
    assert in_progress == {(("method", "GET"),): 0.0}


def test_unmatched_paths_share_one_label(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        for path in ("/nope", "/wp-admin.php", "/nope/../etc/passwd", "/v1/unknown"):
            assert client.get(path).status_code == 404
        text = client.get("/metrics").text
    counts = requests_total(text)
    endpoints = {endpoint for _, endpoint, _ in counts}
    assert endpoints == {riso_obs.UNMATCHED}
    assert counts[("GET", riso_obs.UNMATCHED, "404")] == 4


def test_fastapi_docs_and_plain_routes_are_labelled_by_their_paths(logs: Any) -> None:
    # FastAPI puts its API routes in scope["route"], not the Starlette routes
    # it adds for its docs, nor those of app.add_route
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    app = FastAPI()

    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["name"])

    app.add_route("/plain/{name}", plain)
    riso.include(app, features=[riso_obs.feature])
    paths = ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"]
    with TestClient(app) as client:
        for path in [*paths, "/plain/a", "/plain/b", "/plain/a/b"]:
            client.get(path)
        assert client.post("/docs").status_code == 405
        text = client.get("/metrics").text
    expected = {("GET", path, "200"): 1.0 for path in paths}
    expected[("GET", "/plain/{name}", "200")] = 2.0
    expected[("GET", riso_obs.UNMATCHED, "404")] = 1.0
    # a method the route does not take: its path, as for an API route's 405
    expected[("POST", "/docs", "405")] = 1.0
    assert requests_total(text) == expected
    access = [(r["path"], r["route"]) for r in logs.records() if r.get("logger") == "riso.access"]
    assert access[:4] == [(path, path) for path in paths]


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/items/5", "/items/{item_id}"),
        ("/api/users/3", "/api/users/{user_id}"),
        ("/v1/things/abc", "/v1/things/{thing_id}"),
        ("/threaded", "/threaded"),
        ("/boom", "/boom"),
        ("/items/x", "/items/{item_id}"),
    ],
)
def test_endpoint_label_is_the_template_with_mount_prefix(
    make_app: Any, logs: Any, path: str, endpoint: str
) -> None:
    with TestClient(make_app()) as client:
        status = client.get(path).status_code
        text = client.get("/metrics").text
    assert requests_total(text) == {("GET", endpoint, str(status)): 1.0}
    [line] = logs.access()
    assert line["route"] == endpoint


def test_a_mount_with_path_parameters_labels_its_template_not_the_values(logs: Any) -> None:
    app = FastAPI()
    tenant = FastAPI()

    @tenant.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    tenant.mount("/files/{kind}", StaticFiles(directory=Path(__file__).parent))
    app.mount("/tenants/{tenant}", tenant)
    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        for name in ("acme", "globex"):
            assert client.get(f"/tenants/{name}/things/{name}").status_code == 200
            assert client.get(f"/tenants/{name}/files/{name}/conftest.py").status_code == 200
        text = client.get("/metrics").text
    assert requests_total(text) == {
        ("GET", "/tenants/{tenant}/things/{thing_id}", "200"): 2.0,
        ("GET", "/tenants/{tenant}/files/{kind}/{path}", "200"): 2.0,
    }
    assert {line["route"] for line in logs.access()} == {
        "/tenants/{tenant}/things/{thing_id}",
        "/tenants/{tenant}/files/{kind}/{path}",
    }


def test_a_mounted_route_label_is_worked_out_once_per_mount_path(
    logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a fixed mount the label is cached; under a mount with parameters it
    is worked out per request, so the cache never holds one key per tenant."""
    from riso_obs._route_labels import RouteLabeler

    worked_out: list[str] = []
    template = RouteLabeler._template

    def counting(scope: Any, root_path: str, status: int) -> str:
        worked_out.append(scope["path"])
        return template(scope, root_path, status)

    monkeypatch.setattr(RouteLabeler, "_template", staticmethod(counting))
    app = FastAPI()
    api = FastAPI()
    tenant = FastAPI()

    @api.get("/items/{item_id}")
    @tenant.get("/things/{thing_id}")
    async def item(item_id: str = "", thing_id: str = "") -> dict[str, str]:
        return {"id": item_id or thing_id}

    app.mount("/api/v1", api)
    app.mount("/tenants/{tenant}", tenant)
    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        for n in range(20):
            assert client.get(f"/api/v1/items/{n}").status_code == 200
            assert client.get(f"/tenants/t{n}/things/{n}").status_code == 200
        text = client.get("/metrics").text
        cache_keys = list(app.middleware_stack._labeler._by_route)  # type: ignore[union-attr]
    assert requests_total(text) == {
        ("GET", "/api/v1/items/{item_id}", "200"): 20.0,
        ("GET", "/tenants/{tenant}/things/{thing_id}", "200"): 20.0,
    }
    fixed = [p for p in worked_out if p.startswith("/api/")]
    assert len(fixed) <= 2  # the first request only (route table, then its method)
    assert len([p for p in worked_out if p.startswith("/tenants/")]) >= 20
    assert not any(isinstance(k, tuple) and k[1].startswith("/tenants/") for k in cache_keys)


def test_method_label_is_bounded(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.request("BREW", "/items/1")
        client.request("DELETE", "/items/1")
        text = client.get("/metrics").text
    counts = requests_total(text)
    assert counts == {
        ("OTHER", "/items/{item_id}", "405"): 1.0,
        ("DELETE", "/items/{item_id}", "405"): 1.0,
    }


@pytest.mark.parametrize("path", ["/metrics", "/health", "/ready", "/startup"])
def test_default_excluded_paths_are_not_counted(path: str, logs: Any) -> None:
    app = FastAPI()

    @app.get("/health")
    @app.get("/ready")
    @app.get("/startup")
    async def probe() -> dict[str, str]:
        return {"status": "ok"}

    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        client.get(path)
        text = client.get("/metrics").text
    assert requests_total(text) == {}
    assert logs.access() == []


def test_exclude_paths_setting(make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_OBS_EXCLUDE_PATHS", "/threaded")
    with TestClient(make_app()) as client:
        client.get("/threaded")
        client.get("/metrics")
        text = client.get("/metrics").text
    assert requests_total(text) == {("GET", "/metrics", "200"): 1.0}


def test_other_features_register_in_the_same_registry(make_app: Any, logs: Any) -> None:
    counter = Counter("riso_testfeature_things_total", "Things done by a test feature.")
    try:
        counter.inc(3)
        with TestClient(make_app()) as client:
            text = client.get("/metrics").text
        assert samples(text, "riso_testfeature_things_total") == {(): 3.0}
    finally:
        from prometheus_client import REGISTRY

        REGISTRY.unregister(counter)


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("bearer s3cret-token", 401),
        ("Basic czNjcmV0LXRva2Vu", 401),
        ("Bearer s3cret-token", 200),
    ],
)
def test_metrics_token(
    make_app: Any,
    logs: Any,
    monkeypatch: pytest.MonkeyPatch,
    authorization: str | None,
    status: int,
) -> None:
    monkeypatch.setenv("RISO_OBS_METRICS_TOKEN", "s3cret-token")
    headers = {"Authorization": authorization} if authorization else {}
    with TestClient(make_app()) as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"detail": "Not authenticated"}
        assert "http_requests" not in response.text
    assert "s3cret-token" not in logs.text


def test_metrics_disabled(make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_OBS_METRICS", "false")
    with TestClient(make_app()) as client:
        client.get("/items/1")
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert len(logs.access()) == 1


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/proxy/items/5", "/items/{item_id}"),
        ("/proxy/v1/things/abc", "/v1/things/{thing_id}"),
        ("/proxy/nope", riso_obs.UNMATCHED),
    ],
)
def test_server_root_path_is_not_part_of_the_label(
    make_app: Any, logs: Any, path: str, endpoint: str
) -> None:
    """Behind a proxy (uvicorn --root-path /proxy) the label stays the app's template."""
    with TestClient(make_app(), root_path="/proxy") as client:
        client.get(path)
        text = client.get("/proxy/metrics").text
    assert {e for _, e, _ in requests_total(text)} == {endpoint}


def test_in_progress_counts_the_request_being_served(logs: Any) -> None:
    from prometheus_client import REGISTRY, generate_latest

    app = FastAPI()

    @app.post("/inflight")
    async def inflight() -> dict[str, str]:
        return {"text": generate_latest(REGISTRY).decode()}

    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        during = client.post("/inflight").json()["text"]
        after = client.get("/metrics").text
    assert samples(during, "http_requests_in_progress") == {(("method", "POST"),): 1.0}
    assert samples(after, "http_requests_in_progress") == {(("method", "POST"),): 0.0}
