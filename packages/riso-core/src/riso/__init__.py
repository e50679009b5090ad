"""riso: production features for FastAPI, composed with ``riso.include(app)``."""

from riso._body_limit import body_limit
from riso._capabilities import (
    REQUEST_AUTHENTICATOR,
    SYNC_SESSION_FACTORY,
    TASK_ENQUEUER,
    Capability,
    RequestAuthenticator,
    SyncSessionFactory,
    TaskEnqueuer,
)
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
from riso._registry import FeatureInfo, Registry, extension, registry
from riso._settings import CoreSettings, Settings

__version__ = "0.1.6"

__all__ = [
    "REQUEST_AUTHENTICATOR",
    "STAGES",
    "SYNC_SESSION_FACTORY",
    "TASK_ENQUEUER",
    "AppNotFoundError",
    "AppStateError",
    "Capability",
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
    "RequestAuthenticator",
    "RequirementError",
    "RisoError",
    "Settings",
    "SettingsError",
    "Stage",
    "SyncSessionFactory",
    "SystemCheck",
    "TaskEnqueuer",
    "body_limit",
    "current_request_id",
    "extension",
    "include",
    "pass_app",
    "registry",
    "request_id_var",
]
