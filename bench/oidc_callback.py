"""riso-auth: the provider callback's latency, and the ID-token check alone.

The app (riso-db on SQLite + riso-auth with one provider) runs in this process
behind httpx's ASGI transport; the provider is the real ``oidc-provider``
(tests/support/oidc_provider) on loopback. Each round signs in ``--per-round``
fresh users through the provider (its login and consent forms, not timed) and
times only ``GET /auth/oidc/local/callback`` (state check, code exchange,
ID-token check, userinfo, identity and account rows, a new token pair); the
baseline in the same rounds is a password login (``POST /auth/token``, OWASP's
argon2id minimum), so the ratio says what a provider sign-in costs next to a
password one on this machine.

The ID-token check alone (RS256 signature against the cached JWKS key, iss,
aud, exp, iat, nonce) is timed in µs per check against riso-auth's own
access-token decode (HS256) as the baseline.

    .tools/bin/uv run --no-sync python bench/oidc_callback.py [--rounds 5] [--per-round 20]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

from benchkit import argument_parser, interleaved, median_ratio, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import httpx  # noqa: E402
import jwt  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from riso_test_support.asgi import serving  # noqa: E402
from riso_test_support.oidc import (  # noqa: E402
    CLIENT_ID,
    path_and_query,
    provider_env,
    real_provider,
    sign_in_at_provider,
)

import riso  # noqa: E402
import riso_auth  # noqa: E402
import riso_db  # noqa: E402
from riso_auth._oidc_idtoken import IdTokenVerifier  # noqa: E402
from riso_auth._oidc_providers import OidcProvider  # noqa: E402

PASSWORD = "correct horse battery staple"


def _app(issuer: str, db: Path) -> FastAPI:
    os.environ.update(
        {
            "RISO_DB_URL": f"sqlite:///{db}",
            "RISO_AUTH_SECRET_KEY": "bench-secret-" + "x" * 40,
            "RISO_AUTH_OIDC_PROVIDERS": provider_env(issuer),
            "RISO_AUTH_RATE_LIMIT_ENABLED": "false",
        }
    )
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    riso_db.upgrade(app)
    return app


async def _callback_once(client: httpx.AsyncClient) -> float:
    r = await client.get("/auth/oidc/local/authorize")
    back = await sign_in_at_provider(r.headers["location"], f"b-{uuid.uuid4().hex}@example.com")
    started = time.perf_counter()
    r = await client.get(path_and_query(back))
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed


async def _login_once(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    r = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed


async def _latency(app: FastAPI, rounds: int, per_round: int) -> None:
    email = "bench-login@example.com"
    await riso_auth.runtime(app).create_user(email, PASSWORD)
    samples: dict[str, list[float]] = {"callback": [], "password login": []}
    medians: dict[str, list[float]] = {"callback": [], "password login": []}
    async with serving(app, base_url="https://testserver") as client:
        await _callback_once(client)  # warm: discovery, JWKS, connections
        await _login_once(client, email)
        for order in interleaved(["callback", "password login"], rounds):
            for variant in order:
                got = [
                    await (
                        _callback_once(client)
                        if variant == "callback"
                        else _login_once(client, email)
                    )
                    for _ in range(per_round)
                ]
                samples[variant] += got
                medians[variant].append(percentile(got, 50))
    for variant, values in samples.items():
        print(
            f"{variant:>16}: p50 {percentile(values, 50) * 1000:7.2f} ms   "
            f"p99 {percentile(values, 99) * 1000:7.2f} ms   (n={len(values)})"
        )
    ratio = median_ratio(medians["callback"], medians["password login"])
    print(f"callback / password login (median of per-round p50 ratios): {ratio:.2f}x")


async def _id_token_check(app: FastAPI, issuer: str) -> None:
    runtime = riso_auth.runtime(app)
    provider = runtime.oidc_providers["local"]
    assert isinstance(provider, OidcProvider)
    keys = await provider.keys()
    verifier: IdTokenVerifier = provider.verifier
    # an ID token as the provider signs it, captured from a real sign-in
    captured: dict[str, str] = {}
    original = provider.check_id_token

    async def capture(token: object, nonce: str | None) -> dict[str, object]:
        assert isinstance(token, str)
        captured["token"], captured["nonce"] = token, nonce or ""
        return await original(token, nonce)

    provider.check_id_token = capture  # type: ignore[method-assign]
    async with serving(app, base_url="https://testserver") as client:
        await _callback_once(client)
    provider.check_id_token = original  # type: ignore[method-assign]
    token, nonce = captured["token"], captured["nonce"]
    header = jwt.get_unverified_header(token)
    key = verifier.key_for(header, keys)
    assert verifier.verify(token, key, nonce)["aud"] == CLIENT_ID

    access, _ = runtime.tokens.issue("access", "1", 900)
    number = 2000
    id_us = min(timeit.repeat(lambda: verifier.verify(token, key, nonce), number=number, repeat=5))
    own_us = min(
        timeit.repeat(lambda: runtime.tokens.decode(access, "access"), number=number, repeat=5)
    )
    id_us, own_us = id_us / number * 1e6, own_us / number * 1e6
    print(f"ID-token check ({header.get('alg')}, JWKS key cached):  {id_us:7.1f} µs per check")
    print(f"riso access-token decode (HS256):          {own_us:7.1f} µs per check")
    print(f"ID-token check / access-token decode: {id_us / own_us:.2f}x")


async def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()
    with real_provider() as issuer, tempfile.TemporaryDirectory() as tmp:
        app = _app(issuer, Path(tmp) / "bench.db")
        await _latency(app, args.rounds, args.per_round)
        await _id_token_check(app, issuer)


if __name__ == "__main__":
    asyncio.run(main())
