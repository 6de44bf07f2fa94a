"""Whether the optional compiled host kernels are available (numba, the ``fast`` extra).

The one place that knows about numba: the host kernels of the acoustic engine (image-source tree,
visibility, synthesis, filter bank, ray tail) import :data:`AVAILABLE` and ``numba`` from here, and
the vector rasterizer's (stroke outlines, tile lists; opt-in, ``compiled=True``) are
:class:`host_kernel`\\ s. numba is imported
on first use (reading ``numba`` from this module, or a host kernel's first call): its runtime adds
about 120 MB to the process's resident set (import about 60 MB, the first compiled call another 60
MB). Without numba every caller keeps a NumPy version that gives the same output.
"""
from __future__ import annotations

import importlib.util
import os

#: numba is installed: the compiled kernels can be used
AVAILABLE = importlib.util.find_spec("numba") is not None

#: The vector rasterizer's host stages (tessellation, tile lists) run the numba kernels instead of
#: their NumPy versions (the same arrays). Opt-in: at 2048 paths / 512^2 they save ~0.45 s CPU per
#: call but the numba runtime adds ~120 MB resident. Set it here or with the environment variable
#: ``PENUMBRA_VECTOR_HOST_KERNELS=1``.
vector_host_kernels = os.environ.get("PENUMBRA_VECTOR_HOST_KERNELS", "") == "1"


def use_vector_kernels(compiled, stage: str) -> bool:
    """Whether a vector host stage runs its numba kernels: ``compiled`` if given, else
    :data:`vector_host_kernels`; refused by name without numba."""
    use = vector_host_kernels if compiled is None else bool(compiled)
    if use and not AVAILABLE:
        raise ValueError(f"{stage}: the compiled host kernels need numba (pip install 'penumbra[fast]'), "
                         "or leave compiled / PENUMBRA_VECTOR_HOST_KERNELS unset")
    return use


def __getattr__(name):
    """``numba`` (imported now), or ``None`` without it."""
    if name == "numba":
        if not AVAILABLE:
            return None
        import numba
        return numba
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class host_kernel:
    """``f`` compiled by numba in nopython mode, cached on disk and releasing the GIL
    (``njit(cache=True, nogil=True)``) on its first call; ``py_func`` is ``f`` itself."""

    def __init__(self, f):
        self.py_func = f
        self._compiled = None

    def __call__(self, *args):
        if self._compiled is None:
            import numba
            self._compiled = numba.njit(cache=True, nogil=True)(self.py_func)
        return self._compiled(*args)
