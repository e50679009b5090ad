"""``riso settings``: every setting of every active feature, its value and its source.

Values that may be secrets are masked: ``SecretStr`` fields, text fields whose
name looks secret (key, secret, password, token...), and the password of any
URL. A secret URL keeps only its scheme, user, host, port and path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import click
from fastapi import FastAPI
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic_settings import BaseSettings

from riso._cli_support import pass_app
from riso._registry import registry
from riso._variable_checks import active_models
from riso._variables import Environment, Source, field_variables

MASK = "**********"
#: a text setting whose name matches may hold a secret (cookie *names* do not)
SECRET_NAME = re.compile(r"secret|passw|pwd|token|key|credential|dsn", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


@dataclass(frozen=True, slots=True)
class SettingRow:
    feature: str
    variable: str
    value: str
    source: Source
    changed: bool


def mask_url(text: str, *, secret: bool) -> str | None:
    """``text`` with its URL password (and secret-looking query values) masked, the
    fragment dropped (``secret``: the query too); None when it is not a URL."""
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not (parts.hostname or parts.path):
        return None
    user = parts.username or ""
    if parts.password is not None:
        user += f":{MASK}"
    netloc = (f"{user}@" if user else "") + (parts.hostname or "")
    if port is not None:
        netloc += f":{port}"
    rendered = f"{parts.scheme}://{netloc}{parts.path}"
    if not secret and parts.query:
        # ?password=... is how some drivers take theirs
        query = [(k, MASK if is_secret_name(k) else v) for k, v in parse_qsl(parts.query)]
        rendered += "?" + urlencode(query, safe="*/:")
    return rendered


def render(name: str, value: Any) -> str:
    """How ``riso settings`` shows one value, secrets masked."""
    if isinstance(value, SecretStr | SecretBytes):
        raw = value.get_secret_value()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return mask_url(text, secret=True) or MASK
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        if is_secret_name(name) and value:
            return mask_url(value, secret=True) or MASK
        return mask_url(value, secret=False) or json.dumps(value)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict | list):
        # nested values (JSON settings) may hold secrets anywhere: mask by key
        return json.dumps(_mask_nested(value), default=str)
    return json.dumps(value, default=str)


def _mask_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if is_secret_name(k) and isinstance(v, str) else _mask_nested(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_nested(v) for v in value]
    if isinstance(value, BaseModel):
        return _mask_nested(value.model_dump(mode="json"))
    return value


def rows(
    feature: str, model: type[BaseSettings], settings: Any, env: Environment
) -> Iterator[SettingRow]:
    for variables in field_variables(model):
        info = model.model_fields[variables.field]
        value = getattr(settings, variables.field)
        default = info.get_default(call_default_factory=True)
        yield SettingRow(
            feature=feature,
            variable=" or ".join(variables.names),
            value=render(variables.field, value),
            source=env.source(variables),
            changed=_plain(value) != _plain(default),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@click.command("settings")
@click.option("--changed", is_flag=True, help="Only the settings that differ from their default.")
@pass_app
def settings_command(app: FastAPI, changed: bool) -> None:
    """Every setting of every active feature: variable, value (secrets masked), source."""
    reg = registry(app)
    models = active_models(reg)
    env = Environment.read(model for _, model in models)
    loaded: dict[str, Any] = {"core": reg.core, **reg.settings}
    table = [("FEATURE", "VARIABLE", "VALUE", "SOURCE")]
    for feature, model in models:
        for row in rows(feature, model, loaded[feature], env):
            if changed and not row.changed:
                continue
            table.append((row.feature, row.variable, row.value, row.source))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        cells = [cell.ljust(width) for cell, width in zip(r[:3], widths, strict=True)]
        click.echo("  ".join([*cells, r[3]]))
