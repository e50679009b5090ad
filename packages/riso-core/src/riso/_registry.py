"""What include() did to an app, and every feature's per-app state (``app.state.riso``).

The registry is the one place a feature keeps what it builds for an app, as
Flask extensions keep theirs in ``app.extensions``: ``extensions`` maps a
feature name to its per-app object (riso-db's ``Database``, riso-auth's
runtime...), and the capabilities one feature offers the others are provided
and looked up here. Each feature's public accessor (``riso_db.database(app)``)
is named after the object it returns and reads ``extensions`` itself (some
create the object on first use); :func:`extension` is the type-checked reader
for other code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from riso._capabilities import Capability
from riso._exceptions import RisoError
from riso._feature import Feature
from riso._settings import CoreSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

T = TypeVar("T")

Phase = Literal["included", "starting", "running", "stopping", "stopped"]


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """One installed feature as include() saw it."""

    name: str
    version: str | None
    distribution: str | None
    #: position in the start order (0 first); None when not active
    order: int | None
    #: None when active, otherwise why not ("disabled by RISO_DISABLE", ...)
    disabled_reason: str | None
    feature: Feature[Any] | None = None
    settings: Any = None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None


@dataclass(slots=True)
class Registry:
    """The features active on an app, in start order, and its lifecycle phase."""

    features: tuple[FeatureInfo, ...]
    core: CoreSettings
    phase: Phase = "included"
    #: each feature's per-app object, by feature name (see :func:`extension`)
    extensions: dict[str, Any] = field(default_factory=dict, repr=False)
    _by_name: dict[str, FeatureInfo] = field(default_factory=dict, repr=False)
    _capabilities: dict[Capability[Any], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {info.name: info for info in self.features}

    @property
    def active(self) -> tuple[FeatureInfo, ...]:
        return tuple(info for info in self.features if info.enabled)

    @property
    def settings(self) -> Mapping[str, Any]:
        return {info.name: info.settings for info in self.active if info.settings is not None}

    def __contains__(self, name: object) -> bool:
        info = self._by_name.get(name) if isinstance(name, str) else None
        return info is not None and info.enabled

    def get(self, name: str) -> FeatureInfo | None:
        return self._by_name.get(name)

    def settings_of(self, name: str) -> Any:
        """The validated settings of an active feature."""
        info = self._by_name.get(name)
        if info is None or not info.enabled:
            raise RisoError(f"feature '{name}' is not active on this app")
        return info.settings

    def provide(self, capability: Capability[T], value: T) -> None:
        """Offer ``value`` as ``capability`` to the other features of this app."""
        self._capabilities[capability] = value

    def lookup(self, capability: Capability[T]) -> T | None:
        """What an active feature provides as ``capability``, or None."""
        found: T | None = self._capabilities.get(capability)
        return found


def registry(app: FastAPI) -> Registry:
    """The registry ``riso.include`` put on ``app`` (before any feature's hook ran)."""
    found = getattr(app.state, "riso", None)
    if not isinstance(found, Registry):
        raise RisoError("riso.include(app) has not been called on this app")
    return found


def extension(app: FastAPI, name: str, kind: type[T]) -> T:
    """The per-app object the feature ``name`` keeps for ``app``, checked to be a ``kind``.

    A feature stores it in its ``on_include`` hook
    (``riso.registry(app).extensions["db"] = Database(settings)``).
    """
    found = registry(app).extensions.get(name)
    if not isinstance(found, kind):
        raise RisoError(
            f"the feature '{name}' is not active on this app (no {kind.__name__} for it): "
            "install it and call riso.include(app)"
        )
    return found
