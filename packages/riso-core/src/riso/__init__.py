"""riso: production features for FastAPI, composed with ``riso.include(app)``."""

from riso._checks import CheckContext, CheckMessage, Level, SystemCheck
from riso._cli_support import pass_app
from riso._context import current_request_id, request_id_var
from riso._exceptions import (
    AppNotFoundError,
    AppStateError,
    CycleError,
    DisabledRequirementError,
    DiscoveryError,
    DuplicateFeatureError,
    IncompatibleCoreError,
    MissingRequirementError,
    RequirementError,
    RisoError,
    SettingsError,
)
from riso._feature import STAGES, Feature, Lifespan, Middleware, Migrations, Stage
from riso._health import HealthCheck
from riso._include import include
from riso._registry import FeatureInfo, Registry, registry
from riso._settings import CoreSettings, Settings

__version__ = "0.1.1"

__all__ = [
    "STAGES",
    "AppNotFoundError",
    "AppStateError",
    "CheckContext",
    "CheckMessage",
    "CoreSettings",
    "CycleError",
    "DisabledRequirementError",
    "DiscoveryError",
    "DuplicateFeatureError",
    "Feature",
    "FeatureInfo",
    "HealthCheck",
    "IncompatibleCoreError",
    "Level",
    "Lifespan",
    "Middleware",
    "Migrations",
    "MissingRequirementError",
    "Registry",
    "RequirementError",
    "RisoError",
    "Settings",
    "SettingsError",
    "Stage",
    "SystemCheck",
    "current_request_id",
    "include",
    "pass_app",
    "registry",
    "request_id_var",
]
