"""``riso.include(app)``: compose every installed feature into an app."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from starlette.middleware import Middleware as StarletteMiddleware
from starlette.types import ASGIApp

from riso import _discovery, _docs, _errors, _excepthook, _lifespan
from riso._body_limit import BodyLimitMiddleware
from riso._compat_routing import FeatureRoutes
from riso._exceptions import (
    AppStateError,
    DisabledRequirementError,
    IncompatibleCoreError,
    MissingRequirementError,
    RisoError,
)
from riso._feature import STAGES, Feature
from riso._ordering import order
from riso._registry import FeatureInfo, Registry
from riso._settings import CoreSettings, load_settings

_CORE_DISTRIBUTION = "riso-core"


def core_version() -> str:
    try:
        return version(_CORE_DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree without metadata
        from riso import __version__

        return __version__


def include(
    app: FastAPI,
    *,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
    features: Iterable[Feature[Any]] | None = None,
) -> Registry:
    """Compose the installed riso features into ``app`` and return the registry.

    ``only`` keeps just the named features, ``exclude`` and ``RISO_DISABLE``
    leave some out; ``features`` replaces discovery with an explicit list
    (tests use it so installed packages do not leak in). Everything is
    resolved and validated before the app is touched. Calling it again on the
    same app is a no-op; calling it once the app has started is an error.
    """
    existing = getattr(app.state, "riso", None)
    if isinstance(existing, Registry):
        return existing
    if app.middleware_stack is not None:
        raise AppStateError(
            "riso.include(app) must run before the app starts serving; call it right after "
            "creating the app, at import time"
        )
    try:
        registry = resolve(app, only=only, exclude=exclude, features=features)
    except RisoError:
        # uncaught (a server importing the app), it is its message, not a traceback
        _excepthook.install()
        raise
    # On the app before any hook runs: hooks store their state in it and read
    # the core settings from it. If one fails, the app is not left half-registered.
    app.state.riso = registry
    try:
        _apply(app, registry)
    except BaseException as exc:
        del app.state.riso
        if isinstance(exc, RisoError):
            _excepthook.install()
        raise
    return registry


def resolve(
    app: FastAPI,
    *,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
    features: Iterable[Feature[Any]] | None = None,
) -> Registry:
    """Discover, select, order and validate; touch nothing."""
    core = load_settings([("core", CoreSettings)])["core"]
    assert isinstance(core, CoreSettings)
    candidates = _discovery.discover() if features is None else _discovery.explicit(list(features))
    by_name = {c.name: c for c in candidates}

    reasons = _disabled_reasons(by_name, only, exclude, core.disabled_features)
    loaded = {c.name: c.load() for c in candidates if c.name not in reasons}
    _check_requirements(by_name, loaded, reasons)
    _check_core(by_name, loaded)
    sequence = order({name: f.requires for name, f in loaded.items()})
    settings = load_settings(
        (name, model) for name in sequence if (model := loaded[name].settings) is not None
    )

    infos: list[FeatureInfo] = [
        FeatureInfo(
            name=name,
            version=by_name[name].version,
            distribution=by_name[name].distribution,
            order=position,
            disabled_reason=None,
            feature=loaded[name],
            settings=settings.get(name),
        )
        for position, name in enumerate(sequence)
    ]
    infos += [
        FeatureInfo(c.name, c.version, c.distribution, None, reasons[c.name])
        for c in candidates
        if c.name in reasons
    ]
    return Registry(features=tuple(infos), core=core)


def _disabled_reasons(
    by_name: dict[str, _discovery.Candidate],
    only: Collection[str] | None,
    exclude: Collection[str],
    disabled_by_env: Sequence[str],
) -> dict[str, str]:
    if only is not None:
        unknown = sorted(set(only) - set(by_name))
        if unknown:
            raise RisoError(
                f"only= names features that are not installed: {', '.join(unknown)} "
                f"(installed: {', '.join(by_name) or 'none'})"
            )
    for source, names in (("exclude=", exclude), ("RISO_DISABLE", disabled_by_env)):
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            warnings.warn(
                f"{source} names features that are not installed: {', '.join(unknown)}",
                stacklevel=4,
            )
    reasons: dict[str, str] = {}
    for name in by_name:
        if only is not None and name not in only:
            reasons[name] = "not in only="
        elif name in exclude:
            reasons[name] = "excluded by exclude="
        elif name in disabled_by_env:
            reasons[name] = "disabled by RISO_DISABLE"
    return reasons


def _check_requirements(
    by_name: dict[str, _discovery.Candidate],
    loaded: dict[str, Feature[Any]],
    reasons: dict[str, str],
) -> None:
    for name, feature in loaded.items():
        who = by_name[name].label
        for required in feature.requires:
            if required not in by_name:
                raise MissingRequirementError(
                    f"{who} requires the feature '{required}': pip install riso-{required}"
                )
            if required in reasons:
                raise DisabledRequirementError(
                    f"{who} requires the feature '{required}', which is {reasons[required]}: "
                    f"enable '{required}' or disable '{name}' too"
                )


def _check_core(by_name: dict[str, _discovery.Candidate], loaded: dict[str, Feature[Any]]) -> None:
    installed = Version(core_version())
    for name, feature in loaded.items():
        who = by_name[name].label
        if by_name[name].version:
            who += f" {by_name[name].version}"
        try:
            supported = SpecifierSet(feature.core)
        except InvalidSpecifier as exc:
            raise IncompatibleCoreError(
                f"{who} declares an invalid riso-core range {feature.core!r}: {exc}"
            ) from exc
        if not supported.contains(installed, prereleases=True):
            raise IncompatibleCoreError(
                f"{who} supports riso-core {supported} but riso-core {installed} is installed: "
                f"pip install 'riso-core{supported}' or a release of {by_name[name].label} "
                f"that supports {installed}"
            )


def _apply(app: FastAPI, registry: Registry) -> None:
    """Touch the app: hooks, middleware, routers, lifespan, in that order."""
    _errors.install(app)
    _docs.install(app, registry.core.docs_assets)
    active = registry.active
    for info in active:
        assert info.feature is not None
        if info.feature.on_include is not None:
            info.feature.on_include(app, info.settings)

    staged: dict[str, list[StarletteMiddleware]] = {stage: [] for stage in STAGES}
    for info in active:
        assert info.feature is not None
        for spec in info.feature.middleware:
            if spec.when is not None and not spec.when(info.settings):
                continue
            args = () if info.feature.settings is None else (info.settings,)
            staged[spec.stage].append(StarletteMiddleware(spec.cls, *args))
    # Starlette's list runs outermost first; ours go outside the app's own.
    app.user_middleware[0:0] = staged["telemetry"] + staged["security"] + staged["inner"]
    body_limit = StarletteMiddleware(BodyLimitMiddleware, registry.core.max_body_size)
    # Outside everything that could read the body, inside the outer stage so
    # a 413 gets the request id, the access log line and the metrics.
    _wrap_outer(app, [*staged["outer"], body_limit])

    routers = [router for info in active if info.feature for router in info.feature.routers]
    if routers:  # one router, which the app's own requests skip at once
        app.include_router(FeatureRoutes(routers))

    composed = _lifespan.compose(registry, app.router.lifespan_context)
    app.router.lifespan_context = composed  # type: ignore[assignment]


def _wrap_outer(app: FastAPI, outer: list[StarletteMiddleware]) -> None:
    """Put ``outer`` middleware (outermost first) outside Starlette's ServerErrorMiddleware.

    Starlette always makes its error middleware the outermost layer, so a
    middleware that must see the 500 it sends (to add a request id), or run
    before anything reads the body, can only wrap the built stack. The app
    object stays the same.
    """
    build_inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build_inner()
        for middleware in reversed(outer):
            cls, args, kwargs = middleware
            stack = cls(stack, *args, **kwargs)
        return stack

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
