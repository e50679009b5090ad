"""The settings base every feature's model derives from, and their validation."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from riso._exceptions import SettingsError


class Settings(BaseSettings):
    """Base for a feature's settings: environment and ``.env``, unknown keys ignored.

    A subclass sets ``model_config = SettingsConfigDict(env_prefix="RISO_<NAME>_")``.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What ``riso serve`` bounds per connection and per process (0: not bounded)."""

    max_head_size: int
    max_header_count: int
    head_timeout: float
    body_timeout: float
    keep_alive_timeout: float
    limit_concurrency: int


#: The production limits' defaults, in one place: the body limit middleware and
#: ``riso serve`` read them from :class:`CoreSettings`.
MIB = 1024 * 1024


class CoreSettings(Settings):
    """Variables riso-core itself reads (prefix ``RISO_``).

    Besides composition (``env``, ``disable``, ...) these are the production
    limits every riso app gets: the request body limit (enforced by the
    middleware ``riso.include`` installs) and the HTTP server's bounds (read by
    ``riso serve``). ``0`` turns a limit off; ``riso check --deploy`` reports it.
    """

    model_config = SettingsConfigDict(env_prefix="RISO_")

    #: ``production`` turns development conveniences into errors and warnings
    env: str = "development"
    #: comma-separated feature names to leave out
    disable: str = ""
    #: comma-separated check ids to silence
    silenced_checks: str = ""
    #: ``module:attr`` of the application, for the CLI
    app: str | None = None

    #: largest request body in bytes (``riso.body_limit`` overrides it per route)
    max_body_size: int = Field(default=MIB, ge=0)
    #: largest request head (request line and headers together) in bytes
    max_head_size: int = Field(default=64 * 1024, ge=0)
    #: most header fields in one request
    max_header_count: int = Field(default=100, ge=0)
    #: seconds a client has to send a complete request head
    head_timeout: float = Field(default=10.0, ge=0)
    #: seconds a request body may go without a byte arriving
    body_timeout: float = Field(default=30.0, ge=0)
    #: seconds an idle keep-alive connection stays open
    keep_alive_timeout: float = Field(default=5.0, ge=0)
    #: most open connections (and requests in progress) per server process
    limit_concurrency: int = Field(default=1000, ge=0)
    #: comma-separated IPs or CIDR networks of the reverse proxies whose
    #: ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed; empty: none
    trusted_proxies: str = ""
    #: where ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from: ``bundled``
    #: (files installed with riso-core, served by the app) or ``cdn`` (FastAPI's
    #: jsDelivr URLs, as without riso)
    docs_assets: Literal["bundled", "cdn"] = "bundled"
    #: as the app starts (its lifespan), move the objects alive then out of the garbage
    #: collector's full collections (``gc.freeze()``, once per process): cheaper
    #: collections and a lower p99 under load
    gc_freeze: bool = True
    #: as the app starts, let the collector's young generation hold this many new
    #: container objects before a collection (CPython's default is 700: a web request
    #: allocates more, so several collections ran per request); 0, or an app that
    #: chose a threshold of its own or disabled the collector, leaves it alone
    gc_young_threshold: int = Field(default=10_000, ge=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
        return value

    @property
    def server_limits(self) -> ServerLimits:
        """The HTTP server's bounds, as ``riso serve`` applies them."""
        return ServerLimits(
            max_head_size=self.max_head_size,
            max_header_count=self.max_header_count,
            head_timeout=self.head_timeout,
            body_timeout=self.body_timeout,
            keep_alive_timeout=self.keep_alive_timeout,
            limit_concurrency=self.limit_concurrency,
        )

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The proxies of ``RISO_TRUSTED_PROXIES``, one address or network each."""
        return _split(self.trusted_proxies)

    @property
    def is_production(self) -> bool:
        return self.env.strip().lower() == "production"

    @property
    def disabled_features(self) -> list[str]:
        return _split(self.disable)

    @property
    def silenced_checks_list(self) -> list[str]:
        return _split(self.silenced_checks)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def variable_name(model: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable(s) a validation error location corresponds to."""
    if not loc:
        return str(model.model_config.get("env_prefix", "")).upper() or model.__name__
    head = str(loc[0])
    nested = "".join(f"__{part}" for part in loc[1:]).upper()
    for name, info in model.model_fields.items():
        aliases = _alias_names(info.validation_alias)
        # pydantic reports the field name, or the first alias when there is one
        if name == head or head in aliases:
            if aliases:
                return " or ".join(alias.upper() for alias in aliases) + nested
            break
    prefix = str(model.model_config.get("env_prefix", ""))
    return (prefix + head).upper() + nested


def _alias_names(alias: object) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return []


def load_settings(models: Iterable[tuple[str, type[BaseSettings]]]) -> dict[str, BaseSettings]:
    """Instantiate every model; report every invalid variable in one error.

    Values are never echoed: an invalid variable may well hold a secret.
    """
    loaded: dict[str, BaseSettings] = {}
    problems: list[tuple[str, str, str]] = []
    for feature, model in models:
        try:
            loaded[feature] = model()
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                problems.append((variable_name(model, err["loc"]), feature, _message(err)))
        except SourceError as exc:
            # Raised before validation when a complex value (list, dict) is not JSON.
            found = _SOURCE_FIELD.search(str(exc))
            loc: tuple[str, ...] = (found.group(1),) if found else ()
            problems.append((variable_name(model, loc), feature, "is not valid JSON"))
    if problems:
        raise SettingsError(problems)
    return loaded


_SOURCE_FIELD = re.compile(r'field "([^"]+)"')


def _message(err: Any) -> str:
    if err["type"] == "missing":
        return "required but not set"
    # a validator's own sentence reads better without pydantic's label
    return str(err["msg"]).removeprefix("Value error, ")
