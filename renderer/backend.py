"""Dr.Jit backend and Mitsuba variant selection.

Penumbra runs on Dr.Jit's CUDA backend when a CUDA device is usable and on its LLVM backend
otherwise (``cuda_ad_rgb`` / ``llvm_ad_rgb``). The choice can be overridden with the environment
variable ``PENUMBRA_VARIANT`` or with :func:`set_variant`.

The LLVM backend loads ``libLLVM`` at run time. Mitsuba's kernels need LLVM >= 16 (LLVM 15 aborts
inside instruction selection with "Cannot select: fminimum"; Dr.Jit refuses LLVM 14), and a machine
may have several versions installed. Before Dr.Jit is imported, :func:`configure_libllvm` points
``DRJIT_LIBLLVM_PATH`` at the newest suitable library, and :func:`set_variant` checks the version
that was actually loaded, raising :class:`BackendError` with the fix instead of letting the process
abort inside LLVM.
"""
from __future__ import annotations

import glob
import os
import re

MIN_LLVM = 16
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
             "/usr/local/lib", "/usr/lib/llvm-*/lib", "/opt/homebrew/opt/llvm/lib", "/usr/local/opt/llvm/lib")
_FIX = ("Install libLLVM >= 16 (Debian 12: `apt-get install libllvm19`; Ubuntu: libllvm18; "
        "Fedora: llvm-libs) or point DRJIT_LIBLLVM_PATH at such a libLLVM.so.")


class BackendError(RuntimeError):
    """The requested Dr.Jit backend / Mitsuba variant cannot be used on this machine."""


def _llvm_major(path: str) -> int | None:
    m = re.match(r"libLLVM[-.]?(?:so\.)?(\d+)", os.path.basename(path))
    return int(m.group(1)) if m else None


def find_libllvm() -> list[tuple[int, str]]:
    """All ``libLLVM`` shared libraries found in the usual places, as (major version, path), newest first."""
    found = {}
    for d in _LIB_DIRS:
        for path in glob.glob(os.path.join(d, "libLLVM*.so*")) + glob.glob(os.path.join(d, "libLLVM*.dylib")):
            major = _llvm_major(path)
            if major is not None and os.path.realpath(path) not in found:
                found[os.path.realpath(path)] = (major, path)
    return sorted(found.values(), reverse=True)


def configure_libllvm() -> str | None:
    """Point ``DRJIT_LIBLLVM_PATH`` at the newest libLLVM >= 16 unless the user already chose one.

    Must run before Dr.Jit initialises its LLVM backend (i.e. before ``import drjit``) to have an
    effect; :func:`check_llvm` catches the case where it ran too late.
    """
    if os.environ.get("DRJIT_LIBLLVM_PATH"):
        return os.environ["DRJIT_LIBLLVM_PATH"]
    for major, path in find_libllvm():
        if major >= MIN_LLVM:
            os.environ["DRJIT_LIBLLVM_PATH"] = path
            return path
    return None


def llvm_version() -> tuple[int, int, int] | None:
    """Version of the libLLVM that Dr.Jit loaded, or None when its LLVM backend is inactive."""
    import drjit as dr
    if not dr.has_backend(dr.JitBackend.LLVM):
        return None
    v = tuple(dr.detail.llvm_version())
    return v if v[0] > 0 else None


def check_llvm() -> tuple[int, int, int]:
    """Raise :class:`BackendError` unless Dr.Jit's LLVM backend is active with LLVM >= 16."""
    v = llvm_version()
    if v is None:
        raise BackendError("Dr.Jit's LLVM backend is inactive: no libLLVM shared library could be loaded. " + _FIX)
    if v[0] < MIN_LLVM:
        where = os.environ.get("DRJIT_LIBLLVM_PATH", "the system default")
        raise BackendError(f"Dr.Jit loaded LLVM {'.'.join(map(str, v))} ({where}); Mitsuba's kernels need "
                           f"LLVM >= {MIN_LLVM} (LLVM 15 crashes with 'Cannot select: fminimum'). " + _FIX +
                           " If a newer libLLVM is installed, import penumbra (or renderer) before drjit so "
                           "that it can be selected.")
    return v


def cuda_available() -> bool:
    """True when Dr.Jit can use a CUDA device."""
    import drjit as dr
    try:
        return bool(dr.has_backend(dr.JitBackend.CUDA))
    except Exception:  # pragma: no cover - driver problems
        return False


def default_variant() -> str:
    """``PENUMBRA_VARIANT`` if set, else ``cuda_ad_rgb`` when CUDA is usable, else ``llvm_ad_rgb``."""
    env = os.environ.get("PENUMBRA_VARIANT")
    if env:
        return env
    return "cuda_ad_rgb" if cuda_available() else "llvm_ad_rgb"


def set_variant(name: str | None = None) -> str:
    """Select the Mitsuba variant (and hence the Dr.Jit backend) used by Penumbra.

    ``name=None`` picks :func:`default_variant`. Raises :class:`BackendError` for an unknown or
    unusable variant, naming the alternatives.
    """
    import mitsuba as mi
    name = name or default_variant()
    available = mi.variants()
    if name not in available:
        raise BackendError(f"unknown Mitsuba variant {name!r} (from PENUMBRA_VARIANT or set_variant); "
                           f"available: {', '.join(available)}")
    if "_ad_" not in name:
        raise BackendError(f"variant {name!r} is not differentiable; Penumbra needs an '*_ad_*' variant "
                           "such as 'llvm_ad_rgb' or 'cuda_ad_rgb'")
    if name.startswith("llvm"):
        check_llvm()
    elif name.startswith("cuda") and not cuda_available():
        raise BackendError(f"variant {name!r} needs a CUDA device, and Dr.Jit found none; use 'llvm_ad_rgb'")
    if mi.variant() != name:
        mi.set_variant(name)
    return name


def ensure_variant() -> str:
    """Select the default variant if none is active yet; return the active one."""
    import mitsuba as mi
    return mi.variant() or set_variant()


def variant() -> str | None:
    import mitsuba as mi
    return mi.variant()


def is_cuda() -> bool:
    return (variant() or "").startswith("cuda")
