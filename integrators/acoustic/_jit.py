"""Small Dr.Jit helpers shared by the acoustic integrator."""
from __future__ import annotations

from penumbra.renderer.arrays import upload  # noqa: F401  (the acoustic modules import it from here)


def bucket(n: int) -> int:
    """Round a buffer length up to a few sizes per octave (sizes are compiled into scatter kernels)."""
    if n <= 1024:
        return 1024
    p = 1 << (int(n - 1).bit_length() - 1)
    step = p // 4
    return ((n + step - 1) // step) * step
