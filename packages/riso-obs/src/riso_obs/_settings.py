"""riso-obs settings (prefix ``RISO_OBS_``)."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from riso import Settings

#: paths never logged, counted or traced unless ``RISO_OBS_EXCLUDE_PATHS`` says otherwise
DEFAULT_EXCLUDE_PATHS = "/metrics,/health,/ready,/startup"

#: keys (and header names) whose values never reach a log line; matched as
#: substrings of the lower-cased key with ``-`` read as ``_``
DEFAULT_REDACT = (
    "authorization",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "session",
    "x_csrf",
)


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class ObsSettings(Settings):
    """Logging, request ids and metrics. Tracing reads the standard ``OTEL_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="RISO_OBS_")

    #: ``auto``: JSON when stderr is not a terminal or under RISO_ENV=production
    log_format: Literal["auto", "json", "console"] = "auto"
    #: root log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)
    log_level: str = "INFO"
    #: one access line per request (level INFO, logger ``riso.access``)
    access_log: bool = True
    #: comma-separated request headers copied into the access line (redacted when sensitive)
    log_headers: str = ""
    #: comma-separated extra keys to redact, added to the default list
    redact: str = ""
    #: comma-separated request headers an incoming request id is read from, first wins
    request_id_headers: str = "X-Request-ID"
    #: comma-separated paths left out of access logs, metrics and traces
    exclude_paths: str = DEFAULT_EXCLUDE_PATHS
    #: record HTTP metrics and serve ``GET /metrics``
    metrics: bool = True
    #: when set, ``GET /metrics`` requires ``Authorization: Bearer <token>``
    metrics_token: SecretStr | None = None
    #: declare that /metrics must be protected: ``riso check`` fails without a token
    metrics_require_token: bool = False
    #: create server spans when an exporter is configured through ``OTEL_*``
    tracing: bool = True
    #: also a child span around every ASGI ``receive`` and ``send`` (costly: debugging only)
    trace_io_spans: bool = False

    @field_validator("log_level")
    @classmethod
    def _valid_level(cls, value: str) -> str:
        upper = value.strip().upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("request_id_headers")
    @classmethod
    def _some_header(cls, value: str) -> str:
        if not split_csv(value):
            raise ValueError("must name at least one header")
        return value

    @field_validator("exclude_paths")
    @classmethod
    def _absolute_paths(cls, value: str) -> str:
        for path in split_csv(value):
            if not path.startswith("/"):
                raise ValueError("every path must start with '/'")
        return value

    @property
    def level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    @property
    def redact_keys(self) -> tuple[str, ...]:
        extra = tuple(k.lower().replace("-", "_") for k in split_csv(self.redact))
        return DEFAULT_REDACT + extra

    @property
    def request_id_header_list(self) -> list[str]:
        return split_csv(self.request_id_headers)

    @property
    def exclude_path_set(self) -> frozenset[str]:
        return frozenset(split_csv(self.exclude_paths))

    @property
    def log_header_list(self) -> list[str]:
        return [h.lower() for h in split_csv(self.log_headers)]
