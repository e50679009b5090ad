"""Ordering features by what they require; ties broken by name."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from riso._exceptions import CycleError


def order(requires: Mapping[str, Sequence[str]]) -> list[str]:
    """Names in an order where every feature comes after what it requires.

    Among the features ready at any step the smallest name goes first, so the
    result depends only on the declarations, never on installation order.
    ``requires`` must only mention names that are keys.
    """
    dependents: dict[str, list[str]] = {name: [] for name in requires}
    pending = {name: len(set(reqs)) for name, reqs in requires.items()}
    for name, reqs in requires.items():
        for req in set(reqs):
            dependents[req].append(name)
    ready = [name for name, count in pending.items() if count == 0]
    heapq.heapify(ready)
    result: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        result.append(name)
        for dependent in dependents[name]:
            pending[dependent] -= 1
            if pending[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(result) < len(requires):
        raise CycleError(f"features require each other in a cycle: {_cycle(requires, result)}")
    return result


def _cycle(requires: Mapping[str, Sequence[str]], done: Sequence[str]) -> str:
    """One cycle among the features left over, as 'a -> b -> a'."""
    left = {name for name in requires if name not in set(done)}
    path: list[str] = []
    node = min(left)
    while node not in path:
        path.append(node)
        node = min(req for req in requires[node] if req in left)
    cycle = [*path[path.index(node) :], node]
    return " -> ".join(cycle)
