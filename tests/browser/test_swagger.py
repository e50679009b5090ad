"""The starter's ``/docs`` in a real headless Chromium, with no request leaving the machine.

The starter runs as its README says (``riso db upgrade``, then ``riso serve``)
on SQLite in a temporary folder. Chromium is Debian's (``/usr/bin/chromium``,
``RISO_CHROMIUM`` overrides), driven by Playwright; Playwright never downloads
a browser here. Every request to a host other than the server's is aborted and
recorded, and the test fails if there was one: Swagger UI must run from the
files riso serves. Through the page itself it registers a user ("Try it
out" on ``POST /auth/register``), signs in with **Authorize** (the OAuth2
password flow against ``/auth/token``) and runs ``GET /auth/me``, whose 200
shows the email. The network log proves the page, not the test, made each call.
A screenshot is saved under ``artifacts/browser/`` (the path is printed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import playwright.sync_api as playwright_api
import pytest

from riso.testing import ServerProcess, clean_environ

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "artifacts" / "browser"
SECRET = "browser-test-secret-key-0123456789abcdef"
CHROMIUM = os.environ.get("RISO_CHROMIUM", "/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def _chromium() -> str:
    if Path(CHROMIUM).is_file() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("RISO_CI"):
        pytest.fail(f"{message}; .ci/run installs it", pytrace=False)
    pytest.skip(message)


@contextmanager
def serve(workdir: Path, **settings: str) -> Iterator[str]:
    """The starter served by its shipped run command; the base URL."""
    env = clean_environ(RISO_APP="starter.main:app", RISO_AUTH_SECRET_KEY=SECRET, **settings)
    upgrade = subprocess.run(
        [BIN / "riso", "db", "upgrade"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    argv = [str(BIN / "riso"), "serve", "--host", "{host}", "--port", "{port}"]
    with ServerProcess(argv, env=env, cwd=workdir, timeout=60) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("browser-starter")) as base_url:
        yield base_url


@contextmanager
def chromium(network: Network) -> Iterator[playwright_api.Page]:
    """A page in headless Chromium whose every request goes through ``network``."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            context = browser.new_context(service_workers="block")
            context.route("**/*", network.route)
            context.on("request", network.request)
            context.on("response", network.response)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


class Network:
    """Every request the page makes; the ones to other hosts are aborted and kept."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.requests: list[playwright_api.Request] = []
        self.responses: dict[str, int] = {}

    def route(self, route: playwright_api.Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def request(self, request: playwright_api.Request) -> None:
        self.requests.append(request)

    def response(self, response: playwright_api.Response) -> None:
        self.responses[urlsplit(response.url).path] = response.status

    def calls(self, method: str, path: str) -> list[playwright_api.Request]:
        return [r for r in self.requests if r.method == method and urlsplit(r.url).path == path]


def _operation(page: playwright_api.Page, method: str, path: str) -> playwright_api.Locator:
    """The expanded Swagger UI block of one operation, in "Try it out" mode."""
    block = page.locator(f".opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    return block


def _execute(block: playwright_api.Locator) -> tuple[str, str]:
    """Click Execute; the status and body Swagger UI shows for the live response."""
    block.locator("button.execute").click()
    live = block.locator(".live-responses-table .response").first
    status = live.locator(".response-col_status")
    status.wait_for()
    return status.inner_text().strip(), live.locator(".response-col_description").inner_text()


def test_register_authorize_and_me_from_the_swagger_page(
    starter: str, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    network = Network()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "swagger-me.png"
    shot.unlink(missing_ok=True)

    with chromium(network) as page:
        try:
            page.goto(f"{starter}/docs")
            page.locator(".swagger-ui .info .title").wait_for()

            register = _operation(page, "post", "/auth/register")
            register.locator("textarea.body-param__text").fill(
                f'{{"email": "{email}", "password": "{password}"}}'
            )
            status, body = _execute(register)
            assert status == "201", body
            assert email in body

            page.locator(".auth-wrapper button.authorize").click()
            dialog = page.locator(".modal-ux")
            dialog.locator("#oauth_username").fill(email)
            dialog.locator("#oauth_password").fill(password)
            dialog.locator("button", has_text="Authorize").click()
            # Swagger UI offers to log out once /auth/token answered with a token
            dialog.locator("button", has_text="Logout").wait_for()
            dialog.locator("button", has_text="Close").click()

            me = _operation(page, "get", "/auth/me")
            status, body = _execute(me)
            assert status == "200", body
            assert email in body
            me.screenshot(path=str(shot))
        except BaseException:
            failed = ARTIFACTS / "swagger-failure.png"
            page.screenshot(path=str(failed), full_page=True)
            print(f"\nscreenshot of the failure: {failed}")
            raise
    with capsys.disabled():  # the CI artifact's path, shown even when the test passes
        print(f"\nscreenshot: {shot}")

    assert network.blocked == [], f"the page tried to leave the machine: {network.blocked}"
    # not vacuous: Swagger UI really ran from the files the server sent
    for name in ASSETS:
        assert network.responses.get(f"/_riso/docs-assets/{name}") == 200, name
    # ... and the page itself registered, took the token and sent it
    assert [r.post_data_json for r in network.calls("POST", "/auth/register")] == [
        {"email": email, "password": password}
    ]
    (token,) = network.calls("POST", "/auth/token")
    assert "grant_type=password" in (token.post_data or "")
    (call,) = network.calls("GET", "/auth/me")
    assert call.headers.get("authorization", "").startswith("Bearer ")
    assert shot.stat().st_size > 0


def test_the_guard_catches_a_page_that_needs_the_internet(tmp_path: Path) -> None:
    """With ``RISO_DOCS_ASSETS=cdn`` the same page is blank here, and the guard says why."""
    network = Network()
    with serve(tmp_path, RISO_DOCS_ASSETS="cdn") as base_url, chromium(network) as page:
        page.goto(f"{base_url}/docs")
        page.wait_for_load_state("load")
        assert page.locator(".swagger-ui .info .title").count() == 0
    hosts = {urlsplit(url).hostname for url in network.blocked}
    assert "cdn.jsdelivr.net" in hosts, network.blocked
    assert not any("/_riso/docs-assets/" in r.url for r in network.requests)


def test_redoc_renders_offline(starter: str) -> None:
    network = Network()
    with chromium(network) as page:
        page.goto(f"{starter}/redoc")
        # ReDoc drew the operations from /openapi.json
        page.get_by_text("/auth/register").first.wait_for()
    assert network.blocked == [], f"the page tried to leave the machine: {network.blocked}"
    assert network.responses.get("/_riso/docs-assets/redoc.standalone.js") == 200
    assert network.responses.get("/openapi.json") == 200
