"""The ``riso`` command line: core commands plus every feature's group."""

from __future__ import annotations

import sys
from typing import Any

import click
from fastapi import FastAPI

from riso import _discovery
from riso._checks import (
    CheckContext,
    Level,
    SystemCheck,
    core_checks,
    limit_checks,
    run_checks,
)
from riso._cli_support import CliState, pass_app
from riso._exceptions import DiscoveryError, RisoError
from riso._registry import registry
from riso._serve import serve
from riso._settings_report import settings_command
from riso._variable_checks import variable_checks


class _RisoGroup(click.Group):
    """Turns every RisoError into a one-line (or one-line-per-problem) message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RisoError as exc:
            click.echo(f"riso: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_RisoGroup)
@click.option(
    "--app",
    "app_option",
    metavar="MODULE:ATTR",
    help="The FastAPI app (default: RISO_APP, then [tool.riso] app in pyproject.toml).",
)
@click.pass_context
def cli(ctx: click.Context, app_option: str | None) -> None:
    """riso: production features for FastAPI."""
    ctx.obj = CliState(app_option)


@cli.command()
@pass_app
def features(app: FastAPI) -> None:
    """List installed features: version, distribution, start order, status."""
    rows = [("NAME", "VERSION", "DISTRIBUTION", "ORDER", "STATUS")]
    for info in registry(app).features:
        rows.append(
            (
                info.name,
                info.version or "-",
                info.distribution or "-",
                "-" if info.order is None else str(info.order),
                "enabled" if info.enabled else f"disabled ({info.disabled_reason})",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@cli.command()
@click.option("--deploy", is_flag=True, help="Also report what is unsafe in production.")
@pass_app
def check(app: FastAPI, deploy: bool) -> None:
    """Run every feature's system checks; exit 1 if an error remains."""
    reg = registry(app)
    checks: list[SystemCheck] = [core_checks, limit_checks, variable_checks]
    for info in reg.active:
        if info.feature is not None:
            checks.extend(info.feature.system_checks)
    ctx = CheckContext(app=app, settings=reg.settings, core=reg.core, deploy=deploy)
    messages = run_checks(checks, ctx)
    for message in sorted(messages, key=lambda m: (-m.level, m.id)):
        click.echo(str(message))
    errors = sum(1 for m in messages if m.level >= Level.ERROR)
    silenced = len(reg.core.silenced_checks_list)
    summary = f"System check identified {len(messages)} issue(s)"
    click.echo(f"{summary} ({silenced} silenced)." if silenced else f"{summary}.")
    if errors:
        sys.exit(1)


cli.add_command(serve)
cli.add_command(settings_command)


def _add_feature_commands(group: click.Group) -> None:
    try:
        candidates = _discovery.discover()
    except DiscoveryError:
        return  # reported with its fix as soon as a command loads the app
    for candidate in candidates:
        try:
            feature = candidate.load()
        except DiscoveryError:
            continue
        if feature.cli is not None and feature.cli.name not in group.commands:
            group.add_command(feature.cli)


def main(argv: list[str] | None = None) -> None:
    _add_feature_commands(cli)
    cli.main(args=argv, prog_name="riso")
