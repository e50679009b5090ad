"""Which ``RISO_*`` variables the settings models read, and where each value comes from.

Derived from the pydantic models themselves (``env_prefix`` and field names,
validation aliases, ``env_nested_delimiter``), never from a hand-written list,
so ``riso check`` and ``riso settings`` cannot drift from what is really read.
The environment is read as pydantic-settings reads it: variables first, then
the models' ``env_file`` (``.env``), names case-insensitive.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from dotenv import dotenv_values
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from riso._settings import _alias_names

Source = Literal["environment", ".env", "default"]

#: ``RISO_*`` variables read outside any settings model, and why each is no mistake.
#: Prefixes end with ``_``.
READ_ELSEWHERE: Mapping[str, str] = {
    "RISO_CI": "marks a CI run of riso's own test suite (real services become mandatory)",
    "RISO_TEST_": "test-only variables: riso-db's pytest plugin (RISO_TEST_DB_URL) and "
    "the servers riso's own suite connects to (RISO_TEST_POSTGRES, ...)",
    "RISO_FUZZ_EXAMPLES": "how many examples riso's own fuzz tests draw",
}


@dataclass(frozen=True, slots=True)
class FieldVariables:
    """The variables one field is read from, in pydantic-settings' order."""

    field: str
    names: tuple[str, ...]
    #: set when the field also reads ``<NAME><delimiter><key>`` variables
    nested_delimiter: str | None = None

    def reads(self, variable: str) -> bool:
        upper = variable.upper()
        if upper in self.names:
            return True
        delimiter = self.nested_delimiter
        return delimiter is not None and any(
            upper.startswith(name + delimiter.upper()) for name in self.names
        )


def field_variables(model: type[BaseSettings]) -> list[FieldVariables]:
    """Every field of ``model`` with the environment variables it is read from."""
    prefix = str(model.model_config.get("env_prefix", ""))
    delimiter = model.model_config.get("env_nested_delimiter") or None
    found: list[FieldVariables] = []
    for name, info in model.model_fields.items():
        aliases = _alias_names(info.validation_alias) or _alias_names(info.alias)
        names = tuple(a.upper() for a in aliases) if aliases else ((prefix + name).upper(),)
        nested = delimiter if _complex(info.annotation) else None
        found.append(FieldVariables(name, names, nested))
    return found


def _complex(annotation: Any) -> bool:
    """Whether pydantic-settings reads ``<NAME><delimiter><key>`` for this type (model, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel | dict):
        return True
    if get_origin(annotation) is dict:
        return True
    return any(_complex(arg) for arg in get_args(annotation))


def env_files(models: Iterable[type[BaseSettings]]) -> list[Path]:
    """The dotenv files the models read, each once, in order."""
    files: list[Path] = []
    for model in models:
        configured = model.model_config.get("env_file")
        if configured is None:
            continue
        items = [configured] if isinstance(configured, str | Path) else list(configured)
        for item in items:
            path = Path(item)
            if path not in files:
                files.append(path)
    return files


class Environment:
    """A snapshot of the variables (upper-cased names) and dotenv files the models read."""

    def __init__(self, environ: Mapping[str, str], dotenv: Mapping[str, str]) -> None:
        self.environ = {k.upper(): v for k, v in environ.items()}
        self.dotenv = {k.upper(): v for k, v in dotenv.items()}

    @classmethod
    def read(cls, models: Iterable[type[BaseSettings]]) -> Environment:
        dotenv: dict[str, str] = {}
        for path in env_files(models):
            if path.is_file():
                values = dotenv_values(path, encoding="utf-8")
                dotenv.update({k: v for k, v in values.items() if v is not None})
        return cls(os.environ, dotenv)

    def source(self, variables: FieldVariables) -> Source:
        """Where the field's value comes from, as pydantic-settings decides it."""
        for names, source in ((self.environ, "environment"), (self.dotenv, ".env")):
            if any(variables.reads(name) for name in names):
                return source  # type: ignore[return-value]
        return "default"

    def riso_variables(self) -> dict[str, Source]:
        """Every ``RISO_*`` name set, with where (the environment wins over ``.env``)."""
        found: dict[str, Source] = {n: ".env" for n in self.dotenv if n.startswith("RISO_")}
        found.update({n: "environment" for n in self.environ if n.startswith("RISO_")})
        return found


def read_elsewhere(variable: str) -> bool:
    """Whether ``variable`` is one of :data:`READ_ELSEWHERE`."""
    upper = variable.upper()
    return any(
        upper.startswith(name) if name.endswith("_") else upper == name for name in READ_ELSEWHERE
    )
