"""Octave-band filter bank and RIR high-pass filter (NumPy, wrapped as exact linear operators).

Filter bank: J. Antoni, "Orthogonal-like fractional-octave-band filters", JASA 127(2), 2010, with the
parameters pyroomacoustics 0.10.1 uses (band overlap ratio 0.5, slope 0, base 125 Hz, bands
125 * 2^b for b < floor(log2(fs / 125)), first band extended to DC and last band to Nyquist). The
bank's power-complementary windows G_b satisfy sum_b G_b(f)^2 = 1 (perfect reconstruction). Filtering
a length-N signal through band b is ``irfft(rfft(x, n) * G_b^2, n)[:N]`` with n = 2^ceil(log2(2 N))
(zero phase, identical to pyroomacoustics' wavelet analysis + synthesis of one band; checked in tests).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .linear_ops import linear_op
from penumbra.renderer.compiled import AVAILABLE, numba


def band_centers(fs: float, base: float = 125.0) -> np.ndarray:
    n = int(math.floor(math.log2(fs / base)))
    return base * 2.0 ** np.arange(n)


@functools.lru_cache(maxsize=32)
def antoni_windows(n_fft: int, fs: float, base: float = 125.0, overlap: float = 0.5, slope: int = 0) -> np.ndarray:
    """(B, n_fft // 2 + 1) power-complementary band windows G_b on the rfft grid."""
    centers = band_centers(fs, base)
    lo, hi = centers / math.sqrt(2), centers * math.sqrt(2)
    n_freq = n_fft // 2 + 1
    k1 = np.round(lo / fs * n_fft).astype(int)
    km = np.round(centers / fs * n_fft).astype(int)
    k2 = np.round(hi / fs * n_fft).astype(int)
    G = np.ones((len(centers), n_freq))
    P = np.round(overlap * (k2 - km)).astype(int)   # before the end corrections, as in the reference
    k1[0], k2[-1] = 0, n_freq
    for b in range(1, len(centers)):
        if P[b] > 0:
            p = np.arange(-P[b], P[b] + 1)
            phi = p / P[b]
            for _ in range(slope):
                phi = np.sin(np.pi / 2 * phi)
            phi = 0.5 * (phi + 1)
            G[b - 1, k1[b] - P[b]:k1[b] + P[b] + 1] = np.cos(np.pi / 2 * phi)
            G[b, k1[b] - P[b]:k1[b] + P[b] + 1] = np.sin(np.pi / 2 * phi)
        G[b - 1, k1[b] + P[b]:] = 0.0
        G[b, :k1[b] - P[b]] = 0.0
    return G


def _fft_len(N):
    return 2 ** int(math.ceil(math.log2(2 * N)))


def band_filter_np(x: np.ndarray, fs: float, bands=None) -> np.ndarray:
    """(B, N) band signals of ``x`` (N,), or of each row of ``x`` (B, N) through its own band."""
    x = np.asarray(x, np.float64)
    N = x.shape[-1]
    n = _fft_len(N)
    G2 = antoni_windows(n, fs) ** 2
    if bands is not None:
        G2 = G2[bands]
    X = np.fft.rfft(x, n=n, axis=-1)
    return np.fft.irfft(X * G2, n=n, axis=-1)[..., :N]


def combine_bands(x_bands, fs: float, N: int, Npad: int | None = None):
    """Dr.Jit: flat band-major array (B * Npad) of per-band signals -> (N) sum_b filter_b(x_b[:N]). Each
    band filter is self-adjoint (real, even frequency response), so the adjoint is broadcast -> filter."""
    B = len(band_centers(fs))
    Npad = N if Npad is None else Npad

    def apply(v):
        return band_filter_np(v.reshape(B, Npad)[:, :N], fs).sum(axis=0)

    def adjoint(w):
        out = np.zeros((B, Npad))
        out[:, :N] = band_filter_np(np.broadcast_to(w, (B, N)), fs)
        return out.reshape(-1)

    return linear_op(x_bands, apply, adjoint)


def crop(x, N: int, Npad: int):
    """Dr.Jit: the first N of Npad samples (adjoint: zero padding)."""
    def adjoint(w):
        out = np.zeros(Npad)
        out[:N] = w
        return out
    return linear_op(x, lambda v: v[:N].copy(), adjoint)


def split_bands(x, fs: float, N: int):
    """Dr.Jit: (N) signal -> flat band-major (B * N) octave-band signals (adjoint: the sum of band filters)."""
    B = len(band_centers(fs))

    def apply(v):
        return band_filter_np(np.broadcast_to(v, (B, N)), fs).reshape(-1)

    def adjoint(w):
        return band_filter_np(w.reshape(B, N), fs).sum(axis=0)

    return linear_op(x, apply, adjoint)


# ---------------------------------------------------------------------------------------------
# Zero-phase IIR high-pass (scipy.signal.sosfiltfilt, odd padding) and its exact adjoint

@functools.lru_cache(maxsize=8)
def highpass_sos(fs: float, cutoff: float, order: int):
    from scipy.signal import butter
    return butter(order, cutoff, btype="highpass", fs=fs, output="sos")


@functools.lru_cache(maxsize=8)
def _steady_state(key):
    """(default pad length, steady-state initial conditions) of scipy's sosfiltfilt for one filter."""
    from scipy.signal import sosfilt_zi
    sos = np.frombuffer(key, np.float64).reshape(-1, 6)
    n_sec = sos.shape[0]
    padlen = 3 * (2 * n_sec + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    return padlen, sosfilt_zi(sos)


def _filtfilt_parts(sos, N):
    padlen, zi = _steady_state(np.ascontiguousarray(sos, np.float64).tobytes())
    if N <= padlen:
        raise ValueError(f"signal of {N} samples is too short for the high-pass (needs > {padlen})")
    return padlen, zi


def _sosfilt(sos, x, zi):
    """scipy's ``sosfilt(sos, x, zi=zi)[0]`` (second-order sections, transposed direct form II, the same
    operations in the same order as scipy's C loop); ``zi`` is updated in place."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        cur = x[n]
        for s in range(sos.shape[0]):
            new = sos[s, 0] * cur + zi[s, 0]
            zi[s, 0] = sos[s, 1] * cur - sos[s, 4] * new + zi[s, 1]
            zi[s, 1] = sos[s, 2] * cur - sos[s, 5] * new
            cur = new
        y[n] = cur
    return y


if AVAILABLE:
    _sosfilt = numba.njit(cache=True, nogil=True)(_sosfilt)


def sosfiltfilt_np(sos, x):
    """``scipy.signal.sosfiltfilt(sos, x)`` (odd extension, default pad length) with the filter's steady
    state computed once: extend, filter forward from zi * x[0], filter the reversed result, crop. With
    numba the two passes run in the compiled :func:`_sosfilt` (no per-call argument checks)."""
    x = np.asarray(x, np.float64)
    p, zi = _filtfilt_parts(sos, x.shape[-1])
    ext = np.concatenate([2.0 * x[0] - x[p:0:-1], x, 2.0 * x[-1] - x[-2:-p - 2:-1]])
    if AVAILABLE:
        sos = np.ascontiguousarray(sos, np.float64)
        y = _sosfilt(sos, ext, zi * ext[0])[::-1].copy()
        y = _sosfilt(sos, y, zi * y[0])[::-1]
        return y[p:len(y) - p].copy()
    from scipy.signal import sosfilt
    y = sosfilt(sos, ext, zi=zi * ext[0])[0][::-1]
    y = sosfilt(sos, y, zi=zi * y[0])[0][::-1]
    return y[p:len(y) - p].copy()


def sosfiltfilt_adjoint_np(sos, g):
    """Exact adjoint of ``scipy.signal.sosfiltfilt(sos, x)`` (padtype 'odd', default padlen).

    sosfiltfilt = crop . reverse . F_zi . reverse . F_zi . odd_ext, where F_zi(u) = T u + r u[0] (T: causal
    filtering from rest, r: zero-input response from the steady state zi). All stages are linear, so the
    adjoint chains their transposes: T^T = reverse . T . reverse, and the u[0] term adds (r . g)."""
    from scipy.signal import sosfilt
    g = np.asarray(g, np.float64)
    N = g.shape[-1]
    p, zi = _filtfilt_parts(sos, N)
    M = N + 2 * p
    r = sosfilt(sos, np.zeros(M), zi=zi)[0]

    def F_T(gy):
        gu = sosfilt(sos, gy[::-1])[::-1]
        gu[0] += np.dot(r, gy)
        return gu

    gy2r = np.zeros(M)
    gy2r[p:p + N] = g                       # crop^T
    gy2 = gy2r[::-1]                        # reverse^T
    gu = F_T(gy2)                           # second pass (input: reversed first-pass output)
    gy1 = gu[::-1]
    ge = F_T(gy1)                           # first pass (input: extended signal)
    gx = ge[p:p + N].copy()                 # odd extension^T
    left, right = ge[:p], ge[p + N:]
    gx[0] += 2 * left.sum()
    gx[1:p + 1] -= left[::-1]
    gx[-1] += 2 * right.sum()
    gx[N - p - 1:N - 1] -= right[::-1]
    return gx


def highpass(x, fs: float, cutoff: float, order: int):
    """Dr.Jit: zero-phase Butterworth high-pass of ``x`` (pyroomacoustics' RIR high-pass)."""
    sos = highpass_sos(fs, cutoff, order)
    return linear_op(x, lambda v: sosfiltfilt_np(sos, v), lambda w: sosfiltfilt_adjoint_np(sos, w))
