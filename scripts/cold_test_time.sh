#!/usr/bin/env bash
# Time the README's test command as a fresh machine sees it: a fresh clone of this checkout's HEAD,
# an empty Dr.Jit kernel cache (DRJIT_CACHE_DIR) and no finite-difference cache.
#   scripts/cold_test_time.sh              set-up included (creates the clone's .venv from PyPI)
#   scripts/cold_test_time.sh --reuse-venv copy this checkout's .venv (times the tests alone)
# Run it on an otherwise idle machine: the suite is CPU-bound.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"; clone="$work/penumbra"; cache="$work/drjit-cache"
mkdir -p "$cache"
git clone -q "$here" "$clone"
if [ "${1:-}" = "--reuse-venv" ]; then
  cp -a "$here/.venv" "$clone/.venv"
  (cd "$clone" && .venv/bin/python -m pip install -q --no-deps -e . >/dev/null 2>&1)
  sha256sum "$clone/pyproject.toml" | cut -d' ' -f1 > "$clone/.venv/.penumbra-installed"
  for f in "$clone"/.venv/bin/*; do   # console scripts point at the copied interpreter
    head -c 2 "$f" 2>/dev/null | grep -q '#!' && sed -i "1s|^#!.*python.*|#!$clone/.venv/bin/python|" "$f" || true
  done
fi
echo "clone: $clone (commit $(git -C "$clone" rev-parse --short HEAD)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$clone"
start=$(date +%s)
DRJIT_CACHE_DIR="$cache" ./dev.sh test --durations=20
echo "cold test command: $(( $(date +%s) - start )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
