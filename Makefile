# Two commands matter: `make run` (the starter on 127.0.0.1:8000, embedded
# defaults) and `make test` (the whole suite). Both bootstrap their tools:
# only Python 3.11+, pip, git and make are assumed.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := uv>=0.9,<0.14

.PHONY: run test lint sync audit clean docs

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "$(UV_VERSION)"

sync: $(UV)
	$(UV) sync --all-packages --locked

# Migrations first: the starter's tables (and every feature's) must exist.
# riso serve is uvicorn with riso's production limits (the app: [tool.riso] app).
run: sync
	$(UV) run --no-sync riso db upgrade
	$(UV) run --no-sync riso serve --host 127.0.0.1 --port 8000

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

# The documentation site into site/; --strict: a broken link, anchor or nav
# entry fails. The settings reference is generated from the settings models.
docs: sync
	NO_MKDOCS_2_WARNING=1 $(UV) run --no-sync mkdocs build --strict --site-dir site

audit: sync
	bash scripts/audit.sh

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache site

# What a user gets who upgrades riso's dependencies on their own: the newest
# release of each inside the declared ranges (uv.lock ignored) in a throwaway
# venv, every package editable with every extra, plus the dev tools. It prints
# what differs from uv.lock, then runs the tests of the private APIs riso uses
# (each package's test_compat.py) and the suites of the packages using them.
# Not part of .ci/run (the index moves under it): a weekly workflow runs it.
LATEST := $(TOOLS)/latest
LATEST_PACKAGES := $(sort $(dir $(wildcard packages/*/pyproject.toml))) starter/
LATEST_TESTS := $(wildcard packages/*/tests/test_compat.py) \
	packages/riso-tasks packages/riso-obs packages/riso-db

# The locked requirements (read on stdin) that apply to this Python and platform.
define LOCKED_HERE
import sys
from packaging.requirements import Requirement
for line in filter(None, map(str.strip, sys.stdin)):
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate():
        print(f"{req.name}{req.specifier}")
endef
export LOCKED_HERE

.PHONY: test-latest
test-latest: SHELL := /bin/bash
test-latest: .SHELLFLAGS := -o pipefail -c
test-latest: $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --resolution highest \
		$(foreach p,$(LATEST_PACKAGES),-e $(p) -r $(p)pyproject.toml) --all-extras --group dev
	$(UV) export --quiet --locked --all-packages --all-extras --no-emit-workspace --no-hashes \
		--no-header --no-annotate --format requirements-txt \
		| $(LATEST)/bin/python -c "$$LOCKED_HERE" | sort > $(LATEST)/locked.txt
	$(UV) pip freeze --quiet --python $(LATEST)/bin/python --exclude-editable \
		| sort > $(LATEST)/installed.txt
	@echo "test-latest: versions that differ from uv.lock (-locked +installed):"
	@if cmp -s $(LATEST)/locked.txt $(LATEST)/installed.txt; then echo "  none"; else \
		diff $(LATEST)/locked.txt $(LATEST)/installed.txt | sed -n 's/^< /-/p; s/^> /+/p' || true; fi
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS) $(LATEST_TESTS)
