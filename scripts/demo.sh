#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default: the whole loop on
# photos that ship with the install. Extra arguments go to `boxprompt demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
boxprompt demo "$@"
