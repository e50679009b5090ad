"""The check that no ``RISO_*`` variable is set in vain (misspelled, or for no feature).

- ``core.W007``: a ``RISO_*`` variable (environment or ``.env``) that no active
  feature reads, with the closest known name;
- ``core.W008``: a name in ``RISO_DISABLE`` that is not an installed feature;
- ``core.I001``: a variable of a feature that is installed but not active.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic_settings import BaseSettings

from riso._checks import CheckContext, CheckMessage
from riso._registry import Registry, registry
from riso._settings import CoreSettings
from riso._variables import Environment, FieldVariables, field_variables, read_elsewhere


def active_models(reg: Registry) -> list[tuple[str, type[BaseSettings]]]:
    """riso-core's settings model and every active feature's, by feature name."""
    models: list[tuple[str, type[BaseSettings]]] = [("core", CoreSettings)]
    for info in reg.active:
        if info.feature is not None and info.feature.settings is not None:
            models.append((info.name, info.feature.settings))
    return models


def variable_checks(ctx: CheckContext) -> Iterable[CheckMessage]:
    """Unknown ``RISO_*`` variables and ``RISO_DISABLE`` names."""
    reg = registry(ctx.app)
    models = active_models(reg)
    fields: list[FieldVariables] = [f for _, model in models for f in field_variables(model)]
    env = Environment.read(model for _, model in models)
    inactive = {info.name: info.disabled_reason for info in reg.features if not info.enabled}
    known = sorted({name for f in fields for name in f.names if name.startswith("RISO_")})

    for variable, source in sorted(env.riso_variables().items()):
        if any(f.reads(variable) for f in fields) or read_elsewhere(variable):
            continue
        where = "the environment" if source == "environment" else ".env"
        owner = next((n for n in inactive if variable.startswith(f"RISO_{n.upper()}_")), None)
        if owner is not None:
            yield CheckMessage(
                "core.I001",
                f"{variable} (in {where}) is for the feature '{owner}', which is "
                f"{inactive[owner]}: nothing reads it.",
            )
            continue
        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.6)
        yield CheckMessage(
            "core.W007",
            f"{variable} (in {where}) is not read by any active feature.",
            hint=f"did you mean {close[0]}?" if close else "remove it, or check its name",
        )

    installed = sorted(info.name for info in reg.features)
    for name in ctx.core.disabled_features:
        if name in installed:
            continue
        close = difflib.get_close_matches(name, installed, n=1, cutoff=0.6)
        guess = f"did you mean '{close[0]}'? " if close else ""
        yield CheckMessage(
            "core.W008",
            f"RISO_DISABLE names {name!r}, which is not an installed feature.",
            hint=f"{guess}installed features: {', '.join(installed) or 'none'}",
        )
