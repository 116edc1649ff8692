#!/usr/bin/env bash
# Prepare this machine for Corral: system packages (scripts/setup-host.sh) and the Python
# environment in .venv with Corral and its development tools. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (sandboxes need namespaces, cgroups and mounts)" >&2
  exit 1
fi

if [ -x scripts/setup-host.sh ]; then
  say "system packages and host preparation"
  scripts/setup-host.sh
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "bootstrap: Python >= 3.11 is required (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.corral-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing Corral and its development dependencies into .venv"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[server,dev]'
  touch "$stamp"
fi
say "bootstrap done"
