"""Real brokers (Redis db 1, RabbitMQ) and real worker processes: no eager mode."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import redis
import riso_tasks_testapp
from fastapi import FastAPI
from riso_test_support.tasks import WorkerProcess, make_app, serving

import riso_tasks
from riso.testing import TcpProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_env(
    request: pytest.FixtureRequest, redis_db1: str, queue: str
) -> Iterator[dict[str, str]]:
    """Settings for a real broker; results (and task records) go to Redis db 1."""
    broker = redis_db1 if request.param == "redis" else request.getfixturevalue("rabbitmq_url")
    yield {
        "RISO_TASKS_BROKER_URL": broker,
        "RISO_TASKS_RESULT_BACKEND": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
    }
    if request.param == "rabbitmq":
        from kombu import Connection

        with Connection(broker) as conn:
            conn.default_channel.queue_delete(queue)


@pytest.fixture
def redis_env(redis_db1: str, queue: str) -> dict[str, str]:
    return {
        "RISO_TASKS_BROKER_URL": redis_db1,
        "RISO_TASKS_RESULT_BACKEND": redis_db1,
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "TASKS_TEST_REDIS": redis_db1,
    }


ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_factory() -> AsyncIterator[ClientFactory]:
    """Clients of apps whose lifespan runs, as under a server (``lifespan=False`` skips it)."""
    async with AsyncExitStack() as stack:

        async def make(app: FastAPI, *, lifespan: bool = True) -> httpx.AsyncClient:
            return await stack.enter_async_context(serving(app, lifespan=lifespan))

        yield make


async def wait_state(
    client: httpx.AsyncClient, task_id: str, states: set[str], wait: float = 60
) -> dict[str, Any]:
    """Poll the status endpoint until the task reaches one of ``states``."""
    deadline = time.monotonic() + wait
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/tasks/{task_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["state"] in states:
            return body
        await _sleep(0.1)
    pytest.fail(f"task {task_id} never reached {states}; last: {body}")


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


async def test_endpoint_enqueues_and_real_worker_runs_it_with_request_id(
    monkeypatch: pytest.MonkeyPatch,
    broker_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    client_factory: ClientFactory,
) -> None:
    worker = start_worker(broker_env, "--pool", "solo", "--loglevel", "INFO")
    client = await client_factory(make_app(monkeypatch, broker_env))
    request_id = f"req-{uuid.uuid4().hex}"

    response = await client.post(
        "/add", params={"x": 2, "y": 3}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200, response.text
    body = await wait_state(client, response.json()["id"], {"SUCCESS", "FAILURE"})

    assert body == {"state": "SUCCESS", "result": 5}
    line = worker.wait_for(r"adding 2 and 3")
    assert f"request_id={request_id}" in line


async def test_with_riso_obs_the_worker_logs_through_it_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch,
    redis_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    client_factory: ClientFactory,
) -> None:
    riso_obs = pytest.importorskip("riso_obs")
    env = {**redis_env, "TASKS_TEST_WITH_OBS": "1"}
    worker = start_worker(env, "--pool", "solo", "--loglevel", "INFO")
    try:
        client = await client_factory(make_app(monkeypatch, env))
    finally:
        riso_obs.reset()  # include() configured logging in this process too
    request_id = f"req-{uuid.uuid4().hex}"

    response = await client.post(
        "/add", params={"x": 4, "y": 5}, headers={"X-Request-ID": request_id}
    )
    assert (await wait_state(client, response.json()["id"], {"SUCCESS"}))["result"] == 9
    line = worker.wait_for(r"adding 4 and 5")
    assert request_id in line


async def test_failing_task_is_retried_with_backoff_then_recorded_failed(
    monkeypatch: pytest.MonkeyPatch,
    redis_env: dict[str, str],
    key: str,
    start_worker: Callable[..., WorkerProcess],
    client_factory: ClientFactory,
) -> None:
    start_worker(redis_env, "--pool", "solo")
    client = await client_factory(make_app(monkeypatch, redis_env))

    response = await client.post("/flaky", params={"key": key})
    body = await wait_state(client, response.json()["id"], {"SUCCESS", "FAILURE"})

    assert body["state"] == "FAILURE"
    assert "flaky failure 2" in body["error"]
    attempts = [
        entry.decode().split(":")
        for entry in redis.Redis.from_url(redis_env["TASKS_TEST_REDIS"]).lrange(
            f"{key}:attempts", 0, -1
        )
    ]
    assert [int(retries) for retries, _ in attempts] == [0, 1, 2]
    times = [float(at) for _, at in attempts]
    # flaky: retry_backoff=1, no jitter -> countdowns of 1 s then 2 s (ETAs: lower bounds)
    assert times[1] - times[0] >= 0.9
    assert times[2] - times[1] >= 1.9


async def test_killed_worker_redelivers_and_idempotent_task_completes_once(
    monkeypatch: pytest.MonkeyPatch,
    broker_env: dict[str, str],
    key: str,
    start_worker: Callable[..., WorkerProcess],
    client_factory: ClientFactory,
) -> None:
    env = {
        **broker_env,
        # Redis redelivers unacknowledged messages after the visibility timeout.
        "RISO_TASKS_VISIBILITY_TIMEOUT": "3",
        "RISO_TASKS_BROKER_TRANSPORT_OPTIONS": (
            '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}'
        ),
    }
    records = redis.Redis.from_url(broker_env["TASKS_TEST_REDIS"])
    first = start_worker(env, "--pool", "solo")
    client = await client_factory(make_app(monkeypatch, env))

    response = await client.post("/crashable", params={"key": key})
    task_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while not records.get(f"{key}:started"):
        assert time.monotonic() < deadline, first.output
        await _sleep(0.05)
    first.kill()  # mid-task: the message was never acknowledged (acks_late)

    start_worker(env, "--pool", "solo")
    body = await wait_state(client, task_id, {"SUCCESS", "FAILURE"})
    assert body == {"state": "SUCCESS", "result": "done"}
    assert int(records.get(f"{key}:attempts") or 0) == 2
    assert int(records.get(f"{key}:completions") or 0) == 1

    # The same idempotency key again: skipped, the body does not run a third time.
    again = await client.post("/crashable", params={"key": key})
    body = await wait_state(client, again.json()["id"], {"SUCCESS", "FAILURE"})
    assert body == {"state": "SUCCESS", "result": None}
    assert int(records.get(f"{key}:attempts") or 0) == 2
    assert int(records.get(f"{key}:completions") or 0) == 1


@pytest.mark.parametrize("lifespan", [True, False], ids=["on-the-loop", "through-a-thread"])
async def test_broker_down_gives_503_then_recovers(
    monkeypatch: pytest.MonkeyPatch,
    redis_proxy: TcpProxy,
    queue: str,
    client_factory: ClientFactory,
    redis_db1: str,
    lifespan: bool,
) -> None:
    # Inside the lifespan a Redis publish runs on the event loop; outside, in a thread.
    env = {
        "RISO_TASKS_BROKER_URL": f"redis://127.0.0.1:{redis_proxy.port}/1",
        "RISO_TASKS_DEFAULT_QUEUE": queue,
        "RISO_TASKS_PUBLISH_TIMEOUT": "2",
    }
    client = await client_factory(make_app(monkeypatch, env), lifespan=lifespan)
    broker = redis.Redis.from_url(redis_db1)

    assert (await client.post("/add", params={"x": 1, "y": 1})).status_code == 200
    assert broker.llen(queue) == 1
    sent = sent_count("riso_tasks_testapp.add")

    redis_proxy.stop()
    started = time.monotonic()
    down = await client.post("/add", params={"x": 1, "y": 2})
    elapsed = time.monotonic() - started
    assert down.status_code == 503
    assert down.json() == {"detail": "the task queue is unavailable; try again later"}
    assert down.headers["retry-after"] == "5"
    assert elapsed < 10, "enqueue must fail within a bounded time (publish timeout 2 s)"
    assert (await client.get("/ping")).json() == {"pong": "yes"}
    assert broker.llen(queue) == 1
    assert sent_count("riso_tasks_testapp.add") == sent, "a failed publish is not counted as sent"

    redis_proxy.start()
    assert (await client.post("/add", params={"x": 1, "y": 3})).status_code == 200
    assert broker.llen(queue) == 2
    assert sent_count("riso_tasks_testapp.add") == sent + 1
    broker.delete(queue)


def sent_count(task: str) -> float:
    prometheus_client = pytest.importorskip("prometheus_client")
    value = prometheus_client.REGISTRY.get_sample_value("riso_tasks_sent_total", {"task": task})
    return value or 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((object(), 1), {}, "argument 'x' (position 0)"),
        ((1,), {"y": {1, 2}}, "argument 'y'"),
        ((1, complex(1, 2)), {}, "argument 'y' (position 1)"),
    ],
)
async def test_non_json_argument_rejected_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    redis_env: dict[str, str],
    queue: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    named: str,
) -> None:
    make_app(monkeypatch, redis_env)
    broker = redis.Redis.from_url(redis_env["RISO_TASKS_BROKER_URL"])
    with pytest.raises(riso_tasks.NotSerializableError) as caught:
        await riso_tasks.enqueue(riso_tasks_testapp.add, *args, **kwargs)
    assert named in str(caught.value)
    assert caught.value.argument == named
    assert "riso_tasks_testapp.add" in str(caught.value)
    assert broker.llen(queue) == 0  # nothing was published


async def test_non_json_argument_of_a_task_sent_by_name(
    monkeypatch: pytest.MonkeyPatch, redis_env: dict[str, str], queue: str
) -> None:
    make_app(monkeypatch, redis_env)
    with pytest.raises(riso_tasks.NotSerializableError, match="positional argument 1"):
        await riso_tasks.enqueue("some.remote.task", 1, object())
    assert redis.Redis.from_url(redis_env["RISO_TASKS_BROKER_URL"]).llen(queue) == 0


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"countdown": 10}, False),
        ({"countdown": 7200}, True),
        ({"eta": "2999-01-01T00:00:00+00:00"}, True),
    ],
)
async def test_eta_beyond_redis_visibility_timeout_refused(
    monkeypatch: pytest.MonkeyPatch,
    redis_env: dict[str, str],
    queue: str,
    options: dict[str, Any],
    refused: bool,
) -> None:
    make_app(monkeypatch, redis_env)
    broker = redis.Redis.from_url(redis_env["RISO_TASKS_BROKER_URL"])
    signature = riso_tasks_testapp.add.s(1, 2).set(**options)
    if refused:
        with pytest.raises(riso_tasks.EtaTooFarError, match="visibility timeout"):
            await riso_tasks.enqueue(signature)
        with pytest.raises(riso_tasks.EtaTooFarError):
            riso_tasks_testapp.add.apply_async((1, 2), **options)
        assert broker.llen(queue) == 0
    else:
        await riso_tasks.enqueue(signature)
    broker.delete(queue)
