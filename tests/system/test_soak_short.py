"""The soak of ``bench/soak.py`` in a short form: 10 s of the realistic mix
against ``uvicorn --workers 2`` on PostgreSQL + Redis with a real worker.
Asserts only correctness (no 5xx, no transport or flow error), never timing."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

from riso_test_support import stack as st

ROOT = Path(__file__).resolve().parents[2]


def _soak_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("riso_bench_soak", ROOT / "bench" / "soak.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_ten_seconds_of_mixed_traffic_on_two_workers_without_an_error(
    stack_env: dict[str, str], system_dir: Path
) -> None:
    soak = _soak_module()
    env = {**stack_env, "RISO_TASKS_PUBLISH_TIMEOUT": "5"}
    with st.server(env, system_dir, workers=2) as srv:
        stats = asyncio.run(soak.drive(srv.base, 10.0, 8, srv.proc.pid))
    assert stats.total > 100  # the mix really ran
    assert {"register", "login", "note_create", "note_list", "enqueue"} <= set(stats.latencies)
    assert stats.server_errors == 0, dict(stats.statuses)
    assert stats.errors == []
    assert len(stats.rss) == 2  # both uvicorn workers were sampled
