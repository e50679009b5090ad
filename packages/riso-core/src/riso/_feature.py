"""The declaration a feature package exposes under the ``riso.features`` entry points."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic_settings import BaseSettings

if TYPE_CHECKING:
    import click
    from fastapi import APIRouter, FastAPI
    from starlette.types import ASGIApp

    from riso._checks import SystemCheck
    from riso._health import HealthCheck

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

#: Where a middleware sits, outermost first. ``outer`` wraps even Starlette's
#: error handling (so it sees the 500 responses it produces); the other stages
#: sit, in this order, outside the application's own middleware.
Stage = Literal["outer", "telemetry", "security", "inner"]
STAGES: tuple[Stage, ...] = ("outer", "telemetry", "security", "inner")

#: A feature's lifespan: entered at startup with the app and the feature's
#: settings; whatever mapping it yields is merged into the lifespan state.
Lifespan = Callable[["FastAPI", SettingsT], AbstractAsyncContextManager["Mapping[str, Any] | None"]]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Middleware:
    """A pure-ASGI middleware class and the stage it belongs to.

    riso instantiates it as ``cls(app, settings)`` when the feature declares a
    settings model and as ``cls(app)`` otherwise. ``when`` decides from the
    settings whether to install it at all.
    """

    cls: Callable[..., ASGIApp]
    stage: Stage
    when: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown middleware stage {self.stage!r}; use one of {STAGES}")


@dataclass(frozen=True, slots=True)
class Migrations:
    """Where a feature keeps its Alembic revisions (used by riso-db).

    ``versions`` is an importable package holding the revision scripts;
    ``metadata`` returns the SQLAlchemy ``MetaData`` of the tables the feature
    owns; ``version_table`` defaults to ``riso_<feature>_alembic_version``.
    """

    versions: str
    metadata: Callable[[], Any] | None = None
    version_table: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Feature(Generic[SettingsT]):
    """What one feature contributes to an application.

    Create it at module level; building it must have no side effects, since
    discovery imports it. Everything that touches the app happens in
    ``riso.include``.
    """

    name: str
    #: the riso-core versions this feature supports, as a PEP 440 specifier
    core: str
    settings: type[SettingsT] | None = None
    requires: tuple[str, ...] = ()
    routers: Sequence[APIRouter] = ()
    middleware: Sequence[Middleware] = ()
    lifespan: Lifespan[SettingsT] | None = None
    health_checks: Sequence[HealthCheck] = ()
    system_checks: Sequence[SystemCheck] = ()
    cli: click.Command | None = None
    migrations: Migrations | None = None
    #: called by include() after every setting validated, before middleware
    #: and routers are added: exception handlers, logging configuration...
    on_include: Callable[[FastAPI, SettingsT], None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"feature name {self.name!r} must be lowercase letters, digits and underscores"
            )
        if self.name in self.requires:
            raise ValueError(f"feature {self.name!r} cannot require itself")
        if self.settings is not None:
            expected = f"RISO_{self.name.upper()}_"
            prefix = str(self.settings.model_config.get("env_prefix", ""))
            if prefix.upper() != expected:
                raise ValueError(
                    f"settings of feature {self.name!r} must use env_prefix {expected!r}, "
                    f"not {prefix!r}"
                )
