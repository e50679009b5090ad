"""The settings base every feature's model derives from, and their validation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import AliasChoices, ValidationError
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


class CoreSettings(Settings):
    """Variables riso-core itself reads (prefix ``RISO_``)."""

    model_config = SettingsConfigDict(env_prefix="RISO_")

    #: ``production`` turns development conveniences into errors and warnings
    env: str = "development"
    #: comma-separated feature names to leave out
    disable: str = ""
    #: comma-separated check ids to silence
    silenced_checks: str = ""
    #: ``module:attr`` of the application, for the CLI
    app: str | None = None

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
    return str(err["msg"])
