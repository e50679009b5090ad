"""``/docs`` and ``/redoc`` under ``RISO_DOCS_ASSETS``: local assets by default, else the CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

import riso
from riso._compat_docs import assets_directory
from riso._docs import ASSETS_PATH, REDOC_CSP

CDN = {
    f"{ASSETS_PATH}/swagger-ui-bundle.js": (
        "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
    ),
    f"{ASSETS_PATH}/swagger-ui.css": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css",
    f"{ASSETS_PATH}/redoc.standalone.js": (
        "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
    ),
    f"{ASSETS_PATH}/favicon.png": "https://fastapi.tiangolo.com/img/favicon.png",
}
GOOGLE_FONTS = (
    '<link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|'
    'Roboto:300,400,700" rel="stylesheet">'
)
CONTENT_TYPES = {".js": {"text/javascript", "application/javascript"}, ".css": {"text/css"}}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISO_DOCS_ASSETS", raising=False)


class _Links(HTMLParser):
    """Every URL a page makes the browser load: ``src`` and ``href`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def composed(
    monkeypatch: pytest.MonkeyPatch, mode: str | None, root: str = "", **kwargs: Any
) -> TestClient:
    if mode is not None:
        monkeypatch.setenv("RISO_DOCS_ASSETS", mode)
    app = FastAPI(**kwargs)
    riso.include(app, features=[])
    return TestClient(app, root_path=root)


def plain(root: str = "", **kwargs: Any) -> TestClient:
    return TestClient(FastAPI(**kwargs), root_path=root)


def lines(html: str) -> list[str]:
    """The page's lines but blank ones and ReDoc's Google fonts, which bundled mode leaves out."""
    return [line for line in html.splitlines() if line.strip() and GOOGLE_FONTS not in line]


CONFIGURED = {
    "title": "Shop",
    "swagger_ui_init_oauth": {"clientId": "docs", "usePkceWithAuthorizationCodeGrant": True},
    "swagger_ui_parameters": {"persistAuthorization": True, "tryItOutEnabled": True},
}


@pytest.mark.parametrize("kwargs", [{}, CONFIGURED, {"root": "/api"}], ids=str)
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_bundled_pages_load_only_local_urls(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], page: str
) -> None:
    client = composed(monkeypatch, None, **kwargs)
    response = client.get(page)
    assert response.status_code == 200
    urls = links(response.text)
    root = kwargs.get("root", "")
    assert urls
    assert all(url.startswith(f"{root}{ASSETS_PATH}/") for url in urls), urls
    assert not re.search(r"https?://", response.text), "an absolute URL is left in the page"
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        assert asset.content == (assets_directory() / name).read_bytes()
        kind = asset.headers["content-type"].split(";")[0]
        suffix = name[name.rfind(".") :]
        assert kind in CONTENT_TYPES.get(suffix, {"image/png"}), (url, kind)


@pytest.mark.parametrize("kwargs", [{}, CONFIGURED, {"root": "/api"}], ids=str)
@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_bundled_pages_are_fastapis_but_for_the_asset_urls(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], page: str
) -> None:
    """Same title, OAuth2 redirect, init_oauth and parameters: only where the files come from."""
    ours = composed(monkeypatch, None, **kwargs).get(page).text
    root = kwargs.get("root", "")
    for local, cdn in CDN.items():
        ours = ours.replace(f'"{root}{local}"', f'"{cdn}"')
    assert lines(ours) == lines(plain(**kwargs).get(page).text)


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_cdn_setting_keeps_fastapis_pages(monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    client = composed(monkeypatch, "cdn", **CONFIGURED)
    response = client.get(page)
    assert response.status_code == 200
    assert response.text == plain(**CONFIGURED).get(page).text
    assert client.get(f"{ASSETS_PATH}/swagger-ui.css").status_code == 404


def test_custom_paths_are_replaced_where_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    client = composed(monkeypatch, None, docs_url="/api-docs", redoc_url="/api-redoc")
    for page in ("/api-docs", "/api-redoc"):
        assert all(url.startswith(ASSETS_PATH) for url in links(client.get(page).text)), page
    assert client.get("/docs").status_code == 404


def test_disabled_docs_stay_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    client = composed(monkeypatch, None, docs_url=None, redoc_url=None)
    for path in ("/docs", "/redoc", f"{ASSETS_PATH}/swagger-ui.css"):
        assert client.get(path).status_code == 404, path


def test_without_openapi_there_is_nothing_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    client = composed(monkeypatch, None, openapi_url=None)
    for path in ("/docs", "/redoc", f"{ASSETS_PATH}/swagger-ui.css"):
        assert client.get(path).status_code == 404, path


def test_an_apps_own_docs_page_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    app = FastAPI(docs_url=None)

    @app.get("/docs", include_in_schema=False)
    async def own_docs() -> HTMLResponse:
        return HTMLResponse("<html>our own docs</html>")

    riso.include(app, features=[])
    client = TestClient(app)
    assert client.get("/docs").text == "<html>our own docs</html>"
    # ReDoc is still FastAPI's and so gets local assets
    assert all(url.startswith(ASSETS_PATH) for url in links(client.get("/redoc").text))


def test_only_one_redoc_page_when_only_redoc(monkeypatch: pytest.MonkeyPatch) -> None:
    app = FastAPI(docs_url=None)
    riso.include(app, features=[])
    paths = [getattr(route, "path", None) for route in app.router.routes]
    assert paths.count("/redoc") == 1
    assert paths.count(ASSETS_PATH) == 1
    assert "/docs" not in paths


@pytest.mark.parametrize(
    "path", [f"{ASSETS_PATH}/../pyproject.toml", f"{ASSETS_PATH}/missing.js", f"{ASSETS_PATH}/"]
)
def test_nothing_but_the_asset_files_is_served(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    assert composed(monkeypatch, None).get(path).status_code == 404


def test_an_unknown_mode_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_DOCS_ASSETS", "offline-secret")
    with pytest.raises(riso.SettingsError) as caught:
        riso.include(FastAPI(), features=[])
    message = str(caught.value)
    assert "RISO_DOCS_ASSETS" in message
    assert "'bundled' or 'cdn'" in message
    assert "offline-secret" not in message


def test_bundled_redoc_may_not_fetch_its_logo_from_the_internet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert composed(monkeypatch, None).get("/redoc").headers["content-security-policy"] == (
        REDOC_CSP
    )
    assert "content-security-policy" not in composed(monkeypatch, "cdn").get("/redoc").headers
