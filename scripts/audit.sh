#!/usr/bin/env bash
# Known-vulnerability audit of every locked third-party dependency with pip-audit.
# Needs internet access to the vulnerability service (PyPI's JSON API by default,
# or OSV with `scripts/audit.sh --vulnerability-service osv`), so CI does not run it.
# pip-audit is installed into .tools (never into the workspace venv); extra
# arguments are passed to pip-audit.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
PIP_AUDIT_VERSION="pip-audit>=2.7,<3"

if [ ! -x "$TOOLS/bin/pip-audit" ]; then
  [ -x "$TOOLS/bin/python" ] || "${PYTHON:-python3}" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet "$PIP_AUDIT_VERSION"
fi

requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
# Every package's runtime and extra dependencies as locked, hashed; workspace
# packages themselves are not on the index, so they are left out.
"$TOOLS/bin/uv" export --locked --all-packages --all-extras --no-dev --no-emit-workspace \
  --format requirements-txt --quiet --output-file "$requirements"
"$TOOLS/bin/pip-audit" --disable-pip --requirement "$requirements" --progress-spinner off --strict "$@"
