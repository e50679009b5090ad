"""What include() did to an app, kept on the app itself (``app.state.riso``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from riso._exceptions import RisoError
from riso._feature import Feature
from riso._settings import CoreSettings

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
    _by_name: dict[str, FeatureInfo] = field(default_factory=dict, repr=False)

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


def registry(app: Any) -> Registry:
    """The registry ``riso.include`` left on ``app``."""
    found = getattr(app.state, "riso", None)
    if not isinstance(found, Registry):
        raise RisoError("riso.include(app) has not been called on this app")
    return found
