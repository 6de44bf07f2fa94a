"""Pressure RIR synthesis: scatter image-source arrivals (delay, per-band amplitude) onto a time axis
with a differentiable fractional-delay kernel (Dr.Jit, float64).

Each arrival at ``sample = fs * d / c + lead_in`` is spread over ``taps`` samples
``floor(sample) + k - taps // 2`` (k = 0 .. taps-1). Kernels (see :mod:`.conventions`):

* ``hann_sinc``: w(t) sinc(t) at t = k - taps//2 - frac, w(t) = 0.5 + 0.5 cos(2 pi t / (taps - 1)) for
  |t| <= (taps - 1) / 2, else 0 -- continuous and differentiable in the delay everywhere.
* ``sinc_lut``: pyroomacoustics' builder: hann[k] (fixed on the tap grid) times the sinc table
  (``lut_granularity`` points per sample) linearly interpolated at ``k - taps//2 - frac``.

Two implementations give the same values and derivatives (a test compares them):

* default (:class:`_SynthOp`, a Dr.Jit custom op): the arrivals are sorted by time and each output sample
  sums the kernels of the arrivals within ``taps // 2`` of it (a symbolic loop, every band at once, no
  atomics); the forward-mode derivative uses the same loop with the kernel's slope, the adjoint loops
  over the taps of each arrival (gathers only). Fast in both directions. Small RIRs run the primal as
  one SIMD packet walking the time axis (:func:`_packet_loop`, one work unit of Dr.Jit's thread pool),
  larger ones one lane per output sample in a load-balanced order (:func:`lane_order`).
* ``method="scatter"``: plain Dr.Jit expressions, one lane per (arrival, tap, image-major) and a
  scatter-add per band (time-major with the bands adjacent), differentiated automatically (the
  reference implementation).

``frequency`` mode: see :func:`synthesize_frequency`.
"""
from __future__ import annotations

import functools
import math
import os

import drjit as dr
import numpy as np

from ._jit import upload


def _types():
    import mitsuba as mi
    return mi.Float64, mi.Float, mi.Int32, mi.UInt32


# Expand: every thread accumulates into its own copy of the time axis (no atomics), then the copies
# are summed -- much faster than contended atomics on the LLVM backend for these scatters.
_SCATTER_MODE = getattr(dr.ReduceMode, os.environ.get("PENUMBRA_SCATTER_MODE", "Expand"))


def _mode(tp):
    """Expand is an LLVM-backend strategy; elsewhere let Dr.Jit choose."""
    return _SCATTER_MODE if dr.backend_v(tp) == dr.JitBackend.LLVM else dr.ReduceMode.Auto
SYNTHESIS_METHODS = ("gather", "gather_lanes", "scatter")


def rir_length(max_sample: float, taps: int) -> int:
    """pyroomacoustics' length rule: ceil(max arrival sample + taps // 2 + 1) + 1."""
    return int(math.ceil(max_sample + taps // 2 + 1)) + 1


def arrival_samples(dist, fs: float, c: float, conv):
    """Arrival positions in samples (Dr.Jit Float64), including the lead-in."""
    Float64, Float, _, _ = _types()
    if conv.delay_precision == "float32":
        # pyroomacoustics: time = d / c + lead_in / fs in double, cast to float32, times fs in float32
        t = Float(dist / c + conv.lead_in / fs)
        return Float64(t * Float(fs))
    return dist * (fs / c) + conv.lead_in


def arrival_samples_np(dist: np.ndarray, fs: float, c: float, conv) -> np.ndarray:
    """:func:`arrival_samples` in NumPy (float64; float32 values for ``delay_precision="float32"``)."""
    if conv.delay_precision == "float32":
        t = (dist / c + conv.lead_in / fs).astype(np.float32)
        return (t * np.float32(fs)).astype(np.float64)
    return dist * (fs / c) + conv.lead_in


@functools.lru_cache(maxsize=16)
def sinc_table(taps: int, g: int, precision: str = "float64"):
    """(sinc lookup table on [-taps//2 - 1, taps//2 + 1] with g points per sample, Hann window (taps,)).
    With precision 'float32' the table is built as pyroomacoustics' C++ builder does in single precision
    (abscissa accumulated by repeated float32 additions of 1/g), which shifts the far taps by up to ~1e-3."""
    half = taps // 2
    size = (taps + 2) * g
    if precision == "float32":
        f32 = np.float32
        pi = f32(np.pi)
        n = np.empty(size, f32)
        acc, step = f32(-half - 1), f32(1.0) / f32(g)
        for i in range(size):
            n[i] = acc
            acc = f32(acc + step)
        with np.errstate(invalid="ignore", divide="ignore"):
            lut = np.where(n == 0, f32(1), np.sin(pi * n) / (pi * n)).astype(np.float64)
        k = np.arange(taps, dtype=f32)
        hann = (f32(0.5) - f32(0.5) * np.cos((pi * f32(2) * k) / f32(taps - 1))).astype(np.float64)
        return lut, hann
    n = -half - 1 + np.arange(size) / g
    lut = np.where(n == 0, 1.0, np.sin(np.pi * n) / np.where(n == 0, 1.0, np.pi * n))
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(taps) / (taps - 1))
    return lut, hann


def prepare(sample, amps, conv):
    """The arrival positions and amplitudes in the precision of the synthesis (float32 for
    ``delay_precision="float32"``, as pyroomacoustics), for :func:`synthesize`."""
    if conv.delay_precision == "float32":
        _, Float, _, _ = _types()
        return Float(sample), [Float(a) for a in amps]
    return sample, amps


def synthesize(sample, amps, N: int, fs: float, conv, method: str = "gather"):
    """Band-major flat array (B * N) of per-band RIRs from arrival positions ``sample`` (M) and a list of
    B per-band amplitudes (each M). Arrivals must satisfy taps//2 <= sample < N - taps//2 - 1.

    ``method``: ``"gather"`` (default: :class:`_SynthOp`, small RIRs as one SIMD packet),
    ``"gather_lanes"`` (the same op, always one lane per output sample) or ``"scatter"`` (the plain
    Dr.Jit reference: one kernel of width taps * M scatter-adding into the time axis, derivatives by
    Dr.Jit's AD). All three give the same values and derivatives."""
    if method not in SYNTHESIS_METHODS:
        raise ValueError(f"synthesis method must be one of {SYNTHESIS_METHODS}, got {method!r}")
    Float64, Float, Int32, UInt32 = _types()
    sample, amps = prepare(sample, amps, conv)
    if method != "scatter":
        # gather formulation (no atomics) with hand-written derivatives (see _SynthOp)
        out = _synth_op(sample, amps, N, conv, packet=method == "gather")
        if conv.delay_precision != "float32":
            return out
        # widen to float64; without gradients on the host (a copy, not one more parallel kernel)
        return Float64(out) if dr.grad_enabled(out) else upload(Float64, np.array(out, dtype=np.float64))
    if conv.delay_precision == "float32":
        # pyroomacoustics builds its RIRs in single precision: do the same (twice the SIMD width); the
        # arrival positions were already rounded to float32 by arrival_samples()
        return Float64(_synthesize(sample, amps, N, conv, Float, Int32, UInt32))
    return _synthesize(sample, amps, N, conv, Float64, Int32, UInt32)


def _synthesize(sample, amps, N, conv, Real, Int32, UInt32):
    Float64 = Real
    taps, half = conv.taps, conv.taps // 2
    B = len(amps)
    M = dr.width(sample)
    j = dr.arange(UInt32, taps * M)
    i = j // taps           # image-major: the taps of one image are adjacent lanes (contiguous writes)
    k = j - i * taps
    s = dr.gather(Float64, sample, i)
    fl = dr.floor(dr.detach(s))
    frac = s - fl
    idx = UInt32(Int32(fl) - half + Int32(k))
    if conv.kernel == "sinc_lut":
        g = conv.lut_granularity
        lut, hann = sinc_table(taps, g, conv.delay_precision)
        x = (1.0 - frac) * g
        off = dr.floor(dr.detach(x))
        x_off = x - off
        pos = UInt32(Int32(off)) + k * g
        lut_d = upload(Float64, lut)
        s0 = dr.gather(Float64, lut_d, pos)
        s1 = dr.gather(Float64, lut_d, pos + 1)
        w = dr.gather(Float64, upload(Float64, hann), k) * (s0 + x_off * (s1 - s0))
    else:
        t = Float64(Int32(k) - half) - frac
        pt = dr.pi * t
        small = dr.abs(t) < 1e-9
        sinc = dr.select(small, 1.0 - pt * pt / 6.0, dr.sin(pt) / dr.select(small, 1.0, pt))
        win = dr.select(dr.abs(t) <= half, 0.5 + 0.5 * dr.cos(2.0 * dr.pi * t / (taps - 1)), 0.0)
        w = win * sinc
    out = dr.zeros(Float64, B * N)
    if B > 1:   # time-major, bands adjacent: one cache line per tap
        base = idx * B
        for b in range(B):
            a = dr.gather(Float64, amps[b], i)
            dr.scatter_add(out, a * w, base + b, mode=_mode(Float64))
        return deinterleave(out, B, N)
    for b in range(B):
        a = dr.gather(Float64, amps[b], i)
        dr.scatter_add(out, a * w, idx + dr.opaque(UInt32, b * N), mode=_mode(Float64))
    return out


def _kernel_weight_and_slope(frac, k, tables, taps, g):
    """(w, dw/dsample) of tap k for an arrival with fractional part ``frac``."""
    Real = type(frac)
    Int32 = dr.int32_array_t(Real)
    UInt32 = dr.uint32_array_t(Real)
    half = taps // 2
    if tables is not None:   # windowed table hann[k] lut[k g + j], j = 0 .. g + 1 (see windowed_table)
        x = (1.0 - frac) * g
        off = dr.floor(x)
        x_off = x - off
        p = UInt32(Int32(off)) + k * (g + 2)
        t0 = dr.gather(Real, tables, p)
        t1 = dr.gather(Real, tables, p + 1)
        return t0 + x_off * (t1 - t0), -g * (t1 - t0)
    t = Real(Int32(k) - half) - frac
    pt = dr.pi * t
    small = dr.abs(t) < 1e-6
    sinc = dr.select(small, 1.0 - pt * pt / 6.0, dr.sin(pt) / dr.select(small, 1.0, pt))
    dsinc = dr.select(small, -dr.pi * pt / 3.0, (dr.cos(pt) - sinc) / dr.select(small, 1.0, t))
    inside = dr.abs(t) <= half
    a = 2.0 * dr.pi / (taps - 1)
    win = dr.select(inside, 0.5 + 0.5 * dr.cos(a * t), 0.0)
    dwin = dr.select(inside, -0.5 * a * dr.sin(a * t), 0.0)
    return win * sinc, -(dwin * sinc + win * dsinc)     # d/dsample = -d/dt


def _kernel_weight(frac, k, tables, taps, g):
    """Weight of tap k (the slope that ``_kernel_weight_and_slope`` also builds is never evaluated)."""
    return _kernel_weight_and_slope(frac, k, tables, taps, g)[0]


@dr.syntax
def _gather_loop(ss, srt, j, e, nn, tables, taps, g):
    Real = type(ss)
    half = taps // 2
    acc = [dr.zeros(Real, dr.width(nn)) for _ in srt]
    while j < e:
        s = dr.gather(Real, ss, j)
        fl = dr.floor(s)
        k = dr.uint32_array_t(Real)(nn - dr.int32_array_t(Real)(fl) + half)
        w = _kernel_weight(s - fl, k, tables, taps, g)
        acc = [acc[b] + dr.gather(Real, srt[b], j) * w for b in range(len(srt))]
        j += 1
    return acc


@dr.syntax
def _packet_loop(ss, srt, start, end, N, P, tables, taps, g):
    """The same sums as :func:`_gather_loop` computed by ``P`` lanes (one SIMD packet) that walk the time
    axis together (lane l handles samples q P + l, q = 0, 1, ...): a kernel of one packet is one work
    unit for Dr.Jit's thread pool, so a small synthesis never waits on another thread (see
    :func:`_single_packet`). Returns the band-major (B * N) output."""
    Real = type(ss)
    UInt32 = dr.uint32_array_t(Real)
    Int32 = dr.int32_array_t(Real)
    half = taps // 2
    B = len(srt)
    lane = dr.arange(UInt32, P)
    out = dr.empty(Real, B * N)      # every sample is written below
    q = UInt32(0)
    while q < (N + P - 1) // P:
        n = q * P + lane
        act = n < N
        j = dr.gather(UInt32, start, n, act)
        e = dr.gather(UInt32, end, n, act)
        acc = [Real(0.0) for _ in range(B)]
        while j < e:
            s = dr.gather(Real, ss, j)
            fl = dr.floor(s)
            k = UInt32(Int32(n) - Int32(fl) + half)
            w = _kernel_weight(s - fl, k, tables, taps, g)
            acc = [acc[b] + dr.gather(Real, srt[b], j) * w for b in range(B)]
            j += 1
        for b in range(B):
            dr.scatter(out, acc[b], n + b * N, act)
        q += 1
    return out


@functools.lru_cache(maxsize=1)
def packet_width() -> int:
    """SIMD width (lanes) of Dr.Jit's LLVM kernels on this CPU: 16 with AVX-512, 8 with AVX, else 4
    (read from /proc/cpuinfo; 0 if unknown, which disables :func:`_packet_loop`)."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith(("flags", "Features"))), [])
    except OSError:
        return 0
    if platform.machine() in ("x86_64", "AMD64"):
        return 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    return 4 if platform.machine() in ("aarch64", "arm64") else 0


def _single_packet(M: int, B: int, taps: int) -> bool:
    """Run the synthesis as one SIMD packet when it is small (estimated < ~4 ms on one core): Dr.Jit
    splits every larger kernel over all cores, and on a busy machine the caller then waits for a
    descheduled worker thread far longer than the split saves (measured: 2 cores, load ~5, order-20
    shoebox: median 13 ms instead of 1.5-2 ms). ``synthesize(..., method="gather_lanes")`` disables it."""
    if packet_width() == 0:
        return False
    return M * taps * (1 + B / 3) < 3.3e6


@dr.syntax
def _gather_loop2(ss, c1, c2, j, e, nn, tables, taps, g):
    """Per output sample: sum over nearby arrivals of c1 * w + c2 * dw/dsample (forward-mode derivative)."""
    Real = type(ss)
    half = taps // 2
    acc = [dr.zeros(Real, dr.width(nn)) for _ in c1]
    while j < e:
        s = dr.gather(Real, ss, j)
        fl = dr.floor(s)
        k = dr.uint32_array_t(Real)(nn - dr.int32_array_t(Real)(fl) + half)
        w, dw = _kernel_weight_and_slope(s - fl, k, tables, taps, g)
        acc = [acc[b] + dr.gather(Real, c1[b], j) * w + dr.gather(Real, c2[b], j) * dw for b in range(len(c1))]
        j += 1
    return acc


@dr.syntax
def _adjoint_loop(s, amps, gout, N, tables, taps, g):
    """Per arrival: the adjoint of the synthesis, grad_a_b = sum_k g_b[n + k] w_k and
    grad_s = sum_b a_b sum_k g_b[n + k] dw_k (a loop over the taps; no atomics)."""
    Real = type(s)
    UInt32 = dr.uint32_array_t(Real)
    Int32 = dr.int32_array_t(Real)
    half = taps // 2
    B = len(amps)
    fl = dr.floor(s)
    frac = s - fl
    base = Int32(fl) - half
    ga = [dr.zeros(Real, dr.width(s)) for _ in range(B)]
    gs = dr.zeros(Real, dr.width(s))
    k = UInt32(0)
    while k < taps:
        w, dw = _kernel_weight_and_slope(frac, k, tables, taps, g)
        idx = UInt32(base + Int32(k))
        for b in range(B):
            gb = dr.gather(Real, gout, idx + b * N)
            ga[b] += gb * w
            gs += amps[b] * gb * dw
        k += 1
    return ga, gs


@functools.lru_cache(maxsize=32)
def lane_order(N: int, chunk: int = 16):
    """(output sample per lane, lane per output sample) for the per-sample synthesis loops. Dr.Jit's LLVM
    backend hands contiguous ranges of lanes to its threads, but the work per output sample grows with
    the arrival density (~t^2 for image sources), so lanes in time order leave one thread with most of
    the work (and, on a loaded machine, the caller waiting for it). Here chunks of ``chunk`` consecutive
    samples (one SIMD packet shares similar loop trip counts) are visited in golden-ratio order, so every
    contiguous range of lanes spans the whole time axis."""
    C = -(-N // chunk)
    chunks = np.argsort((np.arange(C) * 0.6180339887498949) % 1.0, kind="stable")
    n = (chunks[:, None] * chunk + np.arange(chunk)[None, :]).ravel()
    n = n[n < N]
    inv = np.argsort(n).astype(np.uint32)
    n.setflags(write=False)
    inv.setflags(write=False)
    return n, inv


@functools.lru_cache(maxsize=8)
def windowed_table(taps: int, g: int, precision: str) -> np.ndarray:
    """(taps, g + 2) sinc table premultiplied by the Hann window: entry [k, j] = hann[k] lut[k g + j], the
    values the linear interpolation of tap k can reach (j = off, off + 1 with off = floor((1 - frac) g))."""
    lut, hann = sinc_table(taps, g, precision)
    idx = np.arange(taps)[:, None] * g + np.arange(g + 2)[None, :]
    out = hann[:, None] * lut[idx]
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=8)
def _device_tables(Real, taps: int, g: int, precision: str):
    """:func:`windowed_table` on the device, flattened (uploaded once; one gather fewer per tap than a
    separate window)."""
    np_t = np.float32 if Real.__name__ == "Float" else np.float64
    out = upload(Real, windowed_table(taps, g, precision).astype(np_t).ravel())
    dr.eval(out)
    return out


class _SynthOp(dr.CustomOp):
    def eval(self, sample, amps, N, conv, packet=True):
        Real = type(sample)
        Int32, UInt32 = dr.int32_array_t(Real), dr.uint32_array_t(Real)
        self.N, self.taps, self.g = N, conv.taps, conv.lut_granularity
        self.sample, self.amps = sample, list(amps)
        half = conv.taps // 2
        # sort the arrivals by time on the host (one evaluation of the inputs, no extra kernel)
        dr.eval(sample, amps)
        s_np = np.array(sample)
        fl_np = np.floor(s_np).astype(np.int64)
        perm = np.argsort(fl_np, kind="stable")
        fls = fl_np[perm]
        start = np.searchsorted(fls, np.arange(-half, N - half), "left").astype(np.uint32)
        end = np.searchsorted(fls, np.arange(half, N + half), "right").astype(np.uint32)
        self.start_t, self.end_t = upload(UInt32, start), upload(UInt32, end)     # per sample, time order
        n, self.inv = lane_order(N)             # lanes in a load-balanced order of output samples
        self.nn = upload(Int32, n.astype(np.int32))
        self.start, self.end = upload(UInt32, start[n]), upload(UInt32, end[n])
        self.perm = upload(UInt32, perm.astype(np.uint32))
        self.tables = _device_tables(Real, conv.taps, conv.lut_granularity, conv.delay_precision) \
            if conv.kernel == "sinc_lut" else None
        ss = upload(Real, s_np[perm])
        srt = [upload(Real, np.array(a)[perm]) for a in amps]
        self.ss = ss
        if packet and _single_packet(len(s_np), len(srt), conv.taps):
            out = _packet_loop(ss, srt, self.start_t, self.end_t, N, packet_width(), self.tables, self.taps, self.g)
            # wait right at the launch: the calling thread, already running, usually takes the single
            # work unit itself instead of a worker that must first be woken (and may be preempted)
            with dr.scoped_set_flag(dr.JitFlag.LaunchBlocking, True):
                dr.eval(out)
            return out
        acc = _gather_loop(ss, srt, UInt32(self.start), UInt32(self.end), Int32(self.nn), self.tables,
                           self.taps, self.g)
        dr.eval(acc)
        return self._flat(acc)

    def _flat(self, acc):
        """Band-major (B * N) output from per-lane accumulators (lanes in :func:`lane_order`)."""
        Real = type(acc[0])
        inv = upload(dr.uint32_array_t(Real), self.inv)
        acc = [dr.gather(Real, a, inv) for a in acc]
        if len(acc) == 1:
            return acc[0]
        out = dr.zeros(Real, len(acc) * self.N)
        idx = dr.arange(dr.uint32_array_t(Real), self.N)
        for b, a in enumerate(acc):
            dr.scatter(out, a, idx + b * self.N)
        return out

    def forward(self):
        Real = type(self.sample)
        ds = self.grad_in("sample")
        da = self.grad_in("amps")
        ds = Real(0.0) + ds if dr.width(ds) == dr.width(self.sample) else dr.zeros(Real, dr.width(self.sample))
        c1 = [dr.gather(Real, d if dr.width(d) > 1 else d + dr.zeros(Real, dr.width(self.sample)), self.perm)
              for d in da]
        c2 = [dr.gather(Real, a * ds, self.perm) for a in self.amps]
        dr.eval(c1, c2)
        Int32, UInt32 = dr.int32_array_t(Real), dr.uint32_array_t(Real)
        acc = _gather_loop2(self.ss, c1, c2, UInt32(self.start), UInt32(self.end), Int32(self.nn),
                            self.tables, self.taps, self.g)
        dr.eval(acc)
        self.set_grad_out(self._flat(acc))

    def backward(self):
        g = self.grad_out()
        ga, gs = _adjoint_loop(self.sample, self.amps, g, self.N, self.tables, self.taps, self.g)
        dr.eval(ga, gs)   # one kernel for all outputs
        self.set_grad_in("sample", gs)
        self.set_grad_in("amps", ga)

    def name(self):
        return "FractionalDelaySynthesis"


def _synth_op(sample, amps, N, conv, packet=True):
    if not (dr.grad_enabled(sample) or any(dr.grad_enabled(a) for a in amps)):
        return _SynthOp().eval(sample, amps, N, conv, packet)
    return dr.custom(_SynthOp, sample, list(amps), N, conv, packet)


def deinterleave(x, B, N):
    """(N, B) time-major -> (B, N) band-major flat array (a permutation; adjoint: its inverse)."""
    from .linear_ops import linear_op
    return linear_op(x, lambda v: v.reshape(N, B).T.reshape(-1).copy(),
                     lambda w: w.reshape(B, N).T.reshape(-1).copy())


def synthesize_frequency(sample, amps, N: int, fs: float, conv, chunk: int = 1 << 22):
    """Exact band-limited delays: h_b[n] = (1/n_fft) sum_f H_b(f) e^{2 pi i f n / n_fft},
    H_b(f) = sum_i a_{b,i} e^{-2 pi i f s_i / n_fft}, over an n_fft >= 2 N grid (so the periodic sinc tails
    of the last arrivals stay below the aliasing level of 1/(n_fft - N) they wrap into). Differentiable in
    the arrival positions and amplitudes (Dr.Jit); cost O(M * n_fft) instead of O(M * taps)."""
    Float64, Float, Int32, UInt32 = _types()
    from .linear_ops import linear_op
    n_fft = 2 ** int(math.ceil(math.log2(2 * N)))
    F = n_fft // 2 + 1
    M = dr.width(sample)
    B = len(amps)
    # real and imaginary spectra per band: sum over images via a block reduction over a (F x M) grid,
    # processed in frequency chunks to bound memory
    re = [dr.zeros(Float64, F) for _ in range(B)]
    im = [dr.zeros(Float64, F) for _ in range(B)]
    fstep = max(1, chunk // max(M, 1))
    for f0 in range(0, F, fstep):
        nf = min(fstep, F - f0)
        j = dr.arange(UInt32, nf * M)
        fi = j // M
        ii = j - fi * M
        s = dr.gather(Float64, sample, ii)
        ph = -2.0 * dr.pi * Float64(fi + f0) * s / n_fft
        cs, sn = dr.cos(ph), dr.sin(ph)
        for b in range(B):
            a = dr.gather(Float64, amps[b], ii)
            dr.scatter_add(re[b], a * cs, fi + f0)
            dr.scatter_add(im[b], a * sn, fi + f0)
    outs = []
    for b in range(B):
        spec = dr.zeros(Float64, 2 * F)
        dr.scatter(spec, re[b], dr.arange(UInt32, F) * 2)
        dr.scatter(spec, im[b], dr.arange(UInt32, F) * 2 + 1)

        def apply(v, n_fft=n_fft, N=N, F=F):
            z = v[0::2] + 1j * v[1::2]
            return np.fft.irfft(z, n=n_fft)[:N]

        def adjoint(w, n_fft=n_fft, N=N, F=F):
            # irfft(z)[n] = (1/n)[Re z0 + Re z_{F-1} (-1)^n + 2 sum_{0<k<F-1} (Re z_k cos - Im z_k sin)]
            g = np.zeros(n_fft)
            g[:N] = w
            G = np.fft.rfft(g) / n_fft     # sum_n g_n e^{-i 2pi k n / n_fft} / n_fft
            scale = np.full(F, 2.0)
            scale[0] = 1.0
            scale[-1] = 1.0
            out = np.empty(2 * F)
            out[0::2] = scale * G.real
            out[1::2] = scale * G.imag
            out[1] = 0.0
            out[-1] = 0.0
            return out

        outs.append(linear_op(spec, apply, adjoint))
    if B == 1:
        return outs[0]
    return dr.concat(outs) if hasattr(dr, "concat") else _concat(outs, N)


def _concat(parts, N):
    Float64, _, _, UInt32 = _types()
    out = dr.zeros(Float64, N * len(parts))
    for b, p in enumerate(parts):
        dr.scatter(out, p, dr.arange(UInt32, N) + b * N)
    return out
