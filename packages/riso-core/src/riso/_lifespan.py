"""One AsyncExitStack for every feature's lifespan, the app's own innermost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from riso import _gc
from riso._registry import Registry

AppLifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]


def compose(registry: Registry, app_lifespan: AppLifespan) -> AppLifespan:
    """A lifespan that starts features in order and stops them in reverse.

    If a feature fails to start, the exit stack stops the ones already started
    before the error propagates. Before anything starts, the objects of the
    app's import are frozen out of the garbage collector's way (``_gc``).
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        state: dict[str, Any] = {}
        registry.phase = "starting"
        if registry.core.gc_freeze:
            # before any feature starts: the collection blocks the loop, and a
            # feature's monitor (riso-health's loop lag) would report it as lag
            _gc.freeze_startup_objects()
        _gc.raise_young_threshold(registry.core.gc_young_threshold)
        try:
            async with AsyncExitStack() as stack:
                for info in registry.active:
                    feature_lifespan = info.feature.lifespan if info.feature else None
                    if feature_lifespan is not None:
                        entered = feature_lifespan(app, info.settings)
                        state.update(await _enter(stack, entered))
                state.update(await _enter(stack, app_lifespan(app)))
                registry.phase = "running"
                try:
                    # Starlette refuses a non-None state on servers without state support.
                    yield state or None
                finally:
                    # Set before anything stops, so readiness can fail while draining.
                    registry.phase = "stopping"
        finally:
            registry.phase = "stopped"

    return lifespan


async def _enter(
    stack: AsyncExitStack, cm: AbstractAsyncContextManager[Mapping[str, Any] | None]
) -> Mapping[str, Any]:
    return await stack.enter_async_context(cm) or {}
