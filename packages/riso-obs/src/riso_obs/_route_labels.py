"""A request's route label: its path template (mount prefixes included), worked out once per route.

The label names the route in metrics, the access line and the span, so it must
be a template (``/items/{item_id}``), never the path as sent. Working it out
walks the mounts; ``RouteLabeler`` caches the result per route object (and
mount path) together with the route's cached metric children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Host, Match, Mount

from riso_obs._access_log import encode_json_string
from riso_obs._metrics import UNMATCHED

if TYPE_CHECKING:
    from prometheus_client.metrics import Counter, Histogram
    from starlette.types import Scope

    from riso_obs._metrics import HttpMetrics

#: most cached routes (a guard against a route table that grows without end)
MAX_CACHED_ROUTES = 10_000


class RouteStats:
    """Per (method, route template): the label, span name and cached metric children."""

    __slots__ = (
        "counter_parent",
        "counters",
        "duration",
        "method",
        "route_json",
        "span_name",
        "template",
    )

    def __init__(self, method: str, template: str, metrics: HttpMetrics | None) -> None:
        self.method = method
        self.template = template
        self.span_name = f"{method} {template}" if template != UNMATCHED else method
        self.route_json = encode_json_string(template)
        self.counters: dict[int, Counter] = {}
        self.counter_parent = metrics.requests if metrics is not None else None
        self.duration: Histogram | None = (
            metrics.duration.labels(method, template) if metrics is not None else None
        )

    def counter(self, status: int) -> Counter | None:
        child = self.counters.get(status)
        if child is None and self.counter_parent is not None:
            child = self.counter_parent.labels(self.method, self.template, str(status))
            self.counters[status] = child
        return child


class RouteLabeler:
    """The ``RouteStats`` of a finished request, from cache whenever the route allows."""

    def __init__(self, metrics: HttpMetrics | None) -> None:
        self._metrics = metrics
        #: template -> method -> stats
        self._routes: dict[str, dict[str, RouteStats]] = {}
        #: id(route), or (id(route), mount path) -> (route, the same per-method
        #: table): skips building the template
        self._by_route: dict[int | tuple[int, str], tuple[object, dict[str, RouteStats]]] = {}

    def stats(self, scope: Scope, root_path: str, method: str, status: int) -> RouteStats:
        """The stats of the route the request matched (``root_path``: the one it came in with)."""
        route = scope.get("route")
        inner_root: str = scope.get("root_path", "")
        if route is None and status != 404 and inner_root == root_path:
            route = _plain_route(scope)
        # A route's label is cached by the route alone, or, under a mount, by
        # the route and the mount path as sent. (A mounted app that is not a
        # router labels by status: never cached.)
        key: int | tuple[int, str] | None = None
        if route is not None and not isinstance(route, Mount | Host):
            key = id(route) if inner_root == root_path else (id(route), inner_root)
        by_method = None
        if key is not None:
            cached = self._by_route.get(key)
            if cached is not None and cached[0] is route:
                by_method = cached[1]
        if by_method is None:
            template = self._template(scope, root_path, status)
            by_method = self._routes.get(template)
            if by_method is None:
                by_method = self._routes[template] = {}
            # a mount path holding parameter values (/tenants/acme) is not a
            # key: there would be one per tenant
            if (
                key is not None
                and template.startswith(inner_root[len(root_path) :])
                and len(self._by_route) < MAX_CACHED_ROUTES
            ):
                self._by_route[key] = (route, by_method)
        stats = by_method.get(method)
        if stats is None:
            template = self._template(scope, root_path, status)
            stats = by_method[method] = RouteStats(method, template, self._metrics)
        return stats

    @staticmethod
    def _template(scope: Scope, root_path: str, status: int) -> str:
        """The matched route's path template, mount prefixes included."""
        route = scope.get("route")
        inner_root: str = scope.get("root_path", "")
        if route is None and status != 404 and inner_root == root_path:
            route = _plain_route(scope)
        if route is None:
            if inner_root != root_path and status != 404:
                # an app mounted in a FastAPI router (static files...): FastAPI
                # sets no route for it, but the root path shows the mount
                return _mount_prefix(scope, root_path, inner_root) + "/{path}"
            return UNMATCHED
        if isinstance(route, Mount | Host):
            # a mounted app that is not a router (static files...), or a
            # mounted router that matched nothing
            if status == 404:
                return UNMATCHED
            return _mount_prefix(scope, root_path, inner_root) + "/{path}"
        template: str | None = getattr(route, "path", None)
        if template is None:
            return UNMATCHED
        if inner_root == root_path:
            return template
        return _mount_prefix(scope, root_path, inner_root) + template


def _plain_route(scope: Scope) -> BaseRoute | None:
    """The app's own route that matched, when the router did not say.

    FastAPI puts only its API routes in ``scope["route"]``; the plain Starlette
    routes it adds itself (``/docs``, ``/docs/oauth2-redirect``, ``/redoc``,
    ``/openapi.json``) and an app's ``add_route`` ones are found again here.
    """
    partial: BaseRoute | None = None
    for candidate in getattr(scope.get("router"), "routes", ()):
        if isinstance(candidate, Mount | Host):
            continue
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            found: BaseRoute = candidate
            return found
        if match is Match.PARTIAL and partial is None:
            partial = candidate  # the path matched, not the method: a 405, as Starlette labels it
    return partial


def _mount_prefix(scope: Scope, root_path: str, inner_root: str) -> str:
    """The templates of the mounts between ``root_path`` and ``inner_root``.

    ``inner_root`` holds the path as sent (``/tenants/acme``): a mount with
    path parameters must not put their values into a label. The mounts are
    found again by matching the request path, from the outermost router
    (``scope["router"]``) inwards; if that fails, a prefix that may hold
    values is replaced by a fixed ``/{mount}``.
    """
    raw = inner_root[len(root_path) :] if inner_root.startswith(root_path) else ""
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    routes = getattr(scope.get("router"), "routes", None)
    template = ""
    consumed = 0
    while routes and consumed < len(raw):
        for candidate in routes:
            match = candidate.path_regex.match(path) if isinstance(candidate, Mount) else None
            if match is not None:
                rest = "/" + match["path"]
                consumed += len(path) - len(rest)
                path = rest
                template += candidate.path
                routes = candidate.routes
                break
        else:
            break
    if consumed == len(raw):
        return template
    route_params = getattr(scope.get("route"), "param_convertors", {})
    mount_params = set(scope.get("path_params", {})) - set(route_params)
    return "/{mount}" if mount_params else raw
