"""OpenID providers for riso-auth's sign-in tests: a real one and a stand-in.

``RealProvider``: panva's ``oidc-provider`` (OpenID Certified; pinned in
``tests/support/oidc_provider/package.json``) as a Node subprocess on a free
loopback port; ``npm ci`` runs first when its ``node_modules`` is absent.
``sign_in_at_provider`` drives its login and consent forms over HTTP.

``StandIn``: a small threaded HTTP server playing an OIDC provider whose token
endpoint returns whatever ID token the test forged (another key, ``alg:
none``, another audience, expired, an unknown ``kid``), and GitHub's
``/login/oauth/access_token``, ``/user`` and ``/user/emails``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from riso.testing import ServerProcess

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc_provider"
CLIENT_ID = "riso-test-client"
CLIENT_SECRET = "riso-test-client-secret-0123456789abcdef"
#: the app under test is served at https://testserver (riso_test_support.auth.serve)
APP_ORIGIN = "https://testserver"


def callback_url(provider: str) -> str:
    return f"{APP_ORIGIN}/auth/oidc/{provider}/callback"


def ensure_installed() -> None:
    """``npm ci`` in the provider's folder when its node_modules is absent (skip without npm)."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        message = "node and npm are needed to run oidc-provider"
        if os.environ.get("RISO_CI"):  # CI runs every real-provider case
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(PROVIDER_DIR)],
        check=True,
        capture_output=True,
        timeout=300,
    )


@contextmanager
def real_provider(provider_names: tuple[str, ...] = ("local",)) -> Iterator[str]:
    """Run oidc-provider with the test client registered for ``provider_names``; the issuer."""
    ensure_installed()
    node = shutil.which("node")
    assert node is not None
    config = json.dumps(
        {
            "port": 0,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [callback_url(name) for name in provider_names],
                }
            ],
        }
    ).replace('"port": 0', '"port": {port}')
    server = ServerProcess(
        [node, str(PROVIDER_DIR / "server.mjs"), config],
        cwd=PROVIDER_DIR,
        ready_path="/.well-known/openid-configuration",
    )
    with server:
        yield server.base_url


def provider_env(issuer: str, **extra: Any) -> str:
    """``RISO_AUTH_OIDC_PROVIDERS`` for one provider (``name``, default ``local``) at ``issuer``."""
    name = extra.pop("name", "local")
    settings: dict[str, Any] = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "timeout": 5,
        **extra,
    }
    return json.dumps({name: settings})


_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
_PROMPT = re.compile(r'name="prompt" value="([a-z]+)"')


_ABORT = re.compile(r'href="([^"]*/abort)"')


async def sign_in_at_provider(
    authorize_url: str,
    login: str,
    *,
    stop_at: str = APP_ORIGIN,
    max_steps: int = 12,
    cancel: bool = False,
) -> str:
    """Follow the provider's pages as a browser would, logging in as ``login`` and
    consenting (or, with ``cancel``, pressing its Cancel link); the URL it finally
    sends the browser to (the app's callback)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        url = authorize_url
        response = await browser.get(url)
        for _ in range(max_steps):
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if url.startswith(stop_at):
                    return url
                response = await browser.get(url)
                continue
            assert response.status_code == 200, response.text[:500]
            abort = _ABORT.search(response.text)
            if cancel and abort is not None:
                response = await browser.get(urljoin(url, abort.group(1)))
                continue
            action, prompt = _ACTION.search(response.text), _PROMPT.search(response.text)
            assert action is not None, response.text[:500]
            assert prompt is not None, response.text[:500]
            data = {"prompt": prompt.group(1)}
            if data["prompt"] == "login":
                data |= {"login": login, "password": "any"}
            response = await browser.post(urljoin(url, action.group(1)), data=data)
        raise AssertionError(f"the provider did not send the browser back: {url}")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# --- the stand-in ------------------------------------------------------------------
def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class StandIn:
    """A loopback HTTP server answering as an OIDC provider and as GitHub."""

    key: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    kid: str = "standin-1"
    #: the ID token's claims minus nonce (added from the authorize request unless set)
    claims: dict[str, Any] = field(default_factory=dict)
    #: builds the ID token from (claims, nonce); default: RS256 with ``key``/``kid``
    forge: Callable[[dict[str, Any], str], str] | None = None
    github_user: dict[str, Any] = field(default_factory=lambda: {"id": 4242, "login": "octo"})
    github_emails: list[dict[str, Any]] = field(default_factory=list)
    #: seconds the token endpoint waits before answering
    token_delay: float = 0.0
    jwks_hits: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    nonces: dict[str, str] = field(default_factory=dict)  # code -> nonce
    #: 0: any free port
    port: int = 0

    def __post_init__(self) -> None:
        self.jwks: list[dict[str, Any]] = [public_jwk(self.key, self.kid)]
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in._get(self)

            def do_POST(self) -> None:
                stand_in._post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(self, claims: dict[str, Any], nonce: str) -> str:
        if self.forge is not None:
            return self.forge(claims, nonce)
        return jwt.encode(
            {"nonce": nonce, **claims}, self.key, algorithm="RS256", headers={"kid": self.kid}
        )

    def default_claims(self, subject: str, email: str, verified: bool = True) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.base_url,
            "aud": CLIENT_ID,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            "email": email,
            "email_verified": verified,
        }

    def authorize(self, authorize_url: str) -> str:
        """What the provider would do after the user logs in: the callback URL with a code."""
        query = query_of(authorize_url)
        code = f"code-{len(self.nonces)}-{time.monotonic_ns()}"
        self.nonces[code] = query.get("nonce", "")
        return f"{query['redirect_uri']}?code={code}&state={query['state']}"

    # --- HTTP ---------------------------------------------------------------
    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        authorized = handler.headers.get("Authorization") == "Bearer gho_standin"
        if path == "/.well-known/openid-configuration":
            self._reply(
                handler,
                200,
                {
                    "issuer": self.base_url,
                    "authorization_endpoint": f"{self.base_url}/authorize",
                    "token_endpoint": f"{self.base_url}/token",
                    "jwks_uri": f"{self.base_url}/jwks",
                },
            )
        elif path == "/jwks":
            self.jwks_hits += 1
            self._reply(handler, 200, {"keys": self.jwks})
        elif path == "/user":
            self._reply(handler, 200 if authorized else 401, self.github_user)
        elif path == "/user/emails":
            self._reply(handler, 200 if authorized else 401, self.github_emails)
        else:
            self._reply(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        self.token_requests.append(form)
        if self.token_delay:
            time.sleep(self.token_delay)
        code = form.get("code", "")
        if code not in self.nonces:
            self._reply(handler, 400, {"error": "invalid_grant"})
            return
        nonce = self.nonces.pop(code)  # a code works once
        if handler.path.startswith("/login/oauth/access_token"):
            self._reply(handler, 200, {"access_token": "gho_standin", "token_type": "bearer"})
            return
        self._reply(
            handler,
            200,
            {
                "access_token": "at-standin",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.sign(self.claims, nonce),
            },
        )


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """The issuer URL of a real oidc-provider, one per test session (per xdist worker)."""
    with real_provider(("local", "other")) as issuer:
        yield issuer


@contextmanager
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    try:
        yield server
    finally:
        server.close()
