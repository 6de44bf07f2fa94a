"""Per-wall, per-band coefficients for the acoustic integrator: the octave-band values (125 Hz - 8 kHz)
of absorption / scattering extended to the simulation's bands, and the pressure reflection factor in
the log domain."""
from __future__ import annotations

import math

import drjit as dr
import numpy as np


def band_values(v, W, B, mi, host=None):
    """Per-simulation-band lists of per-wall values from (W * 7) Dr.Jit values: the first B bands, or
    linear extrapolation in log2(f) beyond 8 kHz (clipped to [0, 1]) when fs > 32 kHz. Without
    gradients, the values come from ``host`` (the same numbers in NumPy) as Python floats: no device
    reads."""
    if host is not None and not dr.grad_enabled(v):
        h = np.asarray(host, np.float64).reshape(W, 7)
        ext = [h[:, b] if b < 7 else np.clip(h[:, 6] + (b - 6) * (h[:, 6] - h[:, 5]), 0.0, 1.0) for b in range(B)]
        return [[float(x) for x in col] for col in ext]
    cols = []
    for b in range(B):
        if b < 7:
            cols.append([dr.gather(mi.Float64, v, mi.UInt32(w * 7 + b)) for w in range(W)])
        else:
            last = [dr.gather(mi.Float64, v, mi.UInt32(w * 7 + 6)) for w in range(W)]
            prev = [dr.gather(mi.Float64, v, mi.UInt32(w * 7 + 5)) for w in range(W)]
            cols.append([dr.clip(last[w] + (b - 6) * (last[w] - prev[w]), 0.0, 1.0) for w in range(W)])
    return cols


def log_reflection(a):
    """0.5 log(1 - alpha) (pressure reflection factor in the log domain), Dr.Jit, NumPy or a Python float."""
    if isinstance(a, float):
        return 0.5 * math.log(max(1.0 - a, 1e-300))
    if isinstance(a, np.ndarray):
        return 0.5 * np.log(np.maximum(1.0 - a, 1e-300))
    return 0.5 * dr.log(dr.maximum(1.0 - a, 1e-300))
