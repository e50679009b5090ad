# Two commands matter: `make run` (the starter on 127.0.0.1:8000, embedded
# defaults) and `make test` (the whole suite). Both bootstrap their tools:
# only Python 3.11+, pip, git and make are assumed.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := uv>=0.9,<0.14

.PHONY: run test lint sync audit clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "$(UV_VERSION)"

sync: $(UV)
	$(UV) sync --all-packages --locked

# Migrations first: the starter's tables (and every feature's) must exist.
run: sync
	$(UV) run --no-sync riso db upgrade
	$(UV) run --no-sync uvicorn starter.main:app --host 127.0.0.1 --port 8000

# The suite runs on TEST_WORKERS pytest-xdist workers (most tests wait on real
# servers and subprocesses); `make test TEST_WORKERS=0` runs it in one process.
# loadgroup keeps the folders conftest.py's XDIST_GROUPS names on one worker.
TEST_WORKERS ?= 2

test: sync
	$(UV) run --no-sync pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: sync
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy

audit: sync
	bash scripts/audit.sh

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache
