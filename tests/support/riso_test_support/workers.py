"""Which pytest-xdist worker runs this process, and the Redis databases it may use."""

from __future__ import annotations

import os


def worker_index() -> int:
    """0 for ``gw0`` (and without xdist), 1 for ``gw1``, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0)


def redis_db(base: int) -> int:
    """Redis database ``base`` shifted per xdist worker, so parallel workers never share one.

    The workspace's tests own these bases: 1 (riso-tasks), 5 (the system
    tests, all on one worker) and 11 (riso-auth's counters); up to four
    workers (``-n 4``) stay clear of the other bases.
    """
    number = base + worker_index()
    if not 0 <= number <= 15:
        raise ValueError(f"Redis database {number} is out of range (16 databases)")
    return number
