"""Where idempotency keys live: Redis when there is one, else process memory.

Two keys per idempotency key: ``done`` (set when a delivery succeeded, kept
``RISO_TASKS_IDEMPOTENCY_TTL`` seconds) and ``lock`` (the task id of the
delivery running it, expiring after the hard time limit). A redelivery of the
same message (same task id) takes the lock over: its first delivery died.

The in-memory store only works within one process: the embedded worker, or a
single worker process. Any deployment with several workers needs Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

PREFIX = "riso:tasks:idem:"


class IdempotencyStore(Protocol):
    def is_done(self, key: str) -> bool: ...
    def acquire(self, key: str, task_id: str, *, ttl: int) -> bool: ...
    def release(self, key: str, task_id: str) -> None: ...
    def mark_done(self, key: str, task_id: str) -> None: ...


class MemoryStore:
    """Keys in this process only."""

    def __init__(self, done_ttl: int) -> None:
        self._done_ttl = done_ttl
        self._lock = threading.Lock()
        self._done: dict[str, float] = {}
        self._running: dict[str, tuple[str, float]] = {}

    def is_done(self, key: str) -> bool:
        with self._lock:
            expires = self._done.get(key)
            return expires is not None and expires > time.monotonic()

    def acquire(self, key: str, task_id: str, *, ttl: int) -> bool:
        now = time.monotonic()
        with self._lock:
            holder = self._running.get(key)
            if holder is not None and holder[0] != task_id and holder[1] > now:
                return False
            self._running[key] = (task_id, now + ttl)
            return True

    def release(self, key: str, task_id: str) -> None:
        with self._lock:
            if self._running.get(key, ("", 0.0))[0] == task_id:
                del self._running[key]

    def mark_done(self, key: str, task_id: str) -> None:
        with self._lock:
            self._done[key] = time.monotonic() + self._done_ttl
            if self._running.get(key, ("", 0.0))[0] == task_id:
                del self._running[key]


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


class RedisStore:
    """Keys in Redis: shared by every worker using the same Redis."""

    def __init__(self, url: str, done_ttl: int) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._done_ttl = done_ttl
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)

    def is_done(self, key: str) -> bool:
        return bool(self._client.exists(PREFIX + key + ":done"))

    def acquire(self, key: str, task_id: str, *, ttl: int) -> bool:
        return bool(self._acquire(keys=[PREFIX + key + ":lock"], args=[task_id, ttl]))

    def release(self, key: str, task_id: str) -> None:
        self._release(keys=[PREFIX + key + ":lock"], args=[task_id])

    def mark_done(self, key: str, task_id: str) -> None:
        pipe = self._client.pipeline()
        pipe.set(PREFIX + key + ":done", task_id, ex=self._done_ttl)
        pipe.execute()
        self.release(key, task_id)


_STORES_LOCK = threading.Lock()


def store_for(capp: Any) -> IdempotencyStore:
    """The store of a Celery app (created on first use, kept on the app)."""
    store: IdempotencyStore | None = getattr(capp, "riso_idempotency_store", None)
    if store is not None:
        return store
    with _STORES_LOCK:
        store = getattr(capp, "riso_idempotency_store", None)
        if store is None:
            settings = getattr(capp, "riso_settings", None)
            ttl = settings.idempotency_ttl if settings is not None else 86400
            url = settings.redis_url_for_keys() if settings is not None else None
            store = RedisStore(url, ttl) if url else MemoryStore(ttl)
            capp.riso_idempotency_store = store
    return store
