"""``RISO_GC_FREEZE``: the objects of startup leave the collector's full collections, once."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

import riso
from riso import _gc

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gc.unfreeze()
    monkeypatch.setattr(_gc, "_frozen", False)
    yield
    gc.unfreeze()


async def _start_and_stop() -> None:
    app = FastAPI()
    riso.include(app, features=[])
    async with app.router.lifespan_context(app):
        pass


async def test_startup_freezes_what_exists_once_per_process() -> None:
    await _start_and_stop()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the interpreter's and FastAPI's objects, at least
    gc.unfreeze()
    await _start_and_stop()  # a second lifespan in this process: nothing more frozen
    assert gc.get_freeze_count() == 0


async def test_riso_gc_freeze_false_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_GC_FREEZE", "false")
    await _start_and_stop()
    assert gc.get_freeze_count() == 0


def test_garbage_of_startup_is_collected_before_the_freeze() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Cycle())  # unreachable, but alive until a collection
    gc.disable()  # no automatic collection in between
    try:
        assert garbage() is not None
        assert _gc.freeze_startup_objects()
    finally:
        gc.enable()
    assert garbage() is None  # collected, not frozen
    assert not _gc.freeze_startup_objects()  # once


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, *saved[1:])  # CPython's default young threshold
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
@pytest.mark.parametrize(
    ("setting", "before", "after"),
    [
        (None, 700, 10_000),  # the default
        ("20000", 700, 20_000),
        ("0", 700, 700),  # off
        (None, 50_000, 50_000),  # the app chose a higher one
        (None, 0, 0),  # the app turned automatic collection off
    ],
)
async def test_startup_raises_the_young_threshold(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, before: int, after: int
) -> None:
    if setting is not None:
        monkeypatch.setenv("RISO_GC_YOUNG_THRESHOLD", setting)
    gc.set_threshold(before, *gc.get_threshold()[1:])
    await _start_and_stop()
    assert gc.get_threshold()[0] == after


@pytest.mark.usefixtures("thresholds")
def test_a_disabled_collector_keeps_its_threshold() -> None:
    gc.disable()
    try:
        assert not _gc.raise_young_threshold(10_000)
    finally:
        gc.enable()
    assert gc.get_threshold()[0] == 700
