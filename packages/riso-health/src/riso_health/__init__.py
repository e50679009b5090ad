"""riso-health: liveness, readiness and startup probes serving every feature's checks.

``riso.include(app)`` adds ``GET /health`` (liveness: no dependency checks),
``GET /ready`` (readiness: every feature's ``riso.HealthCheck`` plus the app's
own, 200 or 503) and ``GET /startup`` (503 until the lifespan has started), all
in ``application/health+json``. The application adds its own checks with
``@riso_health.check(app, ...)`` or ``riso_health.add_check(app, ...)``.
"""

from riso_health._builtin import disk_space_check, http_check
from riso_health._exceptions import CheckFailedError, CheckRegistrationError, HealthError
from riso_health._feature import feature
from riso_health._registration import add_check, check
from riso_health._routes import MEDIA_TYPE
from riso_health._runner import CheckResult, HealthState, Report, state
from riso_health._sanitize import sanitize_text
from riso_health._settings import DetailsMode, HealthSettings

__version__ = "0.1.5"

__all__ = [
    "MEDIA_TYPE",
    "CheckFailedError",
    "CheckRegistrationError",
    "CheckResult",
    "DetailsMode",
    "HealthError",
    "HealthSettings",
    "HealthState",
    "Report",
    "add_check",
    "check",
    "disk_space_check",
    "feature",
    "http_check",
    "sanitize_text",
    "state",
]
