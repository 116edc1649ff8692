#!/usr/bin/env bash
# The set-up-and-run command of README.md: prepare the host, then run the platform.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
echo "==> starting envd on :${CORRAL_ENVD_PORT:-49983} (Ctrl-C stops it)"
exec .venv/bin/corral envd "$@"
