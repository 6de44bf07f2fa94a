#!/usr/bin/env bash
# Penumbra's two commands. On a fresh Debian 12 / Python 3.11 machine:
#   ./dev.sh demo   set up (first time only) and run the main job on the bundled default scene
#   ./dev.sh test   set up (first time only) and run the default test suite
# Extra arguments after the command are passed on (to `penumbra demo` or to pytest).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
cmd="${1:-}"; shift || true
bash scripts/setup.sh
case "$cmd" in
  demo) exec .venv/bin/penumbra demo "$@" ;;
  # Two pytest workers (pytest-xdist), whole test files per worker so that a file's fixtures and
  # finite-difference references are computed once; `./dev.sh test -n 0` runs in one process.
  test) exec .venv/bin/python -m pytest -n "${PENUMBRA_TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  setup) ;;
  *) echo "usage: ./dev.sh {demo|test|setup} [args...]" >&2; exit 2 ;;
esac
