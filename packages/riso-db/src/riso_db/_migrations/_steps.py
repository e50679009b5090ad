"""The revision steps an upgrade or a downgrade runs, from Alembic's public revision API.

What ``alembic upgrade`` / ``alembic downgrade`` hand to the migration context
(``ScriptDirectory._upgrade_revs`` / ``_downgrade_revs``, private), rebuilt
from the public ``ScriptDirectory.iterate_revisions`` and ``MigrationStep``;
revision errors become the same ``CommandError`` lines Alembic's commands give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from alembic.runtime.migration import MigrationStep
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import (
    MultipleHeads,
    RangeNotAncestorError,
    ResolutionError,
    RevisionError,
)
from alembic.util import CommandError

_MULTIPLE_HEADS = (
    "Multiple head revisions are present for given argument '%(head_arg)s'; please "
    "specify a specific target revision, '<branchname>@%(head_arg)s' to narrow to a "
    "specific head, or 'heads' for all heads"
)


def upgrade_steps(script: ScriptDirectory, destination: str, current: Any) -> list[Any]:
    """The steps from the ``current`` heads up to ``destination`` (e.g. ``"heads"``), in order."""
    scripts = _revisions(
        "upgrade",
        destination,
        lambda: script.iterate_revisions(destination, current, implicit_base=True),
    )
    return [
        MigrationStep.upgrade_from_script(script.revision_map, item) for item in reversed(scripts)
    ]


def downgrade_steps(script: ScriptDirectory, destination: str, current: Any) -> list[Any]:
    """The steps from the ``current`` heads down to ``destination`` (a revision, -1 or base)."""
    scripts = _revisions(
        "downgrade",
        destination,
        lambda: script.iterate_revisions(current, destination, select_for_downgrade=True),
    )
    return [MigrationStep.downgrade_from_script(script.revision_map, item) for item in scripts]


def _revisions(direction: str, destination: str, walk: Callable[[], Iterator[Script]]) -> list[Any]:
    try:
        return list(walk())
    except RangeNotAncestorError as exc:
        raise CommandError(
            f"Destination {destination} is not a valid {direction} target from current head(s)"
        ) from exc
    except MultipleHeads as exc:
        raise CommandError(_MULTIPLE_HEADS % {"head_arg": destination}) from exc
    except ResolutionError as exc:
        raise CommandError(f"Can't locate revision identified by '{exc.argument}'") from exc
    except RevisionError as exc:
        raise CommandError(exc.args[0]) from exc
