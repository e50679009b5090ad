#!/usr/bin/env bash
# Security gate, run by .ci/run: bandit over every package's shipped code, ruff's
# security rules (S) over the whole tree, and the dependency policy over uv.lock
# and the declared ranges (no passlib, python-jose, ecdsa; PyJWT >= 2.13).
# Needs the synced workspace (make sync). Any finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.tools/bin/uv}"

echo "security: bandit (medium severity and up, config in pyproject.toml [tool.bandit])"
"$UV" run --no-sync bandit -c pyproject.toml -q -r packages/*/src \
  --severity-level medium --confidence-level medium

echo "security: ruff S rules"
# --select replaces the configured list, so repeat its one S exception (S101)
"$UV" run --no-sync ruff check --select S --ignore S101 --quiet .

echo "security: dependency policy"
"$UV" run --no-sync pytest -q -p no:cacheprovider tests/release/test_dependency_policy.py
