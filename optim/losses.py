"""Image / signal losses on Dr.Jit arrays; each returns a scalar (width-1) Dr.Jit value."""
from __future__ import annotations

import drjit as dr


def mse(x, y):
    """Mean squared error."""
    return dr.mean(dr.square(x - y), axis=None)


def l1(x, y):
    """Mean absolute error."""
    return dr.mean(dr.abs(x - y), axis=None)


def relative_mse(x, y, eps: float = 1e-2):
    """Squared error relative to the target's magnitude (robust to HDR highlights)."""
    return dr.mean(dr.square(x - y) / (dr.square(dr.detach(y)) + eps), axis=None)
