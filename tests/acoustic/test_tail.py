"""Ray-traced late reverberation combined with image sources: energy calibration, no double counting,
and derivatives with respect to the absorption coefficients."""
import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import default_params, filterbank, rir, simulate
from penumbra.integrators.acoustic import metrics as M
from penumbra.integrators.acoustic import tail as T
from penumbra.integrators.acoustic import shoebox as S

FS = 16000
DIMS, SRC, RCV = np.array([6.0, 4.0, 3.0]), np.array([1.1, 1.3, 1.2]), np.array([4.3, 2.9, 1.7])


def _room(alpha=0.15, s=0.0):
    return R.shoebox(DIMS, SRC, RCV, materials={"absorption": alpha, "scattering": s}, fs=FS)


def test_ray_energy_matches_image_source_energy():
    """With every path counted (order -1), the receiver-sphere estimate converges to sum 1/d^2 per time bin."""
    room = _room(0.0)
    dep = T.trace(room, -1, n_rays=20000, t_max=0.15)
    n = S.lattice(20)
    pos = np.where(n % 2 == 0, n * DIMS + SRC, (n + 1) * DIMS - SRC)
    d = np.linalg.norm(pos - RCV, axis=1)
    bins = np.arange(0.01, 0.15, 0.02)
    rays = np.histogram(dep.time, bins, weights=dep.weight)[0]
    ism = np.histogram(d / room.c, bins, weights=1 / d ** 2)[0]
    assert np.allclose(rays / ism, 1.0, atol=0.06), rays / ism


def _band_energy(h, b, n, edges):
    x = filterbank.band_filter_np(h[:n], FS)[b]
    return np.add.reduceat(x ** 2, edges)


def test_hybrid_has_no_double_counting():
    """Specular room: image sources to order K plus rays for the rest reproduce the order-60 image-source
    late energy (1 kHz band, 50-400 ms) and decay, whatever K is -- the split point moves energy between
    the two, never duplicates it. (Below ~250 Hz the all-positive image sum builds up a coherent low-
    frequency component that incoherent rays do not model; pyroomacoustics removes it with its high-pass.)"""
    room = _room(0.15, 0.0)
    ref = rir(room, 60)
    n, a, b = int(0.4 * FS), int(0.05 * FS), 3
    r = filterbank.band_filter_np(ref[:n], FS)[b]
    t30_r = float(np.array(M.t30(r, FS))[0])
    totals = []
    for K in (3, 8):
        hy = simulate(room, K, tail=dict(n_rays=20000, t_max=0.45)).numpy()
        x = filterbank.band_filter_np(hy[:n], FS)[b]
        totals.append((x[a:] ** 2).sum() / (r[a:] ** 2).sum())
        assert float(np.array(M.t30(x, FS))[0]) == pytest.approx(t30_r, rel=0.08)
    assert totals[0] == pytest.approx(1.0, abs=0.2) and totals[1] == pytest.approx(1.0, abs=0.2)
    assert totals[0] == pytest.approx(totals[1], rel=0.12)


def test_tail_histogram_matches_numpy_and_its_absorption_gradient():
    room = _room(0.2, 0.3)
    dep = T.trace(room, 4, n_rays=5000, t_max=0.3)
    alpha = np.clip(0.2 + 0.05 * np.arange(42).reshape(6, 7) / 42, 0, 1)
    share = T.band_power_share(FS)
    n_bins, bin_s = 75, 0.004
    k = np.minimum((dep.time / bin_s).astype(int), n_bins - 1)

    def H_np(a):
        out = np.zeros((7, n_bins))
        for b in range(7):
            e = dep.weight * share[b] * np.prod((1 - a[:, b])[None, :] ** dep.hits, axis=1)
            out[b] = np.bincount(k, weights=e, minlength=n_bins)
        return out

    a_dr = mi.Float64(alpha.ravel())
    dr.enable_grad(a_dr)
    H = T.histograms(dep, a_dr, np.zeros(7), FS, n_bins, bin_s, 7, 6)
    assert np.allclose(np.array(H).reshape(7, n_bins), H_np(alpha), rtol=1e-10, atol=1e-16)
    wts = np.random.default_rng(1).standard_normal(7 * n_bins)
    dr.backward(dr.sum(H * mi.Float64(wts)))
    g = np.array(dr.grad(a_dr)).reshape(6, 7)
    for (w, b) in [(0, 0), (3, 4), (5, 6)]:
        e = np.zeros_like(alpha)
        e[w, b] = 1e-6
        fd = (np.dot(H_np(alpha + e).ravel(), wts) - np.dot(H_np(alpha - e).ravel(), wts)) / 2e-6
        assert g[w, b] == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_hybrid_rir_absorption_gradient_vs_fd(mode):
    """The whole hybrid RIR (image sources + noise-shaped tail) w.r.t. one wall's absorption; the ray
    geometry is fixed by the seed, so central differences of the float64 forward model are well defined."""
    room = _room(0.25, 0.3)
    opts = dict(n_rays=3000, t_max=0.3)
    N = 5500
    wts = mi.Float64(np.random.default_rng(3).standard_normal(N))

    def loss(a, grad=None):
        p = default_params(room)
        p["absorption"] = mi.Float64(a)
        if grad is not None:
            dr.enable_grad(p["absorption"])
            if mode == "forward":
                dr.set_grad(p["absorption"], mi.Float64(grad))
        out = dr.sum(simulate(room, 3, params=p, length=N, tail=opts).signal * wts)
        return out, p["absorption"]

    a0 = np.full(42, 0.25)
    e = np.zeros(42)
    e[7 * 2 + 3] = 1.0   # wall 2 (south), 1 kHz band
    if mode == "reverse":
        val, x = loss(a0, grad=e)
        dr.backward(val)
        ad = float(np.dot(np.array(dr.grad(x)), e))
    else:
        val, x = loss(a0, grad=e)
        ad = float(dr.forward_to(val)[0])
    with dr.suspend_grad():
        fd = (float(loss(a0 + 1e-6 * e)[0][0]) - float(loss(a0 - 1e-6 * e)[0][0])) / 2e-6
    assert ad == pytest.approx(fd, rel=1e-4, abs=1e-9)


def test_more_absorption_shortens_hybrid_t30():
    room = _room(0.2, 0.3)
    p = default_params(room)
    dr.enable_grad(p["absorption"])
    h = simulate(room, 4, params=p, tail=dict(n_rays=5000, t_max=0.6)).signal
    t30 = M.t30(h, FS, smooth=True, tau=2.0)
    dr.backward(t30)
    assert float(np.array(dr.grad(p["absorption"])).sum()) < 0


def test_hybrid_rir_scattering_gradient_vs_fd():
    """Scattering moves energy from the image sources (sqrt(1 - s) per reflection) to the rays (per-band
    reweighting of the traced directions); both are differentiable."""
    room = _room(0.25, 0.3)
    opts = dict(n_rays=3000, t_max=0.3)
    N = 5500
    wts = mi.Float64(np.random.default_rng(4).standard_normal(N))
    e = np.zeros(42)
    e[7 * 4 + 2] = 1.0   # floor, 500 Hz

    def loss(s, track=False):
        p = default_params(room)
        p["scattering"] = mi.Float64(s)
        if track:
            dr.enable_grad(p["scattering"])
        return dr.sum(simulate(room, 3, params=p, length=N, tail=opts).signal * wts), p["scattering"]

    s0 = np.full(42, 0.3)
    val, x = loss(s0, True)
    dr.backward(val)
    ad = float(np.dot(np.array(dr.grad(x)), e))
    with dr.suspend_grad():
        fd = (float(loss(s0 + 1e-6 * e)[0][0]) - float(loss(s0 - 1e-6 * e)[0][0])) / 2e-6
    assert ad == pytest.approx(fd, rel=1e-4, abs=1e-9)
    assert ad != 0


def _t30_and_energy(dep, alpha, t_max, bin_s=0.005):
    """T30 (s) from the Schroeder curve of the deposits' energies (flat absorption ``alpha``) and their
    total energy."""
    e = dep.weight * (1 - alpha) ** dep.hits.sum(axis=1)
    n = int(round(t_max / bin_s))
    h = np.bincount(np.minimum((dep.time / bin_s).astype(int), n - 1), weights=e, minlength=n)
    edc = 10 * np.log10(np.cumsum(h[::-1])[::-1] / h.sum())
    t = (np.arange(n) + 0.5) * bin_s
    m = (edc <= -5) & (edc >= -35)
    return -60.0 / np.polyfit(t[m], edc[m], 1)[0], h.sum()


@pytest.mark.parametrize("scattering, seeds, tol_t, tol_e", [
    (0.3, (0,), 6e-2, 1e-1),
    pytest.param(0.0, (0,), 5e-3, 1e-2, marks=pytest.mark.slow),
    pytest.param(0.3, (0, 1, 2), 4e-2, 6e-2, marks=pytest.mark.slow)])
def test_compiled_tracer_matches_mitsuba_tracer_statistically(scattering, seeds, tol_t, tol_e):
    """The numba tracer (tail_kernel.py) against the Mitsuba one on the sloped L-room (not a prism), 5000
    rays per seed, 0.4 s: with scattering 0.3 (different random sequences) the T30 of the pooled deposits
    agree within ``tol_t`` and their energies within ``tol_e`` (measured spread of single 4000-ray runs:
    2.5 % and 4 %); without scattering both follow the same specular rays (slow: within 0.5 % and 1 %)."""
    from penumbra.integrators.acoustic import tail_kernel
    from .test_image_tree import _sloped
    if not tail_kernel.AVAILABLE:
        pytest.skip("numba is not installed (optional 'fast' extra): Mitsuba traces the tail")
    base = _sloped()
    room = R.load_room((base.vertices, base.faces), source=base.sources[0], receiver=base.receivers[0],
                       materials=R.material({"absorption": 0.2, "scattering": scattering}))
    got = {}
    for compiled in (True, False):
        deps = [T.trace(room, 2, 5000, 0.4, 0.5, seed, compiled=compiled) for seed in seeds]
        pooled = T.Deposits(np.concatenate([d.time for d in deps]), np.concatenate([d.length for d in deps]),
                            np.concatenate([d.weight for d in deps]) / len(deps),
                            np.concatenate([d.hits for d in deps]), 5000, 0.5)
        got[compiled] = _t30_and_energy(pooled, 0.2, 0.4)
    (t_c, e_c), (t_m, e_m) = got[True], got[False]
    assert abs(t_c / t_m - 1) < tol_t and abs(e_c / e_m - 1) < tol_e, got
