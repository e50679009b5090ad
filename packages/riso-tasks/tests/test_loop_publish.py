"""Redis publishes on the event loop (inside the feature's lifespan), against real Redis.

Inside the lifespan ``enqueue`` builds the message with Celery on the loop and
sends its Redis commands with redis.asyncio; anything else that needs I/O
falls back to a thread first. These tests pin down that the fallback is rare
and exact (no message twice), that both paths put the same message on the
queue, and that the lifespan closes what it opened.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import riso_tasks_testapp
from riso_test_support.tasks import WorkerProcess, make_app, serving

import riso
import riso_tasks
from riso_tasks import _enqueue, _loop_publish

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def env(redis_db1: str, queue: str) -> dict[str, str]:
    """A Redis broker and no result backend: every publish may run on the loop."""
    return {
        "RISO_TASKS_BROKER_URL": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
    }


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each publish that went through a thread."""
    calls: list[str] = []
    real = _enqueue.run_blocking

    async def counting(fn: Callable[[], Any], limit: float) -> Any:
        calls.append("thread")
        return await real(fn, limit)

    monkeypatch.setattr(_enqueue, "run_blocking", counting)
    return calls


@pytest.fixture
def broker(redis_db1: str, queue: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_db1)
    yield client
    client.delete(queue, f"pfx:{queue}")
    client.close()


async def test_inside_the_lifespan_publishes_run_on_the_loop_and_each_is_sent_once(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    queue: str,
    broker: redis.Redis,
    threads: list[str],
) -> None:
    app = make_app(monkeypatch, env)
    async with serving(app) as client:
        # The first publish sets up the pooled connection, through a thread.
        assert (await client.post("/add", params={"x": 0, "y": 0})).status_code == 200
        assert threads == ["thread"]
        for i in range(20):
            assert (await client.post("/add", params={"x": i, "y": 1})).status_code == 200
        replies = await asyncio.gather(
            *(client.post("/add", params={"x": i, "y": 2}) for i in range(20))
        )
        assert {r.status_code for r in replies} == {200}
        senders = _loop_publish._loops[asyncio.get_running_loop()].senders
        assert len(senders) == 1
    assert threads == ["thread"], "after the first, no publish needed a thread"
    assert broker.llen(queue) == 41, "every enqueue put exactly one message on the queue"


async def test_both_paths_put_the_same_message_on_the_queue(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    queue: str,
    broker: redis.Redis,
    threads: list[str],
) -> None:
    app = make_app(monkeypatch, env)

    async def publish(tag: str) -> dict[str, Any]:
        token = riso.request_id_var.set(f"rid-{tag}")
        try:
            result = await riso_tasks.enqueue(riso_tasks_testapp.add, 2, 3)
        finally:
            riso.request_id_var.reset(token)
        raw = broker.rpop(queue)
        assert raw is not None
        message: dict[str, Any] = json.loads(raw)
        assert message["headers"]["id"] == result.id
        return message

    async with app.router.lifespan_context(app):
        await publish("warm")  # through a thread: sets the connection up
        on_loop = await publish("loop")
    assert threads == ["thread"]
    through_thread = await publish("thread")  # the lifespan is over: a thread again
    assert threads == ["thread", "thread"]

    def shape(message: dict[str, Any]) -> dict[str, Any]:
        headers = message["headers"]
        return {
            "keys": sorted(message),
            "header_keys": sorted(headers),
            "task": headers["task"],
            "body": json.loads(base64.b64decode(message["body"])),
            "routing": message["properties"]["delivery_info"],
            "content_type": message["content-type"],
        }

    assert shape(on_loop) == shape(through_thread)
    assert shape(on_loop)["body"][0] == [2, 3]
    assert on_loop["headers"]["riso_request_id"] == "rid-loop"
    assert through_thread["headers"]["riso_request_id"] == "rid-thread"


async def test_a_real_worker_runs_what_was_published_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    broker: redis.Redis,
    threads: list[str],
) -> None:
    worker = start_worker(env, "--pool", "solo", "--loglevel", "INFO")
    key = f"record-{uuid.uuid4().hex}"
    app = make_app(monkeypatch, env)
    async with serving(app) as client:
        for tag in ("first", "second", "third"):
            reply = await client.post(
                "/record", params={"key": key, "tag": tag}, headers={"X-Request-ID": f"r-{tag}"}
            )
            assert reply.status_code == 200
    assert threads == ["thread"]
    worker.wait_for(r"recording third")
    wait_for_length(broker, key, 3)
    recorded = sorted(v.decode() for v in broker.lrange(key, 0, -1))
    broker.delete(key)
    assert recorded == ["first r-first", "second r-second", "third r-third"]


def wait_for_length(client: redis.Redis, key: str, length: int) -> None:
    deadline = time.monotonic() + 30
    while client.llen(key) < length and time.monotonic() < deadline:
        time.sleep(0.05)


async def test_the_lifespan_end_closes_the_loops_connections(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], broker: redis.Redis
) -> None:
    app = make_app(monkeypatch, env)
    loop = asyncio.get_running_loop()
    async with app.router.lifespan_context(app):
        for i in range(3):
            await riso_tasks.enqueue(riso_tasks_testapp.add, i, i)
        (sender,) = _loop_publish._loops[loop].senders.values()
        connections = list(sender._open)
        assert connections
        assert all(c.is_connected for c in connections)
    assert loop not in _loop_publish._loops
    assert not any(c.is_connected for c in connections)
    # Outside a lifespan enqueue still works, through a thread.
    await riso_tasks.enqueue(riso_tasks_testapp.add, 9, 9)


async def test_a_connection_the_server_closed_is_replaced_without_an_error(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    queue: str,
    broker: redis.Redis,
    threads: list[str],
) -> None:
    app = make_app(monkeypatch, env)
    async with serving(app) as client:
        for i in range(2):
            assert (await client.post("/add", params={"x": i, "y": 0})).status_code == 200
        (sender,) = _loop_publish._loops[asyncio.get_running_loop()].senders.values()
        (connection,) = sender._open
        host, port = connection._writer.get_extra_info("sockname")[:2]
        assert broker.client_kill(f"{host}:{port}")  # as a Redis restart or idle timeout would
        assert (await client.post("/add", params={"x": 9, "y": 0})).status_code == 200
        assert connection not in sender._open
    assert threads == ["thread"]
    assert broker.llen(queue) == 3


@pytest.mark.parametrize(
    ("extra", "loop_attempts", "why"),
    [
        # the first attempt sets up the pooled connection, the second finds the
        # settings unusable on the loop; no publish after that tries again
        ({"RISO_TASKS_BROKER_TRANSPORT_OPTIONS": '{"global_keyprefix": "pfx:"}'}, 2, "key prefix"),
        ({"RISO_TASKS_RESULT_BACKEND": "REDIS"}, 0, "a Redis result backend subscribes on send"),
    ],
)
async def test_what_the_loop_cannot_send_goes_through_a_thread(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    redis_db1: str,
    queue: str,
    broker: redis.Redis,
    threads: list[str],
    extra: dict[str, str],
    loop_attempts: int,
    why: str,
) -> None:
    attempts: list[str] = []
    real = _loop_publish.publish_on_loop

    async def counting(pool: Any, publish: Callable[..., Any], limit: float) -> Any:
        attempts.append("loop")
        return await real(pool, publish, limit)

    monkeypatch.setattr(_loop_publish, "publish_on_loop", counting)
    settings = {**env, **{k: redis_db1 if v == "REDIS" else v for k, v in extra.items()}}
    app = make_app(monkeypatch, settings)
    async with serving(app) as client:
        for i in range(5):
            assert (await client.post("/add", params={"x": i, "y": i})).status_code == 200
    assert threads == ["thread"] * 5, why
    assert len(attempts) == loop_attempts, why
    prefixed = "RISO_TASKS_BROKER_TRANSPORT_OPTIONS" in extra
    assert broker.llen(f"pfx:{queue}" if prefixed else queue) == 5
    assert broker.llen(queue if prefixed else f"pfx:{queue}") == 0
