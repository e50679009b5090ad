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
    """Whether a dependency below ``dependant`` (outside ``lookups``) gets the cached session.

    Reads FastAPI's dependency tree (``Dependant``: ``dependencies``, ``call``,
    ``use_cache``, ``scope``); ``tests/test_connections.py`` fails if it changes.
    """
    for sub in getattr(dependant, "dependencies", ()):
        call = getattr(sub, "call", None)
        if any(call is lookup for lookup in lookups):
            continue
        if (
            call is get_session
            and getattr(sub, "use_cache", True)
            # a "function"-scoped get_session is a session of its own
            and getattr(sub, "scope", None) in (None, "request")
        ):
            return True
        if uses_request_session(sub, lookups):
            return True
    return False
