"""Room-acoustic metrics of impulse responses (ISO 3382-1:2009, IEC 60268-16:2020), differentiable.

Every function accepts a NumPy array or a Dr.Jit float64 array ``h`` (pressure RIR sampled at ``fs``)
and returns a Dr.Jit ``Float64`` of width 1 (or one value per band with ``band="all"``) that is attached
to the AD graph of ``h``. Use :func:`metrics_table` for plain numbers.

* Energy decay curve (Schroeder backward integration): e(t) = sum_{tau >= t} h^2(tau).
* Decay times EDT (0 .. -10 dB, evaluated as pyrato: -0.1 .. -10.1), T20 (-5 .. -25 dB), T30 (-5 .. -35 dB):
  least-squares line through 10 log10(e / e(0)) over the samples between the points nearest to the two
  levels (the range is chosen on the primal values, as pyrato 1.1.0 does), T = -60 / slope. The
  ``smooth=True`` variant weights every sample by sigmoid((L - lower) / tau) sigmoid((upper - L) / tau) (tau
  in dB), so that the derivative also sees the range boundaries move; it converges to the hard version
  as tau -> 0.
* Clarity C50 / C80 = 10 log10((e(0) - e(te)) / e(te)), definition D50 = (e(0) - e(te)) / e(0), centre time
  Ts = trapezoid(e) / (fs e(0)), with e(te) at the sample nearest to te (pyrato's convention).
* ``onset``: ``"iso"`` (default) starts the IR at the first sample within 20 dB of the peak (ISO 3382-1,
  A.3.4), ``"start"`` uses the first sample as t = 0.
* STI (IEC 60268-16, indirect method from the RIR): per octave band the modulation transfer function
  m(F) = |sum h_b^2 e^{-2 pi i F t}| / sum h_b^2 at 14 modulation frequencies, apparent SNR
  10 log10(m / (1 - m)) clipped to [-15, 15] dB, transmission index (SNR + 15) / 30, band weights alpha
  and redundancy beta; optional ambient-noise, auditory-masking and reception-threshold corrections
  (IEC 60268-16:2020, A.2.3-A.2.4, A.4) when the signal level is given. ``smooth=True`` replaces the
  clip by a softplus-based soft clip (differentiable everywhere). Band signals come from the
  energy-preserving Antoni octave filter bank (pyrato uses pyfar's Butterworth octave filters; the two
  agree to within the tolerance of the tests).
"""
from __future__ import annotations

import math

import drjit as dr
import numpy as np

from penumbra.renderer import checks

from . import filterbank
from .linear_ops import reverse_cumsum

STI_ALPHA = np.array([0.085, 0.127, 0.230, 0.233, 0.309, 0.224, 0.173])
STI_BETA = np.array([0.085, 0.078, 0.065, 0.011, 0.047, 0.095])
STI_THRESHOLD_DB = np.array([46.0, 27.0, 12.0, 6.5, 7.5, 8.0, 12.0])   # absolute reception threshold A_k
STI_FM = np.array([0.63, 0.80, 1.0, 1.25, 1.60, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0, 10.0, 12.5])
DECAY_RANGES = {"EDT": (-0.1, -10.1), "T20": (-5.0, -25.0), "T30": (-5.0, -35.0)}


def _mi():
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    ensure_variant()
    return mi


def _as_dr(h):
    mi = _mi()
    if isinstance(h, mi.Float64):
        return h
    if isinstance(h, dr.ArrayBase):
        return mi.Float64(h)
    a = np.asarray(h, np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError("impulse response contains NaN/Inf")
    return mi.Float64(a)


def _np(x):
    return np.array(dr.detach(x), dtype=np.float64)


def _slice(x, start: int, stop: int | None = None):
    mi = _mi()
    n = dr.width(x)
    stop = n if stop is None else stop
    if start == 0 and stop == n:
        return x
    return dr.gather(mi.Float64, x, dr.arange(mi.UInt32, start, stop))


def onset_index(h, threshold_db: float = -20.0) -> int:
    """First sample whose energy is within |threshold_db| of the peak (ISO 3382-1, A.3.4)."""
    e = _np(h) ** 2
    if not np.any(e > 0):
        raise ValueError("impulse response is all zeros")
    return int(np.argmax(e >= e.max() * 10 ** (threshold_db / 10)))


def _prepare(h, fs, onset):
    h = _as_dr(h)
    if onset == "iso":
        h = _slice(h, onset_index(h))
    elif onset != "start":
        raise ValueError(f"onset must be 'iso' or 'start', got {onset!r}")
    return h


def band_signals(h, fs: int) -> list:
    """Octave-band signals (Dr.Jit, differentiable) of ``h``: list of B arrays, bands 125 * 2^b Hz."""
    h = _as_dr(h)
    N = dr.width(h)
    B = len(filterbank.band_centers(fs))
    flat = filterbank.split_bands(h, fs, N)
    return [_slice(flat, b * N, (b + 1) * N) for b in range(B)]


def energy_decay_curve(h, fs: int = None, onset: str = "start"):
    """Schroeder backward integral e[n] = sum_{m >= n} h[m]^2 (Dr.Jit Float64, not normalised)."""
    h = _prepare(h, fs, onset)
    return reverse_cumsum(h * h)


def _per_band(fn, h, fs, band, **kw):
    mi = _mi()
    if band is None:
        return fn(_as_dr(h), fs, **kw)
    bands = band_signals(h, fs)
    if band == "all":
        vals = [fn(b, fs, **kw) for b in bands]
        out = dr.zeros(mi.Float64, len(vals))
        for i, v in enumerate(vals):
            dr.scatter(out, v, mi.UInt32(i))
        return out
    return fn(bands[int(band)], fs, **kw)


def _decay(h, fs, kind, smooth, tau, onset):
    mi = _mi()
    if kind not in DECAY_RANGES:
        raise ValueError(f"decay time kind must be one of {list(DECAY_RANGES)}, got {kind!r}")
    upper, lower = DECAY_RANGES[kind]
    e = energy_decay_curve(h, fs, onset)
    e_np = _np(e)
    if e_np[0] <= 0:
        raise ValueError("impulse response has no energy")
    e0 = dr.gather(mi.Float64, e, mi.UInt32(0))
    if not smooth:
        with np.errstate(divide="ignore"):
            y_np = 10 * np.log10(np.abs(e_np) / e_np[0])
        iu = int(np.nanargmin(np.abs(upper - y_np)))
        il = int(np.nanargmin(np.abs(lower - y_np)))
        if il - iu < 2:
            raise ValueError(f"{kind}: the decay curve does not span {upper} .. {lower} dB "
                             f"(it ends at {np.min(y_np[np.isfinite(y_np)]):.1f} dB); use a longer IR or higher order")
        ei = _slice(e, iu, il)
        y = 10.0 * dr.log(ei / e0) / math.log(10.0)
        t = mi.Float64(np.arange(iu, il) / fs)
        w = dr.full(mi.Float64, 1.0, il - iu)
    else:
        n = len(e_np)
        floor = e_np[0] * 1e-12
        y = 10.0 * dr.log(dr.maximum(e, floor) / e0) / math.log(10.0)
        t = mi.Float64(np.arange(n) / fs)
        w = 1.0 / (1.0 + dr.exp(-(y - lower) / tau)) / (1.0 + dr.exp(-(upper - y) / tau))
    sw, st, sy = dr.sum(w), dr.sum(w * t), dr.sum(w * y)
    stt, sty = dr.sum(w * t * t), dr.sum(w * t * y)
    slope = (sw * sty - st * sy) / (sw * stt - st * st)
    return -60.0 / slope


def decay_time(h, fs: int, kind: str = "T30", band=None, smooth: bool = False, tau: float = 1.0,
               onset: str = "iso"):
    """EDT / T20 / T30 in seconds, broadband (``band=None``), one band index, or ``"all"`` bands."""
    return _per_band(_decay, h, fs, band, kind=kind, smooth=smooth, tau=tau, onset=onset)


def edt(h, fs, band=None, **kw):
    return decay_time(h, fs, "EDT", band, **kw)


def t20(h, fs, band=None, **kw):
    return decay_time(h, fs, "T20", band, **kw)


def t30(h, fs, band=None, **kw):
    return decay_time(h, fs, "T30", band, **kw)


def _split(h, fs, te_ms, onset):
    mi = _mi()
    e = energy_decay_curve(h, fs, onset)
    n = dr.width(e)
    k = int(round(te_ms * 1e-3 * fs))
    if k >= n:
        raise ValueError(f"impulse response ({n / fs * 1e3:.1f} ms) is shorter than the {te_ms} ms limit")
    return dr.gather(mi.Float64, e, mi.UInt32(0)), dr.gather(mi.Float64, e, mi.UInt32(k))


def _clarity(h, fs, te_ms, onset):
    e0, ek = _split(h, fs, te_ms, onset)
    return 10.0 * dr.log((e0 - ek) / ek) / math.log(10.0)


def _definition(h, fs, te_ms, onset):
    e0, ek = _split(h, fs, te_ms, onset)
    return (e0 - ek) / e0


def _center_time(h, fs, onset):
    mi = _mi()
    e = energy_decay_curve(h, fs, onset)
    e0 = dr.gather(mi.Float64, e, mi.UInt32(0))
    n = dr.width(e)
    wts = np.full(n, 1.0)
    wts[0] = wts[-1] = 0.5
    return dr.sum(e * mi.Float64(wts)) / (fs * e0)


def clarity(h, fs, te_ms: float = 80.0, band=None, onset: str = "iso"):
    """C_te in dB (C80 by default, C50 with ``te_ms=50``)."""
    return _per_band(_clarity, h, fs, band, te_ms=te_ms, onset=onset)


def c50(h, fs, band=None, **kw):
    return clarity(h, fs, 50.0, band, **kw)


def c80(h, fs, band=None, **kw):
    return clarity(h, fs, 80.0, band, **kw)


def definition(h, fs, te_ms: float = 50.0, band=None, onset: str = "iso"):
    """D50 (early-to-total energy ratio, 0..1)."""
    return _per_band(_definition, h, fs, band, te_ms=te_ms, onset=onset)


def center_time(h, fs, band=None, onset: str = "iso"):
    """Centre time Ts in seconds."""
    return _per_band(_center_time, h, fs, band, onset=onset)


def _softclip(x, lo, hi, k=1.0):
    """Smooth clip of x to [lo, hi]: lo + softplus(x - lo) - softplus(x - hi), softness k (dB)."""
    def softplus(z):
        return k * dr.log(1.0 + dr.exp(-dr.abs(z) / k)) + dr.maximum(z, 0.0)
    return lo + softplus(x - lo) - softplus(x - hi)


def level_correction(level_db, snr_db=np.inf, acoustical: bool = True) -> np.ndarray:
    """(7,) factors I_k / (I_k + I_am,k + I_rt,k) by which IEC 60268-16:2020 (A.2.4) scales the MTF of each
    octave band for the test-signal levels ``level_db`` (dB SPL per band, or one value for all) and the
    signal-to-noise ratios ``snr_db``: I_k = 10^(L_k / 10) (1 + 10^(-SNR_k / 10)) is the received intensity;
    auditory masking from the band below, I_am,k = I_(k-1) 10^(am_dB / 10) with the masking slope
    am_dB(L) = 0.5 L - 65 (L < 63 dB), 1.8 L - 146.9 (63-67 dB), 0.5 L - 59.8 (67-100 dB), -10 dB above,
    evaluated at the test-signal level L_(k-1) of the masking band; the absolute reception threshold
    I_rt,k = 10^(A_k / 10), A = 46, 27, 12, 6.5, 7.5, 8, 12 dB. ``acoustical=False`` (electrical signals):
    no masking and no threshold (factor 1)."""
    L = np.broadcast_to(np.asarray(level_db, np.float64), (7,))
    snr = np.broadcast_to(np.asarray(snr_db, np.float64), (7,))
    if not np.all(np.isfinite(L)):
        raise ValueError(f"level_db must be finite (dB SPL per octave band), got {L.tolist()}")
    I = 10.0 ** (L / 10.0) * (1.0 + 10.0 ** (-snr / 10.0))
    if not acoustical:
        return np.ones(7)
    am = np.select([L < 63, L < 67, L < 100], [0.5 * L - 65.0, 1.8 * L - 146.9, 0.5 * L - 59.8], -10.0)
    I_am = np.r_[0.0, I[:-1] * 10.0 ** (am[:-1] / 10.0)]
    I_rt = 10.0 ** (STI_THRESHOLD_DB / 10.0)
    return I / (I + I_am + I_rt)


def sti(h, fs: int, smooth: bool = False, snr_db=np.inf, softness: float = 1.0, level_db=None,
        acoustical: bool = True):
    """Speech Transmission Index from a RIR (IEC 60268-16:2020 indirect method). ``snr_db`` (one value or 7
    per band) scales the MTF by 1 / (1 + 10^(-SNR/10)); with ``level_db`` (test-signal level in dB SPL,
    one value or 7 per band) the MTF is also corrected for auditory masking and the reception threshold
    (:func:`level_correction`; ``acoustical=False``: no masking). Needs fs >= 16 kHz."""
    mi = _mi()
    h = _as_dr(h)
    fs = checks.integer("sti(fs=...)", fs, lo=1)
    bands = band_signals(h, fs)
    if len(bands) < 7:
        raise ValueError(f"STI needs the 7 octave bands 125 Hz - 8 kHz, i.e. fs >= 16 kHz (got {fs} Hz)")
    n = dr.width(h)
    t = np.arange(n) / fs
    cos = [mi.Float64(np.cos(2 * np.pi * F * t)) for F in STI_FM]
    sin = [mi.Float64(np.sin(2 * np.pi * F * t)) for F in STI_FM]
    snr = np.broadcast_to(np.asarray(snr_db, np.float64), (7,))
    if np.any(np.isnan(snr)):
        raise ValueError(f"snr_db must not be NaN, got {snr.tolist()}")
    scale = 1.0 / (1.0 + 10.0 ** (-snr / 10.0))
    if level_db is not None:
        scale = scale * level_correction(level_db, snr, acoustical)
    mti = []
    for b in range(7):
        e = bands[b] * bands[b]
        tot = dr.sum(e)
        if not _np(tot)[0] > 0:
            raise ValueError(f"STI: the impulse response has no energy in the {125 * 2 ** b} Hz octave band "
                             f"({n} samples); pass a longer, non-zero impulse response")
        ti_sum = 0.0
        for i in range(len(STI_FM)):
            m = dr.sqrt(dr.square(dr.sum(e * cos[i])) + dr.square(dr.sum(e * sin[i]))) / tot * float(scale[b])
            m = dr.clip(m, 1e-9, 1 - 1e-9)
            snr_app = 10.0 * dr.log(m / (1.0 - m)) / math.log(10.0)
            snr_app = _softclip(snr_app, -15.0, 15.0, softness) if smooth else dr.clip(snr_app, -15.0, 15.0)
            ti_sum = ti_sum + (snr_app + 15.0) / 30.0
        mti.append(ti_sum / len(STI_FM))
    out = sum(float(STI_ALPHA[b]) * mti[b] for b in range(7))
    out = out - sum(float(STI_BETA[b]) * dr.sqrt(mti[b] * mti[b + 1]) for b in range(6))
    return dr.minimum(out, 1.0)


def metrics_table(h, fs: int, onset: str = "iso") -> dict:
    """NumPy table: {metric: (broadband value, per-band values or None)} for EDT, T20, T30, C50, C80, D50,
    Ts and STI (NaN where a metric is undefined, e.g. a decay range the IR does not reach)."""
    out = {}
    with dr.suspend_grad():
        h = _as_dr(h)
        for name, fn in (("EDT", edt), ("T20", t20), ("T30", t30), ("C50", c50), ("C80", c80),
                         ("D50", definition), ("Ts", center_time)):
            vals = []
            for band in (None, "all"):
                try:
                    vals.append(_np(fn(h, fs, band=band, onset=onset)))
                except ValueError:
                    vals.append(np.array([np.nan]) if band is None else None)
            out[name] = (float(vals[0][0]), vals[1])
        try:
            out["STI"] = (float(_np(sti(h, fs))[0]), None)
        except ValueError:
            out["STI"] = (float("nan"), None)
    return out
