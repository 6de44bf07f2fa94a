"""Small Dr.Jit helpers shared by the acoustic integrator."""
from __future__ import annotations

import numpy as np


def upload(tp, a):
    """A Dr.Jit array of type ``tp`` from NumPy data placed at a 128-byte aligned address. Dr.Jit maps
    host arrays without copying and compiles the alignment it sees into the kernel, so unaligned
    NumPy buffers would make otherwise identical kernels miss the kernel cache."""
    a = np.ascontiguousarray(a)
    buf = np.empty(a.size * a.itemsize + 256, dtype=np.uint8)
    off = (-buf.ctypes.data) % 128
    out = buf[off:off + a.size * a.itemsize].view(a.dtype)
    out[:] = a.reshape(-1)
    return tp(out)


def bucket(n: int) -> int:
    """Round a buffer length up to a few sizes per octave (sizes are compiled into scatter kernels)."""
    if n <= 1024:
        return 1024
    p = 1 << (int(n - 1).bit_length() - 1)
    step = p // 4
    return ((n + step - 1) // step) * step
