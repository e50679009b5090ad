"""MkDocs hook: the settings reference, generated from the features' pydantic models.

The page ``reference/settings.md`` holds the marker ``<!-- settings-reference -->``;
at build time it is replaced by one table per settings model (riso-core's
``CoreSettings``, then every installed ``riso.features`` entry point's model),
so the reference cannot drift from the code. Descriptions come from
``Field(description=...)``, else from the ``#:`` comment above the field;
fields that hold models of their own (a provider, a periodic task) get a table
of their own. Secrets' defaults are never printed.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

MARKER = "<!-- settings-reference -->"
MASKED = "*(secret: not shown)*"


@dataclass(frozen=True, slots=True)
class Section:
    """One settings model: which feature and distribution own it."""

    feature: str
    distribution: str
    model: type[BaseSettings]


@dataclass(frozen=True, slots=True)
class Row:
    """One field of a settings model, as the reference prints it."""

    field: str
    variables: tuple[str, ...]
    type: str
    default: str
    description: str


def sections() -> list[Section]:
    """riso-core's settings first, then each installed feature's, by feature name."""
    import riso

    found = [Section("core", "riso-core", riso.CoreSettings)]
    for entry in sorted(entry_points(group="riso.features"), key=lambda e: e.name):
        feature = entry.load()
        if feature.settings is not None:
            dist = entry.dist.name if entry.dist is not None else "?"
            found.append(Section(entry.name, dist, feature.settings))
    return found


def rows(model: type[BaseSettings]) -> list[Row]:
    comments = _field_comments(model)
    prefix = str(model.model_config.get("env_prefix", ""))
    result = []
    for name, info in model.model_fields.items():
        description = info.description or comments.get(name, "")
        result.append(
            Row(
                field=name,
                variables=_variables(prefix, name, info),
                type=_type_text(info),
                default=_default_text(info),
                description=" ".join(description.split()),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class Nested:
    """A field whose values are models of their own (a dict or list of them, or one)."""

    field: str
    shape: Literal["dict", "list", "model"]
    model: type[BaseModel]


def nested_models(model: type[BaseSettings]) -> list[Nested]:
    found = []
    for name, info in model.model_fields.items():
        shape, inner = _model_shape(info.annotation)
        if shape is not None and inner is not None:
            found.append(Nested(name, shape, inner))
    return found


def nested_rows(model: type[BaseSettings], nested: Nested) -> list[Row]:
    """The nested model's fields: their variables when the settings model reads
    ``__``-delimited names, else the keys of the JSON value."""
    prefix = str(model.model_config.get("env_prefix", ""))
    delimiter = model.model_config.get("env_nested_delimiter")
    outer = (prefix + nested.field).upper()
    comments = _field_comments(nested.model)
    result = []
    for name, info in nested.model.model_fields.items():
        if delimiter and nested.shape == "dict":
            variables: tuple[str, ...] = (f"{outer}{delimiter}<NAME>{delimiter}{name.upper()}",)
        elif delimiter and nested.shape == "model":
            variables = (f"{outer}{delimiter}{name.upper()}",)
        else:
            variables = (f"{info.alias or name}",)
        description = info.description or comments.get(name, "")
        result.append(
            Row(
                field=name,
                variables=variables,
                type=_type_text(info),
                default=_default_text(info),
                description=" ".join(description.split()),
            )
        )
    return result


def render() -> str:
    parts = []
    for section in sections():
        model = section.model
        doc = inspect.getdoc(model) or ""
        parts.append(f"## {section.feature}: `{model.__name__}` ({section.distribution})\n")
        if doc:
            parts.append(doc.split("\n\n")[0].replace("\n", " ") + "\n")
        parts.append("| variable | type | default | description |")
        parts.append("|---|---|---|---|")
        for row in rows(model):
            names = "<br>".join(f"`{v}`" for v in row.variables)
            cells = [names, row.type, row.default, row.description]
            parts.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        parts.append("")
        for nested in nested_models(model):
            parts.append(_nested_table(model, nested))
    return "\n".join(parts)


def _nested_table(model: type[BaseSettings], nested: Nested) -> str:
    outer = (str(model.model_config.get("env_prefix", "")) + nested.field).upper()
    what = {"dict": "each entry of", "list": "each item of", "model": "the value of"}
    delimiter = model.model_config.get("env_nested_delimiter")
    lines = [f"### `{outer}`: `{nested.model.__name__}`\n"]
    doc = inspect.getdoc(nested.model) or ""
    intro = f"The fields of {what[nested.shape]} `{outer}` (JSON)"
    if delimiter and nested.shape != "list":
        intro += f", or one variable per field with `{delimiter}`"
    lines.append(intro + (f". {doc.split(chr(10) * 2)[0]}" if doc else ".") + "\n")
    head = "variable" if delimiter and nested.shape != "list" else "JSON key"
    lines.append(f"| {head} | type | default | description |")
    lines.append("|---|---|---|---|")
    for row in nested_rows(model, nested):
        names = "<br>".join(f"`{v}`" for v in row.variables)
        cells = [names, row.type, row.default, row.description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the marker of the settings reference page."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown


# --- helpers -----------------------------------------------------------------


def _variables(prefix: str, name: str, info: FieldInfo) -> tuple[str, ...]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(c.upper() for c in alias.choices if isinstance(c, str))
    if isinstance(alias, str):
        return (alias.upper(),)
    return ((prefix + name).upper(),)


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


def _default_text(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "*(required)*"
    if _is_secret(info.annotation):
        return "unset" if info.default is None else MASKED
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "unset"
    if value == "":
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict | list) and not value:
        return f"`{value}`"
    return f"`{value}`"


def _type_text(info: FieldInfo) -> str:
    text = _annotation_text(info.annotation)
    bounds = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sign} {getattr(meta, attr)}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _annotation_text(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if annotation is type(None):
        return "unset"
    if origin is Annotated:
        return _annotation_text(args[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        text = " \\| ".join(_annotation_text(a) for a in present)
        return f"{text}, optional" if len(present) < len(args) else text
    if origin is dict:
        value = args[1] if len(args) == 2 else Any
        if isinstance(value, type) and issubclass(value, BaseModel):
            return f"JSON object of {value.__name__}"
        return "JSON object"
    if origin is list:
        return "JSON list"
    if annotation is SecretStr:
        return "secret string"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _model_shape(
    annotation: Any,
) -> tuple[Literal["dict", "list", "model"] | None, type[BaseModel] | None]:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _model_shape(args[0])
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        return _model_shape(present[0]) if len(present) == 1 else (None, None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    inner = args[-1] if origin in (dict, list) and args else None
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return ("dict" if origin is dict else "list"), inner
    return None, None


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment lines right above each field, base classes first."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        (node,) = ast.parse(source).body
        assert isinstance(node, ast.ClassDef)
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                comment: list[str] = []
                index = stmt.lineno - 2  # the line above, 0-based
                while index >= 0 and lines[index].strip().startswith("#:"):
                    comment.insert(0, lines[index].strip()[2:].strip())
                    index -= 1
                if comment:
                    found[stmt.target.id] = " ".join(comment)
    return found


def _cell(text: str) -> str:
    # a pipe splits a Markdown table cell, inside code spans too: escape every bare one
    return re.sub(r"(?<!\\)\|", r"\\|", text)
