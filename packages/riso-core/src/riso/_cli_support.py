"""Finding the application for the CLI, and handing it to feature commands."""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import update_wrapper
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import click
from fastapi import FastAPI

from riso._exceptions import AppNotFoundError

P = ParamSpec("P")
R = TypeVar("R")

_HOW = (
    'pass --app module:attr, set RISO_APP, or add [tool.riso] app = "module:attr" to pyproject.toml'
)


def find_app_spec(option: str | None, cwd: Path) -> tuple[str, str, Path]:
    """The ``module:attr`` to load, where it came from, and the folder to import from."""
    if option:
        return option, "--app", cwd
    if os.environ.get("RISO_APP"):
        return os.environ["RISO_APP"], "RISO_APP", cwd
    for folder in (cwd, *cwd.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise AppNotFoundError(f"cannot read {pyproject}: {exc}") from exc
            spec = data.get("tool", {}).get("riso", {}).get("app")
            if isinstance(spec, str) and spec:
                return spec, f"[tool.riso] app in {pyproject}", folder
            break  # the nearest pyproject.toml decides
    raise AppNotFoundError(f"no application to load: {_HOW}")


def import_app(spec: str, source: str, folder: Path) -> FastAPI:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AppNotFoundError(f"{source} is {spec!r}, expected 'module:attr' (e.g. 'main:app')")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppNotFoundError(
                f"cannot import {module_name!r} named by {source}: no module named "
                f"{exc.name!r}; check the name, or run riso from the project folder"
            ) from None
        raise
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise AppNotFoundError(
            f"module {module_name!r} has no attribute {attr!r} (named by {source})"
        ) from None
    if not isinstance(app, FastAPI):
        raise AppNotFoundError(
            f"{spec} (named by {source}) is a {type(app).__name__}, not a FastAPI app"
        )
    return app


@dataclass
class CliState:
    """Per-invocation CLI state: the app is loaded on first use only."""

    app_option: str | None
    cwd: Path = field(default_factory=Path.cwd)
    _app: FastAPI | None = None

    def load_app(self) -> FastAPI:
        if self._app is None:
            from riso._include import include

            app = import_app(*find_app_spec(self.app_option, self.cwd))
            include(app)  # a no-op when the app module already called it
            self._app = app
        return self._app


def pass_app(f: Callable[Concatenate[FastAPI, P], R]) -> Callable[P, R]:
    """Decorate a click command to receive the application, already included."""

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(f, ctx.ensure_object(_state_type()).load_app(), *args, **kwargs)

    return update_wrapper(wrapper, f)


def _state_type() -> type[CliState]:
    return CliState
