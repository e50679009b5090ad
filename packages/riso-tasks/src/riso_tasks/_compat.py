"""The private Celery and kombu APIs riso-tasks relies on, each named only here.

Users upgrade Celery and kombu within riso-tasks' ranges without upgrading
riso-tasks, so every private name used is kept here with why no public API
serves; ``tests/test_compat.py`` fails the day one of them changes upstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import _state as celery_state

if TYPE_CHECKING:
    from celery import Celery
    from celery.canvas import Signature


def set_task_join_will_block(blocks: bool) -> None:
    """Set Celery's process-wide flag that makes ``AsyncResult.get()`` raise."""
    # A worker sets it when it creates its pool (celery.worker.components.Pool)
    # and Celery has no public way to reset it for good: the public
    # allow_join_result() lifts it only inside a with block. Celery's own
    # in-process test worker (celery.contrib.testing.worker) calls this setter.
    celery_state._set_task_join_will_block(blocks)  # type: ignore[attr-defined]


def bind_signature(sig: Signature[Any], capp: Celery) -> None:
    """Make ``sig`` find its task and publish through ``capp``, as clones of it will."""
    # Signatures take their app only as a constructor argument, each canvas
    # type (chain, group, chord) its own way; clone() passes on ``_app``, and
    # ``app``, ``type`` and apply_async read it. ``app`` is no substitute: a
    # chain's has no setter, and clones made when publishing copy ``_app``.
    sig._app = capp  # type: ignore[attr-defined]


class RedisChannelHooks:
    """Mixin for a subclass of kombu's Redis ``Channel``: its private methods
    riso overrides, turned into the two ``riso_*`` hooks below.

    kombu has no public way to choose the client it uses for each command
    outside the consumer loop (it builds a new one with ``_create_client``),
    nor to take the final Redis commands of a publish instead of sending them:
    only the ``_publish_batch`` argument of ``_put`` / ``_put_fanout`` does
    that (its PublishBatch passes it; any object with ``add(name, *args)``
    serves). A mixin, so that importing this module does not import
    kombu.transport.redis (and redis-py with it).
    """

    def riso_client(self, asynchronous: bool) -> Any:
        """The client for kombu's commands (``asynchronous``: its consumer loop's)."""
        return self.kombu_client(asynchronous)

    def riso_publish_batch(self) -> Any:
        """What takes the final commands of the publish under way, or None to send them."""
        return None

    def kombu_client(self, asynchronous: bool = False) -> Any:
        """A new client, as kombu builds one."""
        return super()._create_client(asynchronous=asynchronous)  # type: ignore[misc]

    def kombu_connection_params(self) -> dict[str, Any]:
        """The keyword arguments kombu builds its redis-py connection pool with."""
        params: dict[str, Any] = self._connparams()  # type: ignore[attr-defined]
        return params

    def _create_client(self, asynchronous: bool = False) -> Any:
        return self.riso_client(asynchronous)

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        batch = self.riso_publish_batch()
        if batch is not None:
            kwargs["_publish_batch"] = batch
        super()._put(queue, message, **kwargs)  # type: ignore[misc]

    def _put_fanout(self, exchange: str, message: Any, routing_key: str, **kwargs: Any) -> None:
        batch = self.riso_publish_batch()
        if batch is not None:
            kwargs["_publish_batch"] = batch
        super()._put_fanout(exchange, message, routing_key, **kwargs)  # type: ignore[misc]
