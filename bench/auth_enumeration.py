"""riso-auth: does forgot-password / request-verify answer faster for an unknown account?

Issue 19, defect 4: the answer is the same text either way, but an existing
account used to cost the one-time token (signing, an INSERT) before the
answer, 4-7 ms, enough to tell accounts apart in three tries. This script
serves riso-auth (one uvicorn worker, uvloop + httptools, SQLite, pinned to
CPU 0; this client on CPU 1, loopback), registers one account, then for each
endpoint sends ``--rounds`` requests for the account and as many for fresh
unknown addresses, interleaved (the order alternating each round), on one
keep-alive connection, pausing between requests so the work done after an
answer is over before the next request. It prints the median answer time of
each branch and the difference of the medians (goal: under 0.5 ms), with the
spread of the per-round differences.

    .venv/bin/python bench/auth_enumeration.py [--rounds 30] [--pause 0.05]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from benchkit import (
    HOST,
    LOAD_CPU,
    SERVER_CPU,
    argument_parser,
    http_request,
    interleaved,
    percentile,
    pin_this_process,
    pinned,
    read_response,
    request_once,
    uvicorn_argv,
)

from riso.testing import ServerProcess, clean_environ

SECRET = "bench-secret-" + "k" * 40
EMAIL = "bench-known@example.com"
PASSWORD = "a bench password that is long"
ENDPOINTS = ("/auth/forgot-password", "/auth/request-verify")

APP = textwrap.dedent(
    """
    import riso, riso_db, riso_auth
    from fastapi import FastAPI
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    """
)


def post_json(path: str, payload: dict[str, str]) -> bytes:
    return http_request("POST", path, body=json.dumps(payload), content_type="application/json")


async def measure(port: int, path: str, rounds: int, pause: float) -> dict[str, list[float]]:
    """Seconds per answer of each branch, ``rounds`` each, interleaved on one connection."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for n, order in enumerate(interleaved(["known", "unknown"], rounds)):
            for branch in order:
                email = EMAIL if branch == "known" else f"nobody-{n}-{time.time_ns()}@example.com"
                request = post_json(path, {"email": email})
                started = time.perf_counter()
                writer.write(request)
                status, _ = await read_response(reader)
                times[branch].append(time.perf_counter() - started)
                assert status == 202, (path, branch, status)
                await asyncio.sleep(pause)  # the work after the answer is done before the next
    finally:
        writer.close()
    return times


async def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.05)
    args = parser.parse_args()
    pin_this_process(LOAD_CPU)

    folder = Path(tempfile.mkdtemp(prefix="riso-bench-enum-"))
    (folder / "enum_app.py").write_text(APP)
    env = {
        "RISO_DB_URL": f"sqlite:///{folder / 'riso.db'}",
        "RISO_AUTH_SECRET_KEY": SECRET,
        # the limits stay on (their counting is part of the answer), high enough for the rounds
        "RISO_AUTH_RATE_FORGOT_ADDRESS": "100000/1h",
        "RISO_AUTH_RATE_FORGOT_ACCOUNT": "100000/1h",
    }
    os.environ.update(env)
    from fastapi import FastAPI

    import riso
    import riso_auth
    import riso_db

    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    riso_db.upgrade(app)
    riso_db.database(app).sync_engine.dispose()

    server = ServerProcess(
        pinned(uvicorn_argv("enum_app:app"), SERVER_CPU),
        cwd=folder,
        env=clean_environ(os.environ, **env, PYTHONPATH=str(folder)),
        log_path=folder / "enum_app.log",
    )
    print(
        f"riso-auth enumeration bench: {args.rounds} requests per branch and endpoint, "
        f"interleaved, {args.pause * 1000:.0f} ms pause, server on CPU 0, client on CPU 1\n"
    )
    with server:
        register = post_json("/auth/register", {"email": EMAIL, "password": PASSWORD})
        status, body = await request_once(server.port, register)
        assert status == 201, (status, body)
        for path in ENDPOINTS:
            await measure(server.port, path, 5, args.pause)  # warm-up
            times = await measure(server.port, path, args.rounds, args.pause)
            known = statistics.median(times["known"]) * 1000
            unknown = statistics.median(times["unknown"]) * 1000
            per_round = [
                (a - b) * 1000 for a, b in zip(times["known"], times["unknown"], strict=True)
            ]
            print(
                f"  {path:<22} existing {known:6.2f} ms   unknown {unknown:6.2f} ms   "
                f"difference of medians {known - unknown:+6.2f} ms   "
                f"(per-round differences p10 {percentile(per_round, 10):+.2f}, "
                f"p90 {percentile(per_round, 90):+.2f} ms)"
            )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
