"""Per-feature Alembic trees, run with an environment built in code.

Every feature that owns tables declares ``riso.Migrations(versions=..., metadata=...)``;
its revision scripts live in an importable package inside its wheel and its
version table is ``riso_<feature>_alembic_version``. The application's own
tree lives in ``migrations/`` beside the app (or ``RISO_DB_MIGRATIONS``) and
uses Alembic's default ``alembic_version``. There is no ``env.py`` and no
``alembic.ini``: this module is the environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from alembic.autogenerate import RevisionContext, compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from riso_db._database import Database, database
from riso_db._exceptions import (
    DatabaseUnavailableError,
    MigrationError,
    UnknownTreeError,
)
from riso_db._model import Model, UtcDateTime

if TYPE_CHECKING:
    from fastapi import FastAPI

# Alembic logs "Context impl ..." and "Will assume ... DDL" at INFO every time a
# context is configured, which readiness checks do on every probe round. This
# module reports what it applies itself; keep Alembic's own lines for warnings,
# unless the application chose a level for that logger.
_ALEMBIC_RUNTIME_LOG = logging.getLogger("alembic.runtime.migration")
if _ALEMBIC_RUNTIME_LOG.level == logging.NOTSET:
    _ALEMBIC_RUNTIME_LOG.setLevel(logging.WARNING)

APP_TREE = "app"
APP_VERSION_TABLE = "alembic_version"
#: PostgreSQL's alembic_version.version_num is VARCHAR(32)
MAX_REVISION_LENGTH = 32
_TEMPLATES = Path(__file__).parent / "_templates"
_LOCK_NAME = "riso_db_migrations"
#: a fixed key for pg_advisory_lock (bigint), derived from the lock name
_PG_LOCK_KEY = zlib.crc32(_LOCK_NAME.encode()) << 16 | 0x7269

#: modules never taken for "the app's module"
_OWN_MODULES = ("riso", "riso_db", "riso_db_pytest")

Status = Literal["at head", "behind", "ahead"]
Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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


@dataclass(frozen=True)
class TreeState:
    tree: Tree
    current: tuple[str, ...]
    heads: tuple[str, ...]
    status: Status


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
    """The app's own revisions: RISO_DB_MIGRATIONS, else ``migrations/`` beside the app."""
    configured = database(app).settings.migrations
    if configured:
        return Path(configured).resolve()
    beside: Path | None = getattr(app.state, "riso_db_app_dir", None)
    return (beside or Path.cwd()) / "migrations"


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


def find_app_dir(app: object) -> Path | None:
    """The folder of the module that holds ``app`` (called from ``riso.include``).

    The caller's frames are searched first (the module, or the factory
    function, that called ``riso.include``), then the imported modules.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        filename = frame.f_globals.get("__file__")
        if (
            module.partition(".")[0] not in _OWN_MODULES
            and filename
            and (
                any(value is app for value in frame.f_locals.values())
                or any(value is app for value in frame.f_globals.values())
            )
        ):
            return Path(filename).resolve().parent
        frame = frame.f_back
    # riso.include() called by the CLI on an app module that did not call it itself
    for name, imported in list(sys.modules.items()):
        path = getattr(imported, "__file__", None)
        if name.partition(".")[0] in _OWN_MODULES or not path:
            continue
        if any(value is app for value in list(vars(imported).values())):
            return Path(path).resolve().parent
    return None


# -- what autogenerate may look at -----------------------------------------------------------


def _loaded_feature_tables() -> set[str]:
    """Tables owned by installed features whose module is imported, active or not.

    A table can only be in ``Model.metadata`` if its module was imported, so
    this finds every feature-owned table the app's autogenerate could see.
    """
    from importlib.metadata import entry_points

    from riso import Feature

    owned: set[str] = set()
    for entry_point in entry_points(group="riso.features"):
        if entry_point.module not in sys.modules:
            continue
        try:
            feature = entry_point.load()
        except Exception:  # noqa: S112 - a broken feature is reported by riso itself
            continue
        migrations = getattr(feature, "migrations", None)
        if isinstance(feature, Feature) and migrations is not None and migrations.metadata:
            owned |= _table_names(migrations.metadata())
    return owned


def _include_object_for(tree: Tree, trees: Sequence[Tree]) -> Callable[..., bool]:
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


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        autogen_context.imports.add("import riso_db")
        return "riso_db.UtcDateTime()"
    return False


# -- the lock ------------------------------------------------------------------------------


@contextlib.contextmanager
def migration_lock(
    connection: Connection, db: Database, timeout: float, echo: Echo
) -> Iterator[None]:
    """Hold one lock for a whole run, so concurrent deploys apply migrations once.

    PostgreSQL: a session advisory lock. MySQL/MariaDB: ``GET_LOCK`` named after
    the database (the name is server-wide). SQLite: an exclusive ``flock`` on a
    file beside the database, since every process that can open the database
    file can open that one (an in-memory database has a single user).
    """
    dialect = db.dialect
    deadline = time.monotonic() + timeout
    told = False

    def waiting() -> None:
        nonlocal told
        if not told:
            echo("waiting for another process to finish migrating...")
            told = True
        if time.monotonic() > deadline:
            raise MigrationError(
                f"another process held the migration lock for more than {timeout:g}s "
                "(RISO_DB_LOCK_TIMEOUT)"
            )
        time.sleep(0.1)

    # a server-side lock: (take it without waiting, release it, parameters)
    server_lock: tuple[str, str, dict[str, Any]] | None = None
    if dialect == "postgresql":
        server_lock = (
            "SELECT pg_try_advisory_lock(:key)",
            "SELECT pg_advisory_unlock(:key)",
            {"key": _PG_LOCK_KEY},
        )
    elif dialect == "mysql":
        name = f"{_LOCK_NAME}:{db.url.database or ''}"[:64]
        server_lock = ("SELECT GET_LOCK(:name, 0)", "SELECT RELEASE_LOCK(:name)", {"name": name})

    if server_lock is not None:
        take, release, params = server_lock
        while not connection.execute(text(take), params).scalar():
            connection.rollback()
            waiting()
        connection.commit()
        try:
            yield
        finally:
            _release(connection, release, params)
    elif db.urls.is_memory or sys.platform == "win32":
        yield
    else:
        import fcntl

        path = Path(str(db.url.database)).resolve()
        with open(path.with_name(path.name + ".migrate-lock"), "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waiting()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _release(connection: Connection, sql: str, params: dict[str, Any]) -> None:
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text(sql), params)
        connection.commit()
    except SQLAlchemyError:
        pass  # the session lock ends with the connection anyway


# -- running --------------------------------------------------------------------------------


def _scrub(message: str, db: Database) -> str:
    password = db.urls.sync_url.password
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line.replace(password, "***") if password else line


@contextlib.contextmanager
def connect(db: Database) -> Iterator[Connection]:
    """A sync connection, with connection failures turned into one clear line."""
    try:
        connection = db.sync_engine.connect()
    except DBAPIError as exc:
        reason = _scrub(str(exc.orig) if exc.orig is not None else str(exc), db)
        raise DatabaseUnavailableError(f"cannot connect to {db.urls.masked}: {reason}") from None
    try:
        yield connection
    finally:
        connection.close()


def _context_options(tree: Tree, trees: Sequence[Tree], connection: Connection) -> dict[str, Any]:
    sqlite = connection.dialect.name == "sqlite"
    options: dict[str, Any] = {
        "version_table": tree.version_table,
        "target_metadata": tree.target_metadata,
        "include_object": _include_object_for(tree, trees),
        "render_item": _render_item,
        "transaction_per_migration": True,
        "render_as_batch": sqlite,
        "compare_type": True,
    }
    if sqlite:
        # riso-db's SQLite connections emit BEGIN themselves: DDL is transactional
        options["transactional_ddl"] = True
    return options


def _run(
    connection: Connection,
    tree: Tree,
    trees: Sequence[Tree],
    fn: Callable[[Any, MigrationContext], Any],
    **kw: Any,
) -> None:
    if connection.in_transaction():
        connection.commit()
    with EnvironmentContext(Config(), tree.script, fn=fn, **kw) as env:
        env.configure(connection=connection, **_context_options(tree, trees, connection))
        with env.begin_transaction():
            env.run_migrations()
    if connection.in_transaction():
        connection.commit()


def current_revisions(connection: Connection, tree: Tree) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": tree.version_table})
    return tuple(sorted(context.get_current_heads()))


def tree_state(connection: Connection, tree: Tree) -> TreeState:
    current = current_revisions(connection, tree)
    heads = tree.heads
    status: Status
    if set(current) == set(heads):
        status = "at head"
    else:
        known = set()
        if tree.versions_dir.is_dir():
            known = {rev.revision for rev in tree.script.walk_revisions()}
        status = "ahead" if any(rev not in known for rev in current) else "behind"
    return TreeState(tree, current, heads, status)


def states(connection: Connection, trees: Iterable[Tree]) -> list[TreeState]:
    result = [tree_state(connection, tree) for tree in trees]
    if connection.in_transaction():
        connection.rollback()
    return result


def _describe(revisions: Sequence[str]) -> str:
    return ", ".join(revisions) if revisions else "(empty)"


def upgrade_trees(
    db: Database, trees: Sequence[Tree], *, echo: Echo = _quiet
) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Bring every tree to its head under the lock; return what moved."""
    moved: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    with connect(db) as connection, migration_lock(connection, db, db.settings.lock_timeout, echo):
        for tree in trees:
            if not tree.heads:
                continue
            state = tree_state(connection, tree)
            before = state.current
            if state.status == "at head":
                continue
            if state.status == "ahead":
                raise MigrationError(
                    f"tree '{tree.name}' is at revision {_describe(before)}, which the installed "
                    "code does not know (a newer release migrated this database): install that "
                    "release, or downgrade the tree with it first"
                )
            script = tree.script

            def fn(rev: Any, _context: MigrationContext, script: ScriptDirectory = script) -> Any:
                return script._upgrade_revs("heads", rev)

            try:
                _run(connection, tree, trees, fn, destination_rev="heads")
            except Exception as exc:
                raise _failed("upgrading", connection, tree, db, exc) from exc
            after = current_revisions(connection, tree)
            moved.append((tree.name, before, after))
            echo(f"{tree.name}: {_describe(before)} -> {_describe(after)}")
        if connection.in_transaction():
            connection.rollback()
    if not moved:
        echo("nothing to do: every migration tree is at its head")
    return moved


def downgrade_tree(
    db: Database, tree: Tree, trees: Sequence[Tree], target: str, *, echo: Echo = _quiet
) -> None:
    """Move one tree down to ``target`` (a revision, ``-1`` or ``base``)."""
    with connect(db) as connection, migration_lock(connection, db, db.settings.lock_timeout, echo):
        before = current_revisions(connection, tree)
        script = tree.script

        def fn(rev: Any, _context: MigrationContext) -> Any:
            return script._downgrade_revs(target, rev)

        try:
            _run(connection, tree, trees, fn, destination_rev=target)
        except CommandError as exc:
            raise MigrationError(f"cannot downgrade tree '{tree.name}': {exc}") from None
        except Exception as exc:
            raise _failed("downgrading", connection, tree, db, exc) from exc
        after = current_revisions(connection, tree)
        connection.rollback()
    echo(f"{tree.name}: {_describe(before)} -> {_describe(after)}")


def _failed(
    verb: str, connection: Connection, tree: Tree, db: Database, exc: Exception
) -> MigrationError:
    """The error for a run that failed midway, naming the revision the tree stays at."""
    if connection.in_transaction():
        connection.rollback()
    now = current_revisions(connection, tree)
    connection.rollback()
    return MigrationError(
        f"{verb} tree '{tree.name}' failed: {type(exc).__name__}: "
        f"{_scrub(str(exc), db)}; it stays at revision {_describe(now)}"
    )


def app_diffs(db: Database, trees: Sequence[Tree]) -> list[Any]:
    """What autogenerate would propose for the app (feature and version tables left out)."""
    tree = trees[-1]
    with connect(db) as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": _include_object_for(tree, trees),
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
                _run(
                    connection,
                    tree,
                    trees,
                    fn,
                    template_args=revision_context.template_args,
                    revision_context=revision_context,
                )
            except CommandError as exc:
                raise MigrationError(f"cannot autogenerate for '{tree.name}': {exc}") from None
            connection.rollback()
    scripts = [s for s in revision_context.generate_scripts() if s is not None]
    tree._script.clear()
    return [Path(s.path) for s in scripts]


def find_tree(trees: Sequence[Tree], name: str) -> Tree:
    for tree in trees:
        if tree.name == name:
            return tree
    names = ", ".join(t.name for t in trees)
    raise UnknownTreeError(f"no migration tree named {name!r}; the trees are: {names}")


def upgrade(app: FastAPI, *, echo: Echo = _quiet) -> None:
    """Upgrade every active feature's tree in dependency order, then the app's, under one lock."""
    db = database(app)
    try:
        upgrade_trees(db, all_trees(app), echo=echo)
    finally:
        if not db.urls.is_memory:  # an in-memory database lives in its connection
            db.dispose_sync()
