"""Whether the optional compiled host kernels are available (numba, the ``fast`` extra).

The one place that imports numba: the host kernels of the acoustic engine (image-source tree,
visibility, synthesis, filter bank, ray tail) and of the vector rasterizer (stroke outlines, tile
lists) import :data:`AVAILABLE` and :data:`numba` from here, and :func:`host_kernel` compiles a
kernel with the options they share. Without numba every caller keeps a NumPy version that gives the
same output.
"""
from __future__ import annotations

try:
    import numba
except ImportError:       # optional dependency: the callers' NumPy versions are used instead
    numba = None

#: numba imported: the compiled kernels can be used
AVAILABLE = numba is not None


def host_kernel(f):
    """``f`` compiled by numba in nopython mode, cached on disk and releasing the GIL
    (``njit(cache=True, nogil=True)``); ``f`` itself (plain Python) without numba."""
    return numba.njit(cache=True, nogil=True)(f) if AVAILABLE else f
