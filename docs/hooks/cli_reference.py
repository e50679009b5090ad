"""MkDocs hook: the ``riso`` command reference, generated from the click commands.

The page ``reference/cli.md`` holds the marker ``<!-- cli-reference -->``; at
build time it is replaced by every command of riso-core and of each installed
feature (``riso db ...``, ``riso auth ...``), with its usage, help and
options, so the reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import click

MARKER = "<!-- cli-reference -->"


def root() -> click.Group:
    """riso's top-level group with every installed feature's group, as ``riso`` builds it."""
    from riso._cli import cli

    group = click.Group(
        name="riso", commands=dict(cli.commands), params=list(cli.params), help=cli.help
    )
    for entry in sorted(entry_points(group="riso.features"), key=lambda e: e.name):
        feature = entry.load()
        if feature.cli is not None and feature.cli.name not in group.commands:
            group.add_command(feature.cli)
    return group


def commands(
    command: click.Command, path: tuple[str, ...] = ("riso",)
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command``, depth first, groups before their members."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from commands(command.commands[name], (*path, name))


def render() -> str:
    parts = []
    for path, command in commands(root()):
        ctx = click.Context(command, info_name=" ".join(path))
        depth = min(len(path) + 1, 4)
        parts.append(f"{'#' * depth} `{' '.join(path)}`\n")
        parts.append(f"```text\n{command.get_usage(ctx)}\n```\n")
        if command.help:
            parts.append(inspect.cleandoc(command.help).replace("\b\n", "") + "\n")
        records = [
            record
            for param in command.get_params(ctx)
            if isinstance(param, click.Option) and "--help" not in param.opts
            for record in [param.get_help_record(ctx)]
            if record is not None
        ]
        if records:
            parts.append("| option | meaning |")
            parts.append("|---|---|")
            for names, text in records:
                parts.append(f"| `{names}` | {_cell(text)} |")
            parts.append("")
        if isinstance(command, click.Group) and command.commands:
            listed = ", ".join(f"`{name}`" for name in sorted(command.commands))
            parts.append(f"Commands: {listed}.\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the marker of the CLI reference page."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
