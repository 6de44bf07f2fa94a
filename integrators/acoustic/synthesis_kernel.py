"""The fractional-delay synthesis of :mod:`.synthesis` on the host (numba, NumPy fallback), for RIRs
that are not differentiated: no Dr.Jit kernel is traced or launched.

The same sums as :func:`.synthesis.synthesize` (the Dr.Jit ``_SynthOp``): an arrival at sample ``s``
adds ``a_b w_k`` to sample ``floor(s) - taps // 2 + k`` of band b (k = 0 .. taps-1), with the same
kernels and constants:

* ``hann_sinc``: ``w_k = win(t) sinc(t)``, ``t = k - taps // 2 - frac``, ``sinc(t) = 1 - (pi t)^2 / 6``
  for |t| < 1e-6, ``win(t) = 0.5 + 0.5 cos(2 pi t / (taps - 1))`` for |t| <= taps // 2, else 0;
* ``sinc_lut``: linear interpolation in :func:`.synthesis.windowed_table` (the Hann window times
  pyroomacoustics' sinc table) at ``x = (1 - frac) g``.

Arithmetic is in the precision of the Dr.Jit path (float32 for ``delay_precision="float32"``, as
pyroomacoustics' builder) and each output sample sums its arrivals in the same order (arrivals sorted
by ``floor(s)``, stable), so both paths agree to rounding (Dr.Jit's own sin/cos differ from libm's by
a few ulp). numba is optional (the ``fast`` extra, :data:`penumbra.renderer.compiled.AVAILABLE`); without it a
vectorised NumPy version accumulates in float64 (same values to float32 rounding).
"""
from __future__ import annotations

import functools

import numpy as np

from .synthesis import windowed_table
from penumbra.renderer.compiled import AVAILABLE, numba


def _accumulate(amps, i, base, w, out):
    """``out[b, base + k] += amps[b, i] * w[k]`` for every band b and tap k."""
    for b in range(amps.shape[0]):
        ab = amps[b, i]
        row = out[b, base:base + w.shape[0]]
        for k in range(w.shape[0]):
            row[k] += ab * w[k]


def _synth_table(s, amps, table, c, taps, g, out):
    """``sinc_lut`` kernel: ``out[b, n] += amps[b, i] * w`` over the arrivals i in the given order;
    ``table`` is the flattened (taps, g + 2) windowed table and ``c`` the constants (1, g) in the
    output's precision."""
    half = taps // 2
    w = np.empty(taps, out.dtype)
    for i in range(s.shape[0]):
        fl = np.floor(s[i])
        frac = s[i] - fl
        x = (c[0] - frac) * c[1]
        off = np.floor(x)
        x_off = x - off
        o = int(off)
        for k in range(taps):
            p = o + k * (g + 2)
            t0 = table[p]
            w[k] = t0 + x_off * (table[p + 1] - t0)
        _accumulate(amps, i, int(fl) - half, w, out)


def _synth_hann(s, amps, koff, c, taps, out):
    """``hann_sinc`` kernel (see the module docstring); ``koff`` holds k - taps // 2 and ``c`` the
    constants (pi, 1, 6, 0.5, 2 pi / (taps - 1), 1e-6, taps // 2, 0) in the output's precision."""
    half = taps // 2
    w = np.empty(taps, out.dtype)
    for i in range(s.shape[0]):
        fl = np.floor(s[i])
        frac = s[i] - fl
        for k in range(taps):
            t = koff[k] - frac
            pt = c[0] * t
            if abs(t) < c[5]:
                sinc = c[1] - pt * pt / c[2]
            else:
                sinc = np.sin(pt) / pt
            w[k] = (c[3] + c[3] * np.cos(c[4] * t)) * sinc if abs(t) <= c[6] else c[7]
        _accumulate(amps, i, int(fl) - half, w, out)


if AVAILABLE:
    _accumulate = numba.njit(cache=True, nogil=True, inline="always")(_accumulate)
    _synth_table = numba.njit(cache=True, nogil=True)(_synth_table)
    _synth_hann = numba.njit(cache=True, nogil=True)(_synth_hann)


def _weights_np(s, taps, conv, real):
    """(M, taps) kernel weights in NumPy (the fallback), in precision ``real``."""
    half = taps // 2
    fl = np.floor(s)
    frac = s - fl
    k = np.arange(taps)
    if conv.kernel == "sinc_lut":
        g = conv.lut_granularity
        table = windowed_table(taps, g, conv.delay_precision).astype(real).ravel()
        x = (real(1.0) - frac) * real(g)
        off = np.floor(x)
        p = off.astype(np.int64)[:, None] + k[None, :] * (g + 2)
        t0 = table[p]
        return t0 + (x - off)[:, None] * (table[p + 1] - t0)
    t = (k[None, :] - half).astype(real) - frac[:, None]
    pt = real(np.pi) * t
    small = np.abs(t) < real(1e-6)
    sinc = np.where(small, real(1.0) - pt * pt / real(6.0), np.sin(pt) / np.where(small, real(1.0), pt))
    win = np.where(np.abs(t) <= half, real(0.5) + real(0.5) * np.cos(real(2.0 * np.pi / (taps - 1)) * t), real(0.0))
    return (win * sinc).astype(real)


@functools.lru_cache(maxsize=8)
def flat_table(taps: int, g: int, precision: str) -> np.ndarray:
    """:func:`.synthesis.windowed_table` flattened, contiguous, in the synthesis precision (read-only:
    shared by the calls with the same kernel)."""
    real = np.float32 if precision == "float32" else np.float64
    t = np.ascontiguousarray(windowed_table(taps, g, precision).astype(real).ravel())
    t.flags.writeable = False
    return t


def synthesize(sample: np.ndarray, amps: np.ndarray, N: int, conv, compiled: bool | None = None) -> np.ndarray:
    """(B, N) float64 per-band RIRs from arrival positions ``sample`` (M,) and amplitudes ``amps`` (B, M),
    NumPy, already in the synthesis precision (float32 for ``delay_precision="float32"``, see
    :func:`.synthesis.prepare`). Arrivals must satisfy taps//2 <= sample < N - taps//2 - 1 (as for
    :func:`.synthesis.synthesize`). ``compiled``: None uses numba when installed, False the NumPy
    version, True requires numba."""
    if conv.kernel not in ("hann_sinc", "sinc_lut"):
        raise ValueError(f"the host synthesis takes the time-domain kernels 'hann_sinc' and 'sinc_lut', "
                         f"got {conv.kernel!r}")
    if compiled and not AVAILABLE:
        raise RuntimeError("the compiled synthesis needs numba (pip install 'penumbra[fast]')")
    real = np.float32 if conv.delay_precision == "float32" else np.float64
    sample = np.asarray(sample, real).reshape(-1)
    amps = np.asarray(amps, real).reshape(-1, len(sample))
    taps = conv.taps
    perm = np.argsort(np.floor(sample).astype(np.int64), kind="stable")
    s, a = np.ascontiguousarray(sample[perm]), np.ascontiguousarray(amps[:, perm])
    B = a.shape[0]
    if AVAILABLE if compiled is None else compiled:
        out = np.zeros((B, N), real)
        if conv.kernel == "sinc_lut":
            table = flat_table(taps, conv.lut_granularity, conv.delay_precision)
            _synth_table(s, a, table, np.array([1.0, conv.lut_granularity], real), taps, conv.lut_granularity, out)
        else:
            c = np.array([np.pi, 1.0, 6.0, 0.5, 2.0 * np.pi / (taps - 1), 1e-6, taps // 2, 0.0], real)
            _synth_hann(s, a, (np.arange(taps) - taps // 2).astype(real), c, taps, out)
        return out.astype(np.float64)
    w = _weights_np(s, taps, conv, real)
    idx = (np.floor(s).astype(np.int64) - taps // 2)[:, None] + np.arange(taps)[None, :]
    out = np.empty((B, N))
    for b in range(B):
        out[b] = np.bincount(idx.ravel(), weights=(a[b][:, None] * w).ravel().astype(np.float64), minlength=N)[:N]
    return out.astype(real).astype(np.float64)
