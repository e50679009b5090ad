"""Autogenerate: new revision scripts, and what the app's models differ by from its schema."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic.autogenerate import RevisionContext, compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from riso_db._database import Database
from riso_db._exceptions import MigrationError
from riso_db._migrations._environment import connect, run_in_environment
from riso_db._migrations._trees import Tree, include_object_for


def app_diffs(db: Database, trees: Sequence[Tree]) -> list[Any]:
    """What autogenerate would propose for the app (feature and version tables left out)."""
    tree = trees[-1]
    with connect(db) as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": include_object_for(tree, trees),
                "compare_type": True,
                "target_metadata": tree.target_metadata,
            },
        )
        diffs = compare_metadata(context, tree.target_metadata)
        connection.rollback()
    return list(diffs)


def generate_revision(
    db: Database,
    tree: Tree,
    trees: Sequence[Tree],
    message: str,
    *,
    autogenerate: bool,
) -> list[Path]:
    """Write a new revision script into ``tree``'s folder (created when missing)."""
    tree.versions_dir.mkdir(parents=True, exist_ok=True)
    script = tree.script
    revision_context = RevisionContext(
        Config(),
        script,
        {
            "message": message,
            "autogenerate": autogenerate,
            "sql": False,
            "head": "head",
            "splice": False,
            "branch_label": None,
            "version_path": str(tree.versions_dir),
            "rev_id": None,
            "depends_on": None,
        },
    )
    if autogenerate:

        def fn(rev: Any, context: MigrationContext) -> list[Any]:
            revision_context.run_autogenerate(rev, context)
            return []

        with connect(db) as connection:
            try:
                run_in_environment(
                    connection,
                    tree,
                    trees,
                    fn,
                    template_args=revision_context.template_args,
                    revision_context=revision_context,
                )
            except CommandError as exc:
                hint = ""
                if "not up to date" in str(exc):
                    # the models are compared with the schema at head only
                    hint = "; run `riso db upgrade` first"
                raise MigrationError(
                    f"cannot autogenerate for '{tree.name}': {exc}{hint}"
                ) from None
            connection.rollback()
    scripts = [s for s in revision_context.generate_scripts() if s is not None]
    tree.forget_script()
    return [Path(s.path) for s in scripts]
