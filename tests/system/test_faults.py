"""Faults injected into the real services under the running starter.

- PostgreSQL backends killed mid-traffic (``pg_terminate_backend``): every
  request answers 201 or a JSON 503, never a 500 or a hang; nothing that got
  a 201 is missing afterwards; the next request after the kills succeeds.
- PostgreSQL paused (a loopback proxy that stops forwarding): requests fail
  fast with a JSON 503, ``/health`` stays 200, ``/ready`` answers 503 within
  one second; everything recovers by itself when the proxy forwards again,
  and every acknowledged note is there.
- Redis unreachable (a proxy in front of it, closed): enqueueing answers a
  JSON 503 quickly, other endpoints keep working; tasks accepted before the
  outage are run by the worker after it.
- A worker killed (SIGKILL) while it runs a task: the task is delivered again
  to a new worker and completes.
- Two app instances on one database: a logout on one is honoured by the
  other, and a login rate limit counts attempts made on both.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from riso_test_support import stack as st

from riso.testing import TcpProxy

#: a request on a dead or paused database must answer within this (a hang guard)
FAIL_FAST = 5.0


def _db_on(url: str, port: int) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()


def _present(client: httpx.Client, headers: dict[str, str], ids: list[int]) -> set[int]:
    listed: set[int] = set()
    for note_id in ids:  # /notes lists 100 at most: ask for each
        answer = client.get(f"/notes/{note_id}", headers=headers)
        if answer.status_code == 200:
            listed.add(note_id)
    return listed


def test_killed_connections_give_503_not_500_and_lose_no_acknowledged_write(
    stack_env: dict[str, str], system_dir: Path, postgres_url: str
) -> None:
    env = {**stack_env, "RISO_DB_QUERY_TIMEOUT": "1"}
    with st.server(env, system_dir) as srv, httpx.Client(base_url=srv.base, timeout=FAIL_FAST) as c:
        headers = {"Authorization": f"Bearer {st.register(c)}"}
        acked: list[int] = []
        statuses: dict[int, int] = {}
        problems: list[str] = []
        stop = threading.Event()

        def writer(n: int) -> None:
            with httpx.Client(base_url=srv.base, timeout=FAIL_FAST) as client:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        r = client.post("/notes", json={"title": f"w{n}-{i}"}, headers=headers)
                    except httpx.HTTPError as exc:
                        problems.append(f"{type(exc).__name__}: {exc}")
                        continue
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 201:
                        acked.append(r.json()["id"])
                    elif r.status_code != 503 or "detail" not in r.json():
                        problems.append(f"{r.status_code}: {r.text[:200]}")

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        killed = 0
        try:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                for _ in range(15):
                    time.sleep(0.2)
                    row = admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    ).fetchone()
                    killed += int(row[0]) if row else 0
                    assert c.get("/health").status_code == 200
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert killed > 0
        assert not problems, problems[:10]
        assert statuses.get(201, 0) > 0
        # recovered by itself. A connection used less than RISO_DB_POOL_PRE_PING_IDLE
        # (0.5 s) before the last kill is handed out unpinged: the first write on it
        # answers 503, and the pool it invalidates makes the next one succeed
        after = c.post("/notes", json={"title": "after"}, headers=headers)
        if after.status_code == 503:
            after = c.post("/notes", json={"title": "after"}, headers=headers)
        assert after.status_code == 201, after.text
        assert _present(c, headers, acked) == set(acked)


def test_paused_database_fails_fast_then_recovers_by_itself(
    stack_env: dict[str, str], system_dir: Path, postgres_url: str
) -> None:
    with TcpProxy(5432) as proxy:
        env = {
            **stack_env,
            "RISO_DB_URL": _db_on(postgres_url, proxy.port),
            "RISO_DB_QUERY_TIMEOUT": "0.5",
            "RISO_DB_CONNECT_TIMEOUT": "1",
            "RISO_HEALTH_CACHE_TTL": "0",
        }
        with st.server(env, system_dir) as srv, httpx.Client(base_url=srv.base) as c:
            headers = {"Authorization": f"Bearer {st.register(c)}"}
            first = c.post("/notes", json={"title": "before"}, headers=headers, timeout=10)
            assert first.status_code == 201, first.text
            # ready once every check answers: the tasks checks' first round trip to
            # Redis can outlast their 800 ms on a loaded machine (seen before and after
            # this test's subject changed), so wait for it as a load balancer would
            deadline = time.monotonic() + 10
            ready = c.get("/ready", timeout=10)
            while ready.status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
                ready = c.get("/ready", timeout=10)
            assert ready.status_code == 200, ready.text
            acked = [first.json()["id"]]

            proxy.pause()
            try:
                # readiness: the first probe after the pause already answers 503, within 1 s
                ready = c.get("/ready", timeout=1.0)
                assert ready.status_code == 503, ready.text
                assert c.get("/health", timeout=1.0).status_code == 200
                for method, path, kwargs in [
                    ("POST", "/notes", {"json": {"title": "during"}}),
                    ("GET", "/notes", {}),
                    ("GET", f"/notes/{acked[0]}", {}),
                ]:
                    answer = c.request(method, path, headers=headers, timeout=FAIL_FAST, **kwargs)
                    _assert_503(answer)
                assert c.get("/hello", timeout=1.0).status_code == 200  # no database: unaffected
            finally:
                proxy.resume()

            deadline = time.monotonic() + 15
            while True:  # recovers by itself: no restart, no intervention
                answer = c.post("/notes", json={"title": "after"}, headers=headers, timeout=10)
                if answer.status_code == 201:
                    acked.append(answer.json()["id"])
                    break
                _assert_503(answer)
                assert time.monotonic() < deadline, "never recovered"
                time.sleep(0.2)
            assert c.get("/ready", timeout=10).status_code == 200
            assert _present(c, headers, acked) == set(acked)


@pytest.mark.parametrize("outage", ["refused", "paused"])
def test_unreachable_broker_fails_enqueue_fast_and_runs_earlier_tasks_afterwards(
    stack_env: dict[str, str], system_dir: Path, redis_url: str, outage: str
) -> None:
    with TcpProxy(6379) as proxy:
        broker = f"redis://127.0.0.1:{proxy.port}/{st.REDIS_DB}"
        # a queue of its own: no other worker of the session runs these tasks early
        queue = {"RISO_TASKS_DEFAULT_QUEUE": f"outage-{uuid.uuid4().hex[:8]}"}
        env = {**stack_env, **queue, "RISO_TASKS_BROKER_URL": broker}  # results: direct Redis
        with st.server(env, system_dir) as srv, httpx.Client(base_url=srv.base, timeout=10) as c:
            headers = {"Authorization": f"Bearer {st.register(c)}"}
            # accepted while no worker runs: queued in Redis
            before = [c.post("/tasks/add", params={"x": n, "y": 100}) for n in range(3)]
            assert [r.status_code for r in before] == [202, 202, 202], [r.text for r in before]

            if outage == "refused":
                proxy.close()  # the broker is gone: connections reset, new ones refused
            else:
                proxy.pause()  # the broker stops answering: only the publish timeout helps
            for _ in range(3):
                answer = c.post("/tasks/add", params={"x": 1, "y": 1}, timeout=FAIL_FAST)
                _assert_503(answer)
                assert "task queue is unavailable" in answer.json()["detail"]
                assert answer.headers.get("retry-after")
            # everything else keeps working
            assert c.get("/hello").status_code == 200
            assert c.post("/notes", json={"title": "n"}, headers=headers).status_code == 201
            assert c.get("/notes", headers=headers).status_code == 200

        # the broker is back (the worker connects to Redis directly): earlier tasks run
        direct = {**stack_env, **queue}
        with (
            st.worker(direct, system_dir),
            st.server(direct, system_dir) as srv2,
            httpx.Client(base_url=srv2.base, timeout=10) as c2,
        ):
            results = [st.wait_task(c2, r.json()["task_id"]) for r in before]
    assert results == [{"state": "SUCCESS", "result": n + 100} for n in range(3)]


def test_worker_killed_mid_task_is_redelivered_and_completes(
    stack_env: dict[str, str], system_dir: Path, redis_url: str
) -> None:
    # a short visibility timeout (and restore interval) makes Redis deliver the
    # unacknowledged task again soon
    env = {
        **stack_env,
        "RISO_TASKS_VISIBILITY_TIMEOUT": "3",
        "RISO_TASKS_BROKER_TRANSPORT_OPTIONS": (
            '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}'
        ),
        "RISO_TASKS_IMPORTS": "tasks_slow",
        # a queue of its own: the session's other worker does not know this task
        "RISO_TASKS_DEFAULT_QUEUE": f"slow-{uuid.uuid4().hex[:8]}",
    }
    slow = system_dir / "tasks_slow.py"
    marker = system_dir / f"started-{uuid.uuid4().hex[:6]}"
    slow.write_text(
        "import os, time\nimport riso_tasks\n\n\n"
        "@riso_tasks.task(ignore_result=False)\n"
        "def slow_add(x: int, y: int, marker: str) -> int:\n"
        "    with open(marker, 'a') as f:\n"
        "        f.write(f'{os.getpid()}\\n')\n"
        "    if open(marker).read().count('\\n') == 1:\n"
        "        time.sleep(60)  # the first delivery hangs until its worker is killed\n"
        "    return x + y\n"
    )
    env["PYTHONPATH"] = f"{system_dir}{os.pathsep}{env.get('PYTHONPATH', '')}"
    import celery

    # a plain Celery client: the task lives in the worker's module only
    sender = celery.Celery(
        broker=env["RISO_TASKS_BROKER_URL"], backend=env["RISO_TASKS_RESULT_BACKEND"]
    )
    result = sender.send_task(
        "tasks_slow.slow_add", args=[20, 22, str(marker)], queue=env["RISO_TASKS_DEFAULT_QUEUE"]
    )
    with st.worker(env, system_dir) as first:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, first.log.read_text()[-3000:]
            time.sleep(0.1)
        os.killpg(first.proc.pid, signal.SIGKILL)  # the whole worker, mid-task
        first.proc.wait(timeout=10)
    with st.worker(env, system_dir):
        assert result.get(timeout=60) == 42
    assert len(marker.read_text().splitlines()) == 2  # delivered twice, completed once
    sender.close()


def test_two_instances_share_logout_and_rate_limits(
    postgres_url: str, redis_url: str, system_dir: Path
) -> None:
    env = st.stack_env(
        postgres_url,
        redis_url,
        RISO_AUTH_RATE_LOGIN_ACCOUNT_ADDRESS="4/15m",
        RISO_AUTH_RATE_REGISTER_ADDRESS="1000/1m",
    )
    with (
        st.server(env, system_dir) as a,
        st.server(env, system_dir) as b,
        httpx.Client(base_url=a.base, timeout=10) as ca,
        httpx.Client(base_url=b.base, timeout=10) as cb,
    ):
        token = st.register(ca)
        headers = {"Authorization": f"Bearer {token}"}
        assert cb.get("/auth/me", headers=headers).status_code == 200
        assert ca.post("/auth/logout", headers=headers).status_code == 204
        deadline = time.monotonic() + 5  # revocation cache: RISO_AUTH_REVOCATION_CACHE_SECONDS
        while cb.get("/auth/me", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "instance B still accepts a logged-out token"
            time.sleep(0.2)

        email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
        assert (
            ca.post(
                "/auth/register", json={"email": email, "password": "the right password 42"}
            ).status_code
            == 201
        )
        wrong = {"username": email, "password": "wrong password"}
        codes = [
            (ca if n % 2 else cb).post("/auth/token", data=wrong).status_code for n in range(4)
        ]
        assert codes == [401, 401, 401, 401]
        limited = [ca.post("/auth/token", data=wrong), cb.post("/auth/token", data=wrong)]
        assert [r.status_code for r in limited] == [429, 429], [r.text for r in limited]
        assert all(r.headers.get("retry-after") for r in limited)
