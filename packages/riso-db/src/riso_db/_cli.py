"""``riso db ...``: migrations from the command line.

Alembic is imported by the commands, not by this module, so loading the
feature stays cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from fastapi import FastAPI

import riso
from riso_db._database import Database
from riso_db._database import database as app_database
from riso_db._exceptions import MigrationError


def database(app: FastAPI) -> Database:
    """The app's database, refused when it lives in memory.

    An in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``) is
    gone when the command exits: ``upgrade`` would "succeed" into nothing.
    """
    db = app_database(app)
    if db.urls.is_memory:
        raise MigrationError(
            "RISO_DB_URL is an in-memory SQLite database, which is gone when this command "
            "exits: point it at a file (sqlite:///./app.db) or a server"
        )
    return db


@click.group("db")
def cli() -> None:
    """Database migrations: every feature's tree, then the app's."""


@cli.command()
@click.option(
    "--sql",
    is_flag=True,
    help="Print each tree's SQL from an empty database (offline); touch no database.",
)
@click.option(
    "--dialect",
    type=click.Choice(["postgresql", "mysql", "sqlite"]),
    help="The SQL dialect of --sql (default: the configured database's).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say which revisions of which trees would apply; change nothing.",
)
@riso.pass_app
def upgrade(app: FastAPI, sql: bool, dialect: str | None, dry_run: bool) -> None:
    """Upgrade every tree to its head (features in dependency order, then the app)."""
    if sql and dry_run:
        raise click.UsageError("--sql and --dry-run are two different previews: choose one")
    if dialect and not sql:
        raise click.UsageError("--dialect goes with --sql")
    if sql:
        _print_sql(app, dialect)
    elif dry_run:
        _dry_run(app)
    else:
        from riso_db._migrations._runner import upgrade as run_upgrade

        database(app)  # refuses an in-memory database
        run_upgrade(app, echo=click.echo)


def _print_sql(app: FastAPI, dialect: str | None) -> None:
    from riso_db._migrations._offline import upgrade_sql
    from riso_db._migrations._trees import all_trees

    # the configured URL only names the dialect: nothing connects
    name = dialect or database(app).urls.sync_url.get_backend_name()
    click.echo(upgrade_sql(all_trees(app), "mysql" if name == "mariadb" else name), nl=False)


def _dry_run(app: FastAPI) -> None:
    from riso_db._migrations._environment import connect
    from riso_db._migrations._offline import pending
    from riso_db._migrations._trees import all_trees

    db = database(app)
    try:
        with connect(db) as connection:
            found = pending(connection, all_trees(app))
    finally:
        db.dispose_sync()
    if not found:
        click.echo("up to date: every migration tree is at its head; nothing would be applied")
        return
    for item in found:
        start = ", ".join(item.current) or "(empty)"
        click.echo(f"{item.tree}: at {start}, would apply {', '.join(item.revisions)}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("tree")
@click.argument("target")
@riso.pass_app
def downgrade(app: FastAPI, tree: str, target: str) -> None:
    """Downgrade TREE (a feature name, or "app") to TARGET (a revision, -1 or base)."""
    from riso_db._migrations._runner import downgrade_tree
    from riso_db._migrations._trees import all_trees, find_tree

    db = database(app)
    trees = all_trees(app)
    try:
        downgrade_tree(db, find_tree(trees, tree), trees, target, echo=click.echo)
    finally:
        db.dispose_sync()


@cli.command()
@riso.pass_app
def current(app: FastAPI) -> None:
    """Each tree's revision against its head: at head, behind or ahead."""
    from riso_db._migrations._environment import connect
    from riso_db._migrations._runner import states
    from riso_db._migrations._trees import all_trees

    db = database(app)
    try:
        with connect(db) as connection:
            found = states(connection, all_trees(app))
    finally:
        db.dispose_sync()
    rows = [("TREE", "VERSION TABLE", "CURRENT", "HEAD", "STATUS")]
    for state in found:
        rows.append(
            (
                state.tree.name,
                state.tree.version_table,
                ", ".join(state.current) or "-",
                ", ".join(state.heads) or "-",
                state.status,
            )
        )
    _table(rows)


@cli.command()
@riso.pass_app
def check(app: FastAPI) -> None:
    """Exit 1 when a tree is behind or ahead, or the app's models differ from its schema."""
    from riso_db._migrations._autogenerate import app_diffs
    from riso_db._migrations._environment import connect
    from riso_db._migrations._runner import states
    from riso_db._migrations._trees import all_trees

    db = database(app)
    trees = all_trees(app)
    problems: list[str] = []
    try:
        with connect(db) as connection:
            for state in states(connection, trees):
                if state.status != "at head":
                    problems.append(
                        f"tree '{state.tree.name}' is {state.status}: at "
                        f"{', '.join(state.current) or '(empty)'}, head "
                        f"{', '.join(state.heads) or '(none)'}"
                    )
        if not problems:
            diffs = app_diffs(db, trees)
            if diffs:
                problems.append(
                    f"the app's models differ from the database ({len(diffs)} change(s)); "
                    "run: riso db revision --autogenerate -m MESSAGE"
                )
                problems.extend(f"  {diff!r}" for diff in diffs[:20])
    finally:
        db.dispose_sync()
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo("every migration tree is at its head and the models match the schema")


@cli.command()
@click.argument("tree", required=False)
@riso.pass_app
def history(app: FastAPI, tree: str | None) -> None:
    """List the revisions of every tree (or of TREE), newest first."""
    from riso_db._migrations._trees import all_trees, find_tree

    trees = all_trees(app)
    selected = [find_tree(trees, tree)] if tree else trees
    for item in selected:
        click.echo(f"{item.name} ({item.version_table}, {item.versions_dir}):")
        if not item.heads:
            click.echo("  (no revisions)")
            continue
        for script in item.script.walk_revisions():
            heads = " (head)" if script.is_head else ""
            click.echo(
                f"  {script.down_revision or '<base>'} -> {script.revision}{heads}, {script.doc}"
            )


@cli.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@click.option(
    "--tree",
    default="app",
    show_default=True,
    help="The tree to add to (feature authors: their feature's name).",
)
@riso.pass_app
def revision(app: FastAPI, message: str, autogenerate: bool, tree: str) -> None:
    """Write a new revision script into the app's migrations folder."""
    from riso_db._migrations._autogenerate import generate_revision
    from riso_db._migrations._trees import all_trees, find_tree

    db = database(app)
    trees = all_trees(app)
    try:
        paths = generate_revision(
            db, find_tree(trees, tree), trees, message, autogenerate=autogenerate
        )
    finally:
        db.dispose_sync()
    for path in paths:
        click.echo(f"wrote {path}")


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
