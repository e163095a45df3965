#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
echo "[test] ruff"
ruff check .
ruff format --check .
echo "[test] mypy"
mypy
echo "[test] pytest"
python -m pytest -q -n 2 --dist loadfile "$@"
