"""kombu's Redis transport: a client kept per channel, and collecting mode.

kombu builds a new ``redis.Redis`` for every command it sends outside the
consumer loop; with redis-py 6 and later that is about 100 µs, a quarter of a
publish on loopback. The client owns no connection (the channel's pool does)
and is safe to share between threads, so one per channel serves; it is
rebuilt when the channel replaces its pool (after a fork or a disconnect).

In collecting mode (see ``_loop_publish``) the channel hands the final Redis
commands of a publish to the collector through kombu's own batch hook and
refuses any other I/O with WouldBlock. The kombu methods this takes over are
private: ``_compat.RedisChannelHooks`` names them.

Used for ``redis://`` brokers only: kombu turns TLS on for ``rediss://`` from
the URL scheme, which naming a transport would bypass.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis import Connection as TcpConnection

from riso_tasks._compat import RedisChannelHooks
from riso_tasks._loop_publish import NeverOnLoop, WouldBlock, collecting

# Connection settings redis.asyncio takes as kombu gives them; anything else
# (TLS, unix sockets, credential providers) keeps the publish on a thread.
_ASYNC_PARAMS = frozenset(
    {
        "host",
        "port",
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "client_name",
        "max_connections",
        "health_check_interval",
    }
)
_IGNORED_PARAMS = frozenset({"socket_keepalive_options", "retry_on_timeout", "connection_class"})


class Channel(RedisChannelHooks, kombu_redis.Channel):
    _riso_client: Any = None
    _riso_params: tuple[tuple[str, Any], ...] | None = None

    def riso_client(self, asynchronous: bool) -> Any:
        if collecting.get() is not None:
            raise WouldBlock
        if asynchronous:
            return self.kombu_client(asynchronous=True)
        pool = self.pool
        client = self._riso_client
        if client is None or client.connection_pool is not pool:
            client = self._riso_client = self.kombu_client()
        return client

    def riso_publish_batch(self) -> Any:
        """In collecting mode, make kombu hand the final commands to the collector."""
        collected = collecting.get()
        if collected is not None:
            collected.params = self._async_params()
        return collected

    def _async_params(self) -> tuple[tuple[str, Any], ...]:
        params = self._riso_params
        if params is None:
            given = self.kombu_connection_params()
            usable = (
                set(given) <= _ASYNC_PARAMS | _IGNORED_PARAMS
                and given.get("connection_class", TcpConnection) is TcpConnection
                and not self.global_keyprefix
            )
            if not usable:
                raise NeverOnLoop
            params = tuple(sorted((k, v) for k, v in given.items() if k in _ASYNC_PARAMS))
            self._riso_params = params
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
