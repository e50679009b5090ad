"""The revision steps of an upgrade or a downgrade, built from Alembic's public API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from riso_db._migrations._steps import downgrade_steps, upgrade_steps
from riso_db._migrations._trees import Tree
from riso_db._model import Model

#: revision -> down revision(s): a1 <- b2 <- c3, and a branch a1 <- x2, merged by m4
REVISIONS: dict[str, Any] = {"a1": None, "b2": "a1", "c3": "b2", "x2": "a1", "m4": ("c3", "x2")}


@pytest.fixture
def script(tmp_path: Path) -> ScriptDirectory:
    for rev, down in REVISIONS.items():
        (tmp_path / f"{rev}_step.py").write_text(
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
            "depends_on = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
        )
    return Tree("t", "v", tmp_path, frozenset(), Model.metadata).script


def _revs(steps: list[Any]) -> list[str]:
    return [step.revision.revision for step in steps]


def test_upgrade_steps_run_oldest_first(script: ScriptDirectory) -> None:
    everything = _revs(upgrade_steps(script, "heads", ()))
    assert everything[0] == "a1"
    assert everything[-1] == "m4"
    assert set(everything) == set(REVISIONS)
    assert everything.index("b2") < everything.index("c3")
    assert _revs(upgrade_steps(script, "heads", ("c3",))) == ["x2", "m4"]
    assert _revs(upgrade_steps(script, "heads", ("m4",))) == []
    assert all(step.is_upgrade for step in upgrade_steps(script, "heads", ()))


def test_downgrade_steps_run_newest_first(script: ScriptDirectory) -> None:
    assert _revs(downgrade_steps(script, "-1", ("c3",))) == ["c3"]
    assert _revs(downgrade_steps(script, "x2", ("m4",))) == ["m4"]  # c3 stays a head
    assert _revs(downgrade_steps(script, "b2", ("c3",))) == ["c3"]
    everything = _revs(downgrade_steps(script, "base", ("m4",)))
    assert everything[0] == "m4"
    assert everything[-1] == "a1"
    assert all(step.is_downgrade for step in downgrade_steps(script, "base", ("m4",)))


@pytest.mark.parametrize(
    ("target", "current", "message"),
    [
        ("zzzz", ("c3",), "Can't locate revision identified by 'zzzz'"),
        ("c3", ("b2",), "Destination c3 is not a valid downgrade target from current head(s)"),
    ],
)
def test_downgrade_errors_are_alembic_command_errors(
    script: ScriptDirectory, target: str, current: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError) as info:
        downgrade_steps(script, target, current)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("destination", "current"), [("heads", ()), ("heads", ("b2",)), ("heads", ("c3", "x2"))]
)
def test_upgrade_matches_alembic_command(
    script: ScriptDirectory, destination: str, current: tuple[str, ...]
) -> None:
    """The steps ``alembic upgrade`` itself would run (its private helper), while it exists."""
    private = getattr(script, "_upgrade_revs", None)
    if private is None:
        pytest.skip("Alembic no longer has ScriptDirectory._upgrade_revs to compare with")
    assert _revs(upgrade_steps(script, destination, current)) == _revs(
        private(destination, current)
    )


@pytest.mark.parametrize(
    ("destination", "current"),
    [("-1", ("m4",)), ("base", ("m4",)), ("x2", ("m4",)), ("a1", ("c3", "x2")), ("zzzz", ("c3",))],
)
def test_downgrade_matches_alembic_command(
    script: ScriptDirectory, destination: str, current: tuple[str, ...]
) -> None:
    private = getattr(script, "_downgrade_revs", None)
    if private is None:
        pytest.skip("Alembic no longer has ScriptDirectory._downgrade_revs to compare with")
    try:
        expected: object = _revs(private(destination, current))
    except CommandError as exc:
        expected = str(exc)
    try:
        found: object = _revs(downgrade_steps(script, destination, current))
    except CommandError as exc:
        found = str(exc)
    assert found == expected
