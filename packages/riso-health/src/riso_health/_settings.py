"""Settings of the health feature (prefix ``RISO_HEALTH_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from riso import Settings

DetailsMode = Literal["never", "authenticated", "always"]


class HealthSettings(Settings):
    """How the probes behave; every field is an environment variable."""

    model_config = SettingsConfigDict(env_prefix="RISO_HEALTH_")

    #: who sees per-check details: ``never`` (status only), ``authenticated``
    #: (a user riso-auth authenticates) or ``always``
    details: DetailsMode = "never"
    #: when set, ``authenticated`` details also need this scope on the user
    details_scope: str | None = None
    #: overall deadline of one round of checks, in seconds; keep it below the
    #: probe's own timeout (Kubernetes' default is 1 s)
    timeout: float = Field(default=0.8, gt=0, le=60)
    #: how long a round's results answer further probes, in seconds (0: no
    #: cache, concurrent probes still share one in-flight round)
    cache_ttl: float = Field(default=1.0, ge=0, le=300)
    #: seconds past the cache window during which a probe is answered at once
    #: with the previous round's result while one new round runs in the
    #: background (0: off, a probe past the window waits for the new round)
    stale_while_refresh: float = Field(default=0, ge=0, le=300)
    #: consecutive failed rounds before a check that was passing turns ``fail``
    #: (it reports ``warn`` meanwhile); 1 flips at the first failure
    failure_threshold: int = Field(default=1, ge=1, le=100)
    #: liveness fails when the event loop lags more than this many seconds
    #: (unset: no lag check)
    loop_lag_max: float | None = Field(default=None, gt=0, le=3600)
    #: how often the event-loop lag is sampled, in seconds
    loop_lag_interval: float = Field(default=0.5, gt=0, le=60)
