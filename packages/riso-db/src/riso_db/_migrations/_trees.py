"""The migration trees of an app (each active feature's, then the app's) and their filters.

A tree's filter tells autogenerate which tables it may look at: a feature's
tree only its own tables, the app's tree everything no feature owns; version
tables belong to no tree.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, Table

from riso_db._compat import installed_features
from riso_db._database import database
from riso_db._exceptions import MigrationError, UnknownTreeError
from riso_db._migrations._app_dir import find_app_dir
from riso_db._model import Model

if TYPE_CHECKING:
    from fastapi import FastAPI

APP_TREE = "app"
APP_VERSION_TABLE = "alembic_version"
#: PostgreSQL's alembic_version.version_num is VARCHAR(32)
MAX_REVISION_LENGTH = 32
_TEMPLATES = Path(__file__).parent.parent / "_templates"


@dataclass(frozen=True)
class Tree:
    """One migration tree: a feature's or the app's."""

    name: str
    version_table: str
    versions_dir: Path
    #: the tables this tree owns (None: the app's, i.e. everything not owned by a feature)
    tables: frozenset[str] | None
    target_metadata: MetaData
    _script: list[ScriptDirectory] = field(default_factory=list, repr=False, compare=False)

    @property
    def script(self) -> ScriptDirectory:
        if not self._script:
            script = ScriptDirectory(
                str(_TEMPLATES),
                version_locations=[str(self.versions_dir)],
                file_template="%(rev)s_%(slug)s",
                messaging_opts={"quiet": True},
            )
            for revision in script.walk_revisions():
                if len(revision.revision) > MAX_REVISION_LENGTH:
                    raise MigrationError(
                        f"revision id {revision.revision!r} in {revision.path} is longer than "
                        f"{MAX_REVISION_LENGTH} characters (the version table column); "
                        "use a shorter id"
                    )
            self._script.append(script)
        return self._script[0]

    @property
    def heads(self) -> tuple[str, ...]:
        if not self.versions_dir.is_dir():
            return ()
        try:
            return tuple(sorted(self.script.get_heads()))
        except CommandError as exc:
            raise MigrationError(f"migration tree '{self.name}' is broken: {exc}") from None

    def forget_script(self) -> None:
        """Read the folder again on next use (a revision was just written into it)."""
        self._script.clear()


# -- finding the trees ---------------------------------------------------------------------


def _package_dir(package: str, feature: str) -> Path:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise MigrationError(
            f"feature '{feature}' declares migrations in {package!r}, which is not an importable "
            "package (a folder with __init__.py)"
        )
    return Path(locations[0])


def _table_names(metadata: Any) -> frozenset[str]:
    if metadata is None:
        return frozenset()
    if isinstance(metadata, MetaData):
        return frozenset(metadata.tables)
    if isinstance(metadata, Table):
        return frozenset({metadata.name})
    names: set[str] = set()
    for item in metadata:
        names |= _table_names(item)
    return frozenset(names)


def _target_metadata(metadata: Any) -> MetaData:
    if isinstance(metadata, MetaData):
        return metadata
    if isinstance(metadata, Table):
        return metadata.metadata
    for item in metadata or ():
        return _target_metadata(item)
    return Model.metadata


def feature_trees(app: FastAPI) -> list[Tree]:
    """The trees of the active features, in dependency order."""
    from riso import registry

    trees: list[Tree] = []
    for info in registry(app).active:
        migrations = info.feature.migrations if info.feature is not None else None
        if migrations is None:
            continue
        owned = migrations.metadata() if migrations.metadata is not None else None
        trees.append(
            Tree(
                name=info.name,
                version_table=migrations.version_table or f"riso_{info.name}_alembic_version",
                versions_dir=_package_dir(migrations.versions, info.name),
                tables=_table_names(owned),
                target_metadata=_target_metadata(owned),
            )
        )
    return trees


def app_migrations_dir(app: FastAPI) -> Path:
    """The app's own revisions: RISO_DB_MIGRATIONS, else ``migrations/`` beside the app.

    "Beside the app" is the folder ``riso.include`` found (``_app_dir``), else
    the one found now (an app made by a factory is bound to its module only
    once the factory returned), else the working directory.
    """
    db = database(app)
    if db.settings.migrations:
        return Path(db.settings.migrations).resolve()
    beside = db.app_dir
    return (beside or find_app_dir(app) or Path.cwd()) / "migrations"


def app_tree(app: FastAPI) -> Tree:
    return Tree(
        name=APP_TREE,
        version_table=APP_VERSION_TABLE,
        versions_dir=app_migrations_dir(app),
        tables=None,
        target_metadata=Model.metadata,
    )


def all_trees(app: FastAPI) -> list[Tree]:
    """Every feature's tree in dependency order, then the app's."""
    return [*feature_trees(app), app_tree(app)]


def find_tree(trees: Sequence[Tree], name: str) -> Tree:
    for tree in trees:
        if tree.name == name:
            return tree
    names = ", ".join(t.name for t in trees)
    raise UnknownTreeError(f"no migration tree named {name!r}; the trees are: {names}")


# -- what autogenerate may look at -----------------------------------------------------------


def _loaded_feature_tables() -> set[str]:
    """Tables owned by installed features whose module is imported, active or not.

    A table can only be in ``Model.metadata`` if its module was imported, so
    this finds every feature-owned table the app's autogenerate could see. The
    app's registry knows only the features it loaded, so riso-core's discovery
    lists them all.
    """
    from riso import RisoError

    owned: set[str] = set()
    try:
        installed = installed_features()
    except RisoError:  # two distributions with one name: riso.include reports it
        return owned
    for module, load in installed:
        if module not in sys.modules:
            continue
        try:
            feature = load()
        except RisoError:  # a broken feature is reported by riso itself
            continue
        migrations = feature.migrations
        if migrations is not None and migrations.metadata:
            owned |= _table_names(migrations.metadata())
    return owned


def include_object_for(tree: Tree, trees: Sequence[Tree]) -> Callable[..., bool]:
    """Alembic's ``include_object`` hook for ``tree``: the tables it may compare."""
    version_tables = {t.version_table for t in trees} | {APP_VERSION_TABLE}
    feature_tables: set[str] = set()
    for other in trees:
        if other.tables is not None:
            feature_tables |= other.tables
    if tree.tables is None:
        feature_tables |= _loaded_feature_tables()

    def table_name(obj: Any, name: str | None, type_: str) -> str | None:
        if type_ == "table":
            return name
        table = getattr(obj, "table", None)
        return getattr(table, "name", None)

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        table = table_name(obj, name, type_)
        if table is None:
            return True
        if table in version_tables or table.endswith("_alembic_version"):
            return False
        if tree.tables is None:
            return table not in feature_tables
        return table in tree.tables

    return include_object
