"""Each private Celery/kombu API riso-tasks uses (``riso_tasks._compat``) still
exists upstream, takes what riso passes and is used on the path riso relies on.

One test per private use: a rename or a changed signature upstream fails its
test here, by name, instead of somewhere deep in a real-worker test (or, for
the loop publish, silently: every publish would go through a thread again).
``make test-latest`` runs these against the newest releases.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from celery import Celery, chain
from celery import _state as typed_state
from celery.canvas import Signature
from celery.result import assert_will_not_block  # type: ignore[attr-defined]
from celery.worker import WorkController
from kombu import Connection
from kombu.transport import redis as typed_kombu_redis

from riso_tasks import _compat, _loop_publish, _redis


def accepts(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether ``fn``'s signature takes these arguments (as riso or kombu passes them)."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


# Untyped handles: the stubs leave out the private names these tests are about.
celery_state: Any = typed_state
KombuChannel: Any = typed_kombu_redis.Channel
BATCH = _loop_publish._Collected()


# --- celery._state._set_task_join_will_block (the embedded worker) -----------------


@pytest.fixture
def join_will_block() -> Iterator[None]:
    """Leave Celery's process-wide flag as a web process has it."""
    yield
    celery_state._set_task_join_will_block(False)


@pytest.mark.usefixtures("join_will_block")
def test_task_join_will_block_is_set_by_a_worker_pool_and_reset_by_compat() -> None:
    assert accepts(celery_state._set_task_join_will_block, False)
    assert_will_not_block()  # a plain process may wait for results
    capp = Celery("compat-join", broker="memory://", set_as_current=False)
    capp.finalize()
    # What EmbeddedWorker builds: creating the pool marks the process as a worker's...
    WorkController(
        app=capp,
        pool="threads",
        concurrency=1,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    assert celery_state.task_join_will_block() is True
    with pytest.raises(RuntimeError, match=r"Never call result\.get\(\) within a task"):
        assert_will_not_block()
    # ...and riso's reset makes AsyncResult.get() usable in the web code again.
    _compat.set_task_join_will_block(False)
    assert celery_state.task_join_will_block() is False
    assert_will_not_block()


# --- Signature._app (enqueue of a signature) -----------------------------------------


def two_apps() -> tuple[Celery, Celery]:
    """Two eager apps with a task of the same name, each answering its own name."""
    apps = []
    for name in ("first", "second"):
        capp = Celery(f"compat-{name}", set_as_current=False)
        capp.conf.task_always_eager = True

        def which(*_: Any, _name: str = name) -> str:
            return _name

        capp.task(name="compat.which", shared=False)(which)
        capp.finalize()
        apps.append(capp)
    return apps[0], apps[1]


def test_signature_app_attribute_is_what_clones_and_publishes_use() -> None:
    first, second = two_apps()
    assert Signature._app is None  # type: ignore[attr-defined]
    sig = first.signature("compat.which").clone(args=(1,))
    assert sig._app is first  # type: ignore[attr-defined]  # clone() passes it on
    _compat.bind_signature(sig, second)
    assert sig.app is second
    assert sig.type is second.tasks["compat.which"]
    assert sig.clone()._app is second  # type: ignore[attr-defined]
    assert sig.apply_async().get() == "second"


def test_signature_app_attribute_reaches_a_chain() -> None:
    first, second = two_apps()
    workflow = chain(first.signature("compat.which"), first.signature("compat.which"))
    clone = workflow.clone(args=(1,))
    _compat.bind_signature(clone, second)
    assert clone.app is second  # a chain's app has no setter: only _app reaches it
    assert clone.clone().app is second


# --- kombu's Redis Channel: _create_client, _put, _put_fanout, _connparams ----------


@pytest.fixture
def channel(redis_db1: str) -> Iterator[Any]:
    """A channel of riso's Redis transport on a real Redis."""
    connection = Connection(redis_db1, transport=_redis.Transport)
    try:
        yield connection.default_channel
    finally:
        connection.release()


@pytest.fixture
def broker(redis_db1: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_db1)
    yield client
    client.close()


@pytest.fixture
def client_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``asynchronous`` argument of each client kombu asks riso's channel for."""
    calls: list[bool] = []
    real = _redis.Channel.riso_client

    def recording(self: _redis.Channel, asynchronous: bool) -> Any:
        calls.append(asynchronous)
        return real(self, asynchronous)

    monkeypatch.setattr(_redis.Channel, "riso_client", recording)
    return calls


def test_riso_channel_takes_over_kombus_private_methods() -> None:
    for name in ("_create_client", "_put", "_put_fanout"):
        assert name in vars(KombuChannel), f"kombu's Redis Channel has no {name}"
        resolved = inspect.getattr_static(_redis.Channel, name)
        assert resolved is vars(_compat.RedisChannelHooks)[name]


def test_create_client_is_how_kombu_gets_a_client_for_each_command(
    channel: Any, broker: redis.Redis, client_calls: list[bool]
) -> None:
    create_client = KombuChannel._create_client
    assert accepts(create_client, None)
    assert accepts(create_client, None, asynchronous=True)
    assert inspect.signature(create_client).parameters["asynchronous"].default is False
    queue = f"riso-compat-{uuid.uuid4().hex[:10]}"
    try:
        client_calls.clear()  # connecting may have asked already
        for _ in range(2):
            channel.basic_publish(channel.prepare_message(b"{}"), "", queue)
        assert broker.llen(queue) == 2
        assert client_calls == [False, False]
        # one client per channel: the point of taking _create_client over
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        assert client_calls == [False, False, False, False]
    finally:
        broker.delete(queue)
    client_calls.clear()
    kombu_client = channel.kombu_client()
    assert isinstance(kombu_client, redis.Redis)
    assert kombu_client is not channel.kombu_client()
    assert client_calls == []  # kombu_client is kombu's own, not the override


def collect(publish: Callable[[], object]) -> Any:
    """Run ``publish`` in collecting mode; the collected commands and params."""
    collected = _loop_publish._Collected()
    token = _loop_publish.collecting.set(collected)
    try:
        publish()
    finally:
        _loop_publish.collecting.reset(token)
    return collected


def test_put_hands_the_final_commands_to_the_publish_batch(
    channel: Any, broker: redis.Redis
) -> None:
    assert accepts(KombuChannel._put, None, "queue", {}, _publish_batch=BATCH)
    assert "_publish_batch" in inspect.getsource(KombuChannel._put)
    queue = f"riso-compat-{uuid.uuid4().hex[:10]}"
    message = channel.prepare_message(b'{"x": 1}')
    collected = collect(lambda: channel.basic_publish(message, "", queue))
    assert [(name, args[0]) for name, args in collected.commands] == [("lpush", queue)]
    assert json.loads(collected.commands[0][1][1]) == message
    assert collected.params is not None
    assert broker.llen(queue) == 0, "the batch took the command: nothing was sent"


def test_put_fanout_hands_the_final_commands_to_the_publish_batch(
    channel: Any, broker: redis.Redis
) -> None:
    assert accepts(KombuChannel._put_fanout, None, "exchange", {}, "", _publish_batch=BATCH)
    assert "_publish_batch" in inspect.getsource(KombuChannel._put_fanout)
    exchange = f"riso-compat-fanout-{uuid.uuid4().hex[:10]}"
    channel.exchange_declare(exchange, type="fanout")
    pubsub = broker.pubsub()  # type: ignore[no-untyped-call]
    pubsub.psubscribe(f"*{exchange}*")
    try:
        assert pubsub.get_message(timeout=1) is not None  # the subscription itself
        message = channel.prepare_message(b"{}")
        collected = collect(lambda: channel.basic_publish(message, exchange, ""))
        assert [name for name, _ in collected.commands] == ["publish"]
        assert exchange in collected.commands[0][1][0]
        assert pubsub.get_message(timeout=0.2) is None, "nothing was sent"
    finally:
        pubsub.close()


def test_connparams_give_what_redis_asyncio_takes(channel: Any) -> None:
    assert accepts(KombuChannel._connparams, None)
    given = channel.kombu_connection_params()
    assert given["connection_class"] is redis.Connection
    # A plain redis:// broker must stay usable on the loop (NeverOnLoop otherwise).
    params = dict(channel._async_params())
    assert params["host"] == "127.0.0.1"
    assert params["db"] == 1


# --- the test suite's own reset (conftest.py) ---------------------------------------


def test_conftest_reset_of_the_current_and_default_app() -> None:
    capp = Celery("compat-current", set_as_current=True)
    capp.set_default()
    assert celery_state.get_current_app() is capp
    celery_state.default_app = None  # what conftest's _reset_state does after each test
    celery_state._tls.current_app = None
    assert celery_state.get_current_app() is not capp
