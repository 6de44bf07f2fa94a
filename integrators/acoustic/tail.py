"""Late reverberation by stochastic acoustic ray tracing (Krokstad et al. 1968; Vorlaender,
*Auralization*, 2008, ch. 11) on the room mesh (Mitsuba 3), combined with image sources as in
pyroomacoustics' hybrid simulator (Scheibler et al., 2018; Schimmel et al., ICASSP 2009).

1. ``n_rays`` rays leave the source uniformly (Fibonacci sphere), each carrying 1 / n_rays of the
   energy. At each wall hit the ray is reflected specularly with probability 1 - s, otherwise into a
   cosine (Lambert) lobe (s: the wall's scattering averaged over bands); its energy is multiplied by
   (1 - alpha_wb) per band, by the air attenuation exp(-m_b L), and by s_wb / s (scattered) or
   (1 - s_wb) / (1 - s) (specular), so that each band follows its own scattering coefficients.
2. A ray crossing the receiver sphere (radius r) deposits 4 pi E chord / V_sphere into the energy
   histogram bin of its arrival time (``bin_ms``); 4 pi makes the unit match the image sources' 1/d
   amplitude law (a free-field image at distance d has energy 1/d^2 per sample, as the ray estimate
   converges to).
3. **No double counting**: paths with at most ``order`` purely specular reflections are the image
   sources' job, so a ray deposits only after a scattered reflection or after more than ``order``
   specular ones; conversely the image sources are scaled by sqrt(1 - s) per reflection (their
   scattered share is carried by the rays).
4. The per-band histograms become a pressure tail: fixed-seed Gaussian noise, split into disjoint
   octave bands (each frequency bin to the band whose filter-bank window dominates it, so that band
   energies add up), is scaled per bin so that its band energy equals the histogram's (times the
   band's share of a white signal's power), and the bands are summed.

Geometry and random choices are traced once (detached, float32); the deposits' energies are evaluated
in Dr.Jit float64 as products of those factors, so the tail is differentiable with respect to the
absorption and scattering coefficients (not the positions: moving geometry changes which rays hit).
"""
from __future__ import annotations

import dataclasses
import math

import drjit as dr
import numpy as np

from penumbra.renderer import checks, memory

from . import filterbank
from ._jit import upload
from .bands import band_values
from .rays import fibonacci_sphere, room_scene


@dataclasses.dataclass
class Deposits:
    """Receiver crossings of the traced rays (NumPy): time (s), path length (m), chord weight, wall hits."""
    time: np.ndarray
    length: np.ndarray
    weight: np.ndarray      # 4 pi chord / (V_sphere n_rays)
    hits: np.ndarray        # (n, W) reflections per wall before the crossing
    n_rays: int
    radius: float
    scat: np.ndarray = None  # (n, W) of which scattered (the rest specular)
    s_mean: np.ndarray = None  # (W,) scattering probability used to choose directions
    escaped: int = 0        # rays that left the room through a hole (counted as absorbed)


def trace(room, order: int, n_rays: int = 20000, t_max: float = 1.0, radius: float = 0.5, seed: int = 0,
          source=None, receiver=None, vertices=None, max_bounces: int = 1000, compiled: bool | None = None):
    """Trace the rays and record their receiver crossings (see the module docstring): a
    :class:`Deposits`, or with ``receiver`` (R, 3) a list of R of them from one set of rays (the rays and
    their random choices do not depend on the receiver, so each equals the trace for that receiver
    alone). ``compiled``: trace in numba (:mod:`.tail_kernel`; None: when numba is installed and the room
    has at most ``tail_kernel.MAX_TRIANGLES`` triangles) or with Mitsuba (False); the two agree
    statistically (different random sequences)."""
    from . import tail_kernel, visibility_kernel
    n_rays = checks.integer("n_rays", n_rays, lo=1)
    # Per ray: ~40 B of path state, 8 B of reflection counts per wall, and a few crossings of 24 B.
    memory.guard(f"the ray-traced tail ({n_rays} rays, {room.n_walls} walls)",
                 float(n_rays) * (40 + 8 * room.n_walls + 24 * 8), "n_rays")
    V = room.vertices if vertices is None else vertices
    src = np.asarray(room.sources[0] if source is None else source, np.float64)
    rcv_in = np.asarray(room.receivers[0] if receiver is None else receiver, np.float64)
    single = rcv_in.ndim == 1
    rcvs = rcv_in.reshape(-1, 3)
    W = room.n_walls
    s_wall = np.clip(room.scattering().mean(axis=1), 1e-6, 1 - 1e-6)
    if compiled is None:
        compiled = tail_kernel.AVAILABLE and len(room.faces) <= tail_kernel.MAX_TRIANGLES
    vol = 4.0 / 3.0 * math.pi * radius ** 3
    if compiled:
        mesh = visibility_kernel.triangle_mesh(V, room.faces, room.face_wall)
        rec, Lc, chord, hits, scats, n_escaped = tail_kernel.trace(
            mesh, src, rcvs, fibonacci_sphere(n_rays), order, radius, room.c * t_max, s_wall, W, seed, max_bounces)
        deps = [Deposits(Lc[rec == r] / room.c, Lc[rec == r], chord[rec == r] * 4 * math.pi / (vol * n_rays),
                         hits[rec == r], n_rays, radius, scats[rec == r], s_wall, n_escaped) for r in range(len(rcvs))]
        return deps[0] if single else deps
    import mitsuba as mi
    scene = room_scene(V, room.faces)
    fw = mi.Int32(room.face_wall.astype(np.int32))
    s_arr = mi.Float(s_wall.astype(np.float32))
    dirs = fibonacci_sphere(n_rays)
    o = mi.Point3f(*[dr.opaque(mi.Float, float(x), n_rays) for x in src])   # not kernel literals
    d = mi.Vector3f(*[mi.Float(dirs[:, a].astype(np.float32)) for a in range(3)])
    ray = mi.Ray3f(o, d)
    L = dr.zeros(mi.Float, n_rays)
    nspec = dr.zeros(mi.UInt32, n_rays)
    scattered = dr.full(mi.Bool, False, n_rays)
    alive = dr.full(mi.Bool, True, n_rays)
    escaped = dr.full(mi.Bool, False, n_rays)
    counts = [dr.zeros(mi.UInt32, n_rays) for _ in range(W)]
    scounts = [dr.zeros(mi.UInt32, n_rays) for _ in range(W)]
    rng = mi.PCG32(size=n_rays, initstate=seed)
    c_pts = [mi.Point3f(*[dr.opaque(mi.Float, float(x)) for x in rcv]) for rcv in rcvs]
    r2 = radius * radius
    Lmax = room.c * t_max
    outs = [{"t": [], "L": [], "w": [], "h": [], "s": []} for _ in rcvs]
    for bounce in range(max_bounces):
        si = scene.ray_intersect(ray, alive)
        escaped |= alive & ~si.is_valid()     # a miss: the ray left through a hole
        alive &= si.is_valid()
        tseg = dr.select(alive, si.t, 0.0)
        eligible = scattered | (mi.Int32(nspec) > order)
        # receiver sphere crossings on this segment, all receivers evaluated together
        cross = []
        for c_pt in c_pts:
            oc = ray.o - c_pt
            b = dr.dot(ray.d, oc)
            disc = b * b - (dr.squared_norm(oc) - r2)
            sq = dr.sqrt(dr.maximum(disc, 0.0))
            t0 = dr.clip(-b - sq, 0.0, tseg)
            t1 = dr.clip(-b + sq, 0.0, tseg)
            chord = t1 - t0
            hit = alive & (disc > 0) & (chord > 0) & eligible & (L + t0 < Lmax)
            cross.append((hit, chord, t0, t1))
        dr.eval(L, *[v for c in cross for v in c])
        for out, (hit, chord, t0, t1) in zip(outs, cross):
            idx = dr.compress(hit)
            if dr.width(idx) > 0:
                Lc = dr.gather(mi.Float, L + 0.5 * (t0 + t1), idx)
                out["t"].append(np.array(Lc, np.float64) / room.c)
                out["L"].append(np.array(Lc, np.float64))
                out["w"].append(np.array(dr.gather(mi.Float, chord, idx), np.float64) * 4 * math.pi / (vol * n_rays))
                out["h"].append(np.stack([np.array(dr.gather(mi.UInt32, cw, idx)) for cw in counts], axis=1))
                out["s"].append(np.stack([np.array(dr.gather(mi.UInt32, cw, idx)) for cw in scounts], axis=1))
        # reflect
        L = L + tseg
        alive &= L < Lmax
        if not dr.any(alive):
            break
        wall = dr.gather(mi.Int32, fw, si.prim_index, alive)
        for w in range(W):
            counts[w] = dr.select(alive & (wall == w), counts[w] + 1, counts[w])
        n = si.n
        n_in = dr.select(dr.dot(ray.d, n) < 0, n, -n)
        spec = ray.d - 2.0 * dr.dot(ray.d, n_in) * n_in
        u1, u2, u3 = rng.next_float32(), rng.next_float32(), rng.next_float32()
        diffuse_local = mi.warp.square_to_cosine_hemisphere(mi.Point2f(u1, u2))
        diffuse = mi.Frame3f(n_in).to_world(diffuse_local)
        s_hit = dr.gather(mi.Float, s_arr, mi.UInt32(dr.maximum(wall, 0)), alive)
        do_scatter = u3 < s_hit
        new_d = dr.normalize(dr.select(do_scatter, diffuse, spec))
        scattered |= alive & do_scatter
        for w in range(W):
            scounts[w] = dr.select(alive & do_scatter & (wall == w), scounts[w] + 1, scounts[w])
        nspec = dr.select(alive & ~do_scatter, nspec + 1, nspec)
        ray = si.spawn_ray(new_d)
        dr.eval(ray, L, alive, escaped, scattered, nspec, rng, *counts, *scounts)   # (rng: else its state grows)
    n_escaped = int(np.array(dr.count(escaped)).ravel()[0])
    deps = []
    for out in outs:
        def cat(k, shape):
            return np.concatenate(out[k]) if out[k] else np.zeros(shape)
        deps.append(Deposits(cat("t", 0), cat("L", 0), cat("w", 0), cat("h", (0, W)).astype(np.int64).reshape(-1, W),
                             n_rays, radius, cat("s", (0, W)).astype(np.int64).reshape(-1, W), s_wall, n_escaped))
    return deps[0] if single else deps


def band_masks(n_fft: int, fs: float) -> np.ndarray:
    """(B, n_fft // 2 + 1) disjoint 0/1 masks: each rfft bin goes to the octave band whose filter-bank
    window is largest there. Disjoint bands are orthogonal, so band energies add up exactly."""
    G = filterbank.antoni_windows(n_fft, fs)
    return (np.argmax(G, axis=0)[None, :] == np.arange(G.shape[0])[:, None]).astype(np.float64)


def band_power_share(fs: float, n_fft: int = 4096) -> np.ndarray:
    """Share of a white signal's power in each band of :func:`band_masks` (sums to 1)."""
    m = band_masks(n_fft, fs)
    w = np.full(m.shape[1], 2.0)
    w[0] = w[-1] = 1.0
    p = m @ w
    return p / p.sum()


def histograms(dep: Deposits, absorption, air, fs: float, n_bins: int, bin_s: float, n_bands: int, W: int,
               scattering=None):
    """Dr.Jit (B * n_bins) band-major energy histograms, differentiable w.r.t. ``absorption`` (W * 7) and
    ``scattering`` (W * 7, optional). Directions were drawn with the band-averaged scattering s_w; each
    band's energy is reweighted by (s_wb / s_w) per scattered and ((1 - s_wb) / (1 - s_w)) per specular
    reflection, which makes every band's estimate unbiased for its own scattering coefficients."""
    import mitsuba as mi
    H = dr.zeros(mi.Float64, n_bands * n_bins)
    if len(dep.time) == 0:
        return H
    k = np.minimum((dep.time / bin_s).astype(np.int64), n_bins - 1)
    kk = upload(mi.UInt32, k.astype(np.uint32))
    share = band_power_share(fs)
    log_r = dr.log(dr.maximum(1.0 - absorption, 1e-300))
    cols = band_values(log_r, W, n_bands, mi)
    hits = [upload(mi.Float64, dep.hits[:, w].astype(np.float64)) for w in range(W)]
    used = [w for w in range(W) if dep.hits[:, w].any()]
    wgt = upload(mi.Float64, dep.weight)
    Ld = upload(mi.Float64, dep.length)
    if scattering is not None and dep.scat is not None:
        sm = dep.s_mean
        ls = band_values(dr.log(dr.maximum(scattering, 1e-300)) - mi.Float64(np.repeat(np.log(sm), 7)),
                          W, n_bands, mi)
        lp = band_values(dr.log(dr.maximum(1.0 - scattering, 1e-300)) - mi.Float64(np.repeat(np.log(1 - sm), 7)),
                          W, n_bands, mi)
        nsc = [upload(mi.Float64, dep.scat[:, w].astype(np.float64)) for w in range(W)]
        nsp = [upload(mi.Float64, (dep.hits[:, w] - dep.scat[:, w]).astype(np.float64)) for w in range(W)]
    else:
        ls = None
    for b in range(n_bands):
        s = dr.zeros(mi.Float64, len(dep.time))
        for w in used:
            s = s + hits[w] * cols[b][w]
            if ls is not None:
                s = s + nsc[w] * ls[b][w] + nsp[w] * lp[b][w]
        e = wgt * dr.exp(s) * float(share[b])
        if air[b] > 0:
            e = e * dr.exp(-float(air[b]) * Ld)
        dr.scatter_add(H, e, kk + b * n_bins)
    return H


def noise_tail(H, fs: int, N: int, n_bins: int, bin_s: float, lead_in: int, seed: int = 0):
    """Pressure tail (Dr.Jit, length N): band-filtered Gaussian noise scaled per histogram bin so that
    its band energy in the bin equals H (differentiable w.r.t. H)."""
    import mitsuba as mi
    B = dr.width(H) // n_bins
    noise = np.random.default_rng(seed).standard_normal(N)
    n_fft = 2 ** int(math.ceil(math.log2(N)))
    bands = np.fft.irfft(np.fft.rfft(noise, n_fft)[None, :] * band_masks(n_fft, fs), n_fft, axis=1)[:B, :N]
    n = np.arange(N)
    k = np.clip(((n - lead_in) / fs / bin_s).astype(np.int64), 0, n_bins - 1)
    valid = (n >= lead_in) & ((n - lead_in) / fs < n_bins * bin_s)
    out = dr.zeros(mi.Float64, N)
    kk = upload(mi.UInt32, k.astype(np.uint32))
    for b in range(B):
        e_bin = np.bincount(k[valid], weights=bands[b][valid] ** 2, minlength=n_bins)
        u = np.where(valid, bands[b] / np.sqrt(np.maximum(e_bin[k], 1e-300)), 0.0)
        Hb = dr.gather(mi.Float64, H, kk + b * n_bins)
        out = out + upload(mi.Float64, u) * dr.sqrt(Hb + 1e-30)
    return out
