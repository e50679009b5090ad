"""Whether the caller's lookup may run on the request's ``riso_db`` session.

It may when something else in the endpoint's dependency tree (``DbSession``,
or a dependency built on it) uses that same session: FastAPI solves
``riso_db.get_session`` once per request, so the lookup and the endpoint then
share one pooled connection. Otherwise the lookup takes a connection of its own
and returns it at once, as it always did: holding the unused session's
connection for the whole request would make an endpoint that opens sessions
of its own (riso-auth's logout, for one) hold two at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from riso_db import get_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.requests import HTTPConnection

#: routes remembered at most (forgotten all at once past it)
_MAX_ROUTES = 10_000
#: id(route.dependant) -> (that dependant, whether it shares the session)
_SHARES: dict[int, tuple[object, bool]] = {}


def session_to_share(
    connection: HTTPConnection,
    session: AsyncSession,
    lookups: Collection[Callable[..., Any]],
) -> AsyncSession | None:
    """``session`` if the endpoint uses it too, else None.

    ``lookups`` are the dependencies that ask for the session only to look
    the caller up; their own use of it does not count.
    """
    dependant = getattr(connection.scope.get("route"), "dependant", None)
    if dependant is None:  # not a FastAPI route: nothing to share with
        return None
    key = id(dependant)
    known = _SHARES.get(key)
    if known is None or known[0] is not dependant:
        if len(_SHARES) >= _MAX_ROUTES:
            _SHARES.clear()
        known = _SHARES[key] = (dependant, uses_request_session(dependant, lookups))
    return session if known[1] else None


def uses_request_session(dependant: object, lookups: Collection[Callable[..., Any]]) -> bool:
    """Whether a dependency below ``dependant`` gets the session the ``lookups`` get.

    Reads FastAPI's dependency tree (``Dependant``: ``dependencies``, ``call``,
    ``use_cache``, ``scope``, and ``cache_key`` where FastAPI has one);
    ``tests/test_connections.py`` fails if its shape changes.
    """
    theirs: list[object] = []
    others: list[object] = []
    _collect(dependant, lookups, theirs, others, in_lookup=False)
    return any(_same_session(a, b) for a in others for b in theirs)


def _collect(
    dependant: object,
    lookups: Collection[Callable[..., Any]],
    theirs: list[object],
    others: list[object],
    *,
    in_lookup: bool,
) -> None:
    for sub in getattr(dependant, "dependencies", ()):
        call = getattr(sub, "call", None)
        if call is get_session:
            (theirs if in_lookup else others).append(sub)
        else:
            inside = in_lookup or any(call is lookup for lookup in lookups)
            _collect(sub, lookups, theirs, others, in_lookup=inside)


def _same_session(one: object, other: object) -> bool:
    """Whether FastAPI solves both ``get_session`` dependants once, as one value."""
    if not (getattr(one, "use_cache", True) and getattr(other, "use_cache", True)):
        return False
    return _cache_key(one) == _cache_key(other)


def _cache_key(dependant: object) -> object:
    # FastAPI releases with a ``cache_key`` attribute put the security scopes of
    # every dependant above into it (get_session under require_scopes is then a
    # session of its own); the newer ones key it by its scope ("request" for a
    # generator unless it says "function")
    key = getattr(dependant, "cache_key", None)
    return key if key is not None else getattr(dependant, "scope", None) or "request"
