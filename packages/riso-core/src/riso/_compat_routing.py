"""The routers of riso's features, skipped at once for a path none of their routes can match.

``riso.include(app)`` adds the features' routers before the app declares its
own routes, so FastAPI tries every riso route (about thirty with riso-auth)
before each of the app's. The FastAPI releases that keep an included router
whole (0.165, the one locked here) match it route by route with bookkeeping
in the scope: that was
about 60 µs per request to every endpoint of the app, several percent of an
authenticated list request (``bench/auth_real.py``).

:class:`FeatureRoutes` holds the features' routers and knows where each of
their routes' paths begins (the literal text before the first ``{``); for a
path that starts with none of those beginnings it answers "no match" without
asking a route. Any other path goes to FastAPI's own matching, so which
route answers, 405s and slash redirects are unchanged.

It relies on two internals, and ``tests/test_compat_routing.py`` fails the
day either changes:

- FastAPI matches an included router through ``APIRouter.matches(scope)``
  (older releases copy the routes into the app instead: then nothing is
  skipped and nothing changes);
- ``starlette._utils.get_route_path(scope)`` is the path routes match
  (``root_path`` removed).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Scope

__all__ = ["FeatureRoutes", "path_start"]


def path_start(route: BaseRoute) -> str | None:
    """The text every path ``route`` matches begins with; None if it cannot be told."""
    if isinstance(route, Mount):
        return route.path  # "" for a mount at the root: every path
    if isinstance(route, Route | WebSocketRoute):  # FastAPI's routes subclass these
        path = route.path
        brace = path.find("{")
        return path if brace < 0 else path[:brace]
    return None  # a Host, or a route type of its own


class FeatureRoutes(APIRouter):
    """One router including ``routers`` in order; skips paths none of their routes begin."""

    def __init__(self, routers: Sequence[APIRouter]) -> None:
        super().__init__()
        for router in routers:
            self.include_router(router)
        starts = [path_start(route) for router in routers for route in router.routes]
        # a route whose paths cannot be told: "" begins every path, so nothing is skipped
        known = {"" if start is None else start for start in starts}
        self.path_starts: tuple[str, ...] = ("",) if "" in known else tuple(sorted(known))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self.path_starts):
            return Match.NONE, {}
        return super().matches(scope)
