"""How much time riso.include adds over importing the same features alone.

Twenty synthetic features (settings, a router, a middleware, a lifespan, a
health check, requirements between them) are written as real installed
distributions. Each measurement runs in a fresh interpreter:

- baseline: import fastapi and riso, then import the 20 feature modules;
- subject:  import fastapi and riso, then riso.include(FastAPI()) on them
  (entry-point discovery, import, ordering, settings, middleware, routers).

The difference of the medians is what include adds. Goal: under 20 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchkit import interleaved

from riso.testing import write_distribution

FEATURES = 20
RUNS = 15  # per block
BLOCKS = 3  # per side

FEATURE = """
from contextlib import asynccontextmanager
from fastapi import APIRouter
from pydantic_settings import SettingsConfigDict
import riso

class S(riso.Settings):
    model_config = SettingsConfigDict(env_prefix="RISO_{upper}_")
    size: int = 5
    name: str = "{name}"

router = APIRouter(prefix="/{name}")

@router.get("/items/{{item_id}}")
async def item(item_id: int) -> dict[str, int]:
    return {{"id": item_id}}

@router.post("/items")
async def create(payload: dict[str, int]) -> dict[str, int]:
    return payload

class M:
    def __init__(self, app, settings):
        self.app = app
    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)

@asynccontextmanager
async def lifespan(app, settings):
    yield None

async def ping(app):
    return None

feature = riso.Feature(
    name="{name}", core=">=0.1,<0.2", settings=S, requires={requires!r},
    routers=[router], middleware=[riso.Middleware(M, "inner")], lifespan=lifespan,
    health_checks=[riso.HealthCheck("{name}:ping", ping)],
)
"""

BASELINE = """
import time, importlib
t0 = time.perf_counter()
import fastapi, riso
t1 = time.perf_counter()
for name in {names!r}:
    importlib.import_module("bench_" + name)
t2 = time.perf_counter()
print(t2 - t1)
"""

SUBJECT = """
import time
import fastapi, riso
t1 = time.perf_counter()
riso.include(fastapi.FastAPI(), only={names!r})
t2 = time.perf_counter()
print(t2 - t1)
"""


def measure(code: str, site: Path) -> list[float]:
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = []
    for _ in range(RUNS):
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        out.append(float(result.stdout.strip()) * 1000)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        names = [f"f{i:02d}" for i in range(FEATURES)]
        for i, name in enumerate(names):
            requires = tuple(names[j] for j in (i - 1, i // 2) if 0 <= j < i and j != i)
            source = FEATURE.format(
                name=name, upper=name.upper(), requires=tuple(sorted(set(requires)))
            )
            write_distribution(
                site / name,
                f"bench-{name}",
                "1.0",
                {f"bench_{name}": source},
                {name: f"bench_{name}:feature"},
            )
        paths = ":".join(str(site / name) for name in names)
        # interleave blocks of runs so machine noise hits both sides alike
        codes = {"baseline": BASELINE.format(names=names), "subject": SUBJECT.format(names=names)}
        runs: dict[str, list[float]] = {side: [] for side in codes}
        for order in interleaved(list(codes), BLOCKS):
            for side in order:
                runs[side] += measure(codes[side], Path(paths))
    baseline = runs["baseline"]
    b, s = statistics.median(baseline), statistics.median(runs["subject"])
    print(f"features: {FEATURES}, runs per side: {len(baseline)}")
    print(f"import the features alone : median {b:7.2f} ms")
    print(f"riso.include (incl. import): median {s:7.2f} ms")
    print(f"added by include           : {s - b:7.2f} ms  (goal < 20 ms)  ratio {s / b:.2f}x")


if __name__ == "__main__":
    main()
