"""The ``db`` feature declaration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import riso
from riso_db._cli import cli
from riso_db._database import Database, database
from riso_db._errors import install_error_handlers
from riso_db._health import migrations_at_head, ping, system_checks
from riso_db._settings import DbSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


def _on_include(app: FastAPI, settings: DbSettings) -> None:
    from riso_db._migrations._app_dir import find_app_dir

    registry = riso.registry(app)
    db = registry.extensions["db"] = Database(settings)
    registry.provide(riso.SYNC_SESSION_FACTORY, db.sync_session)
    db.app_dir = find_app_dir(app)
    install_error_handlers(app)


@asynccontextmanager
async def _lifespan(app: FastAPI, settings: DbSettings) -> AsyncIterator[Mapping[str, Any] | None]:
    db = database(app)
    db.engine  # noqa: B018 - create the engine now; connections open on first use
    try:
        yield None
    finally:
        await db.dispose()


feature: riso.Feature[DbSettings] = riso.Feature(
    name="db",
    core=">=0.1.6,<0.2",
    settings=DbSettings,
    lifespan=_lifespan,
    on_include=_on_include,
    health_checks=[
        riso.HealthCheck("db", ping, critical=True, timeout=5.0),
        riso.HealthCheck("db.migrations", migrations_at_head, critical=True, timeout=5.0),
    ],
    system_checks=[system_checks],
    cli=cli,
)
