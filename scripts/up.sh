#!/usr/bin/env bash
# The set-up-and-run command of README.md: prepare the host, then run the whole platform
# (`corral up`: orchestrator, API and proxy with embedded defaults). Options go to `corral up`,
# e.g. `scripts/up.sh --runtime crun`. Ctrl-C stops it; sandboxes are kept for the next start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/corral up "$@"
