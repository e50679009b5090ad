"""System checks of riso-obs (``riso check``, ``riso check --deploy``)."""

from __future__ import annotations

from collections.abc import Iterator

from riso import CheckContext, CheckMessage
from riso_obs import _logging, _metrics
from riso_obs._settings import ObsSettings


def obs_checks(ctx: CheckContext) -> Iterator[CheckMessage]:
    settings = ctx.settings.get("obs")
    if not isinstance(settings, ObsSettings):
        return
    if settings.metrics and settings.metrics_require_token and settings.metrics_token is None:
        yield CheckMessage(
            "obs.E002",
            "RISO_OBS_METRICS_REQUIRE_TOKEN is set but /metrics is served without protection.",
            hint="set RISO_OBS_METRICS_TOKEN; scrape with 'Authorization: Bearer <token>'",
        )
    if settings.metrics and _metrics.worker_count() > 1 and not _metrics.multiprocess_dir():
        yield CheckMessage(
            "obs.W002",
            "several server workers run without PROMETHEUS_MULTIPROC_DIR: each /metrics scrape "
            "shows one worker's numbers only.",
            hint="set PROMETHEUS_MULTIPROC_DIR to an empty directory shared by the workers",
        )
    if not (ctx.deploy and ctx.core.is_production):
        return
    if not _logging.wants_json(settings, production=True):
        yield CheckMessage(
            "obs.E001",
            "RISO_OBS_LOG_FORMAT=console under RISO_ENV=production: log collectors need JSON.",
            hint="unset RISO_OBS_LOG_FORMAT (JSON is the production default) or set it to json",
        )
    if settings.log_level == "DEBUG":
        yield CheckMessage(
            "obs.W001",
            "RISO_OBS_LOG_LEVEL=DEBUG under RISO_ENV=production: verbose and may log payloads.",
            hint="set RISO_OBS_LOG_LEVEL=INFO (the default)",
        )
