"""The starter on its embedded SQLite default, under bursts of concurrent writers.

Regression: a burst of duplicate registrations then concurrent refreshes with
one token froze the whole uvicorn process for about 10 s (the busy timeout;
``/hello`` included, some refreshes 503), and concurrent DELETEs of one note
answered 503. Here every request of the bursts answers without a 5xx, and a
probe of ``/hello`` running alongside never waits a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from riso_test_support import stack as st

ROUNDS = 8
#: no request, and no /hello probe, may wait longer (password hashing excepted)
MAX_WAIT = 1.0
#: registration hashes a password per request; 20 at once on a shared 2-core machine
MAX_REGISTER = 8.0
PASSWORD = "a long enough password 42"
LIMITS = {
    f"RISO_AUTH_RATE_{name}": "1000000/1m"
    for name in ("LOGIN_ADDRESS", "REFRESH_ADDRESS", "REGISTER_ADDRESS")
}

#: below uvicorn's (and riso's) 5 s keep-alive timeout, as a well-behaved client is
CLIENT_KEEPALIVE = 2.0

Timed = tuple[float, int]


async def _timed(client: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> Timed:
    started = time.monotonic()
    answer = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, answer.status_code


def _probe(base: str, stop: threading.Event, waits: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            started = time.monotonic()
            assert client.get("/hello").status_code == 200
            waits.append(time.monotonic() - started)
            time.sleep(0.05)


async def _bursts(base: str) -> dict[str, list[Timed]]:
    seen: dict[str, list[Timed]] = {"register": [], "refresh": [], "delete": []}
    # httpx keeps an idle connection 5 s, exactly uvicorn's keep-alive timeout:
    # reusing one at that moment races the server's close (a ReadError, not
    # the server's fault), so the client lets go of idle connections first.
    limits = httpx.Limits(max_connections=100, keepalive_expiry=CLIENT_KEEPALIVE)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        for _ in range(ROUNDS):
            body = {"email": f"dup-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}
            seen["register"] += await asyncio.gather(
                *(_timed(client, "POST", "/auth/register", json=body) for _ in range(20))
            )
            form = {"username": body["email"], "password": PASSWORD}
            refresh = (await client.post("/auth/token", data=form)).json()["refresh_token"]
            seen["refresh"] += await asyncio.gather(
                *(
                    _timed(client, "POST", "/auth/refresh", json={"refresh_token": refresh})
                    for _ in range(10)
                )
            )
            token = (await client.post("/auth/token", data=form)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(2):
                created = await client.post("/notes", json={"title": "n"}, headers=headers)
                assert created.status_code == 201, created.text
                path = f"/notes/{created.json()['id']}"
                seen["delete"] += await asyncio.gather(
                    *(_timed(client, "DELETE", path, headers=headers) for _ in range(6))
                )
    return seen


def test_bursts_of_writers_never_freeze_the_server_nor_answer_5xx(tmp_path: Path) -> None:
    env = st.stack_env(f"sqlite:///{tmp_path / 'riso.db'}", None, **LIMITS)
    del env["RISO_DB_CONNECT_TIMEOUT"]  # the defaults, as users run it
    st.migrate(env, tmp_path)
    with st.server(env, tmp_path) as srv:
        stop, waits = threading.Event(), []
        probe = threading.Thread(target=_probe, args=(srv.base, stop, waits))
        probe.start()
        try:
            seen = asyncio.run(_bursts(srv.base))
        finally:
            stop.set()
            probe.join(timeout=60)
    summary = {
        name: (max(t for t, _ in answers), sorted(Counter(s for _, s in answers).items()))
        for name, answers in seen.items()
    }
    print(f"max waits and statuses: {summary}; /hello max {max(waits):.2f}s of {len(waits)}")
    for name, answers in seen.items():
        assert all(status < 500 for _, status in answers), (name, summary[name])
    assert {s for _, s in seen["register"]} == {201, 400}
    assert [s for _, s in seen["refresh"]].count(200) == ROUNDS  # one winner per token
    assert {s for _, s in seen["delete"]} <= {204, 404}
    assert max(waits) < MAX_WAIT, f"/hello waited {max(waits):.2f}s"
    assert summary["refresh"][0] < MAX_WAIT, summary
    assert summary["delete"][0] < MAX_WAIT, summary
    assert summary["register"][0] < MAX_REGISTER, summary
