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
