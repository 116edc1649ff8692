#!/usr/bin/env bash
# The test command of README.md (and of CI's .ci/run): prepares the machine if needed, then
# runs the linters, the type checker and the whole test suite against real components.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast set.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

echo "==> ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "==> mypy (strict, src/)"
.venv/bin/mypy
echo "==> pytest"
set +e
.venv/bin/pytest -ra "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure of the suite, not a pass" >&2
  exit 1
fi
exit "$rc"
