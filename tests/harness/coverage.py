"""Noise-free derivative images of primary-visibility scenes, by exact pixel coverage.

For a convex object of constant radiance L_obj seen against a constant background L_bg through a
box filter, pixel j's expected value is

    I_j(θ) = L_bg + (L_obj - L_bg) · |P(θ) ∩ S_j|,

with S_j the unit pixel square and P(θ) the object's projected outline: the convex hull of its
projected vertices. That holds for the benchmark's triangle and flat-shaded icosphere under a
uniform sky with a diffuse BSDF and max_depth 2: every visible point sees its whole upper
hemisphere of sky (the object is convex), so it reflects albedo x sky exactly, and the icosphere's
creases carry no jump. The derivative image is then central finite differences of the exact
areas (convex polygon clipping, float64), with a step small enough (vertex motion 1e-3) that
their error is negligible: no Monte Carlo noise, and no kink bias from edges crossing pixel
borders (the area is C1 in the vertices except where a vertex crosses a pixel border).

It is independent of the estimators under test: vertices are projected by Mitsuba's own
``Sensor.sample_direction``, and the areas come from Sutherland-Hodgman clipping.
``benchmarks/path_bench.py`` checks it against its finite differences of Mitsuba's ``path`` before
using it; the box-filter tests of ``warped_area`` use it as their reference.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull


def project(sensor, P):
    """Film coordinates (pixels, float64 array (n, 2)) of world points P (n, 3) by Mitsuba's sensor."""
    import drjit as dr
    import mitsuba as mi
    it = dr.zeros(mi.Interaction3f, len(P))
    it.p = mi.Point3f(*[mi.Float(np.ascontiguousarray(P[:, i], dtype=np.float32)) for i in range(3)])
    ds, _ = sensor.sample_direction(it, mi.Point2f(0.5))
    return np.array(ds.uv, dtype=np.float64).reshape(2, -1).T


def _clip(poly, k, bound, keep_above):
    """Sutherland-Hodgman: the part of polygon ``poly`` (m, 2) with coordinate k >= / <= bound."""
    if len(poly) == 0:
        return poly
    s = (poly[:, k] - bound) * (1 if keep_above else -1)
    out = []
    for i in range(len(poly)):
        a, b, sa, sb = poly[i], poly[(i + 1) % len(poly)], s[i], s[(i + 1) % len(poly)]
        if sa >= 0:
            out.append(a)
        if (sa >= 0) != (sb >= 0):
            out.append(a + (b - a) * (sa / (sa - sb)))
    return np.array(out).reshape(-1, 2)


def _area(poly):
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def coverage(outline, W, H):
    """Fraction of each pixel (H, W) covered by the convex polygon ``outline`` (m, 2)."""
    A = np.zeros((H, W))
    lo, hi = np.floor(outline.min(axis=0)).astype(int), np.floor(outline.max(axis=0)).astype(int)
    for y in range(max(lo[1], 0), min(hi[1], H - 1) + 1):
        for x in range(max(lo[0], 0), min(hi[0], W - 1) + 1):
            p = outline
            for k, bound, above in ((0, x, True), (0, x + 1, False), (1, y, True), (1, y + 1, False)):
                p = _clip(p, k, bound, above)
            A[y, x] = _area(p)
    return A


def exact_derivative(sensor, V, D, L_obj, L_bg, h=1e-3):
    """d image / dθ (H, W, 3) for vertices V + θ D of a convex object of constant radiance L_obj
    (RGB) over background L_bg (RGB), box filter."""
    W, H = (int(v) for v in sensor.film().size())

    def area(theta):
        x = project(sensor, V + theta * D)
        return coverage(x[ConvexHull(x).vertices], W, H)
    dA = (area(h) - area(-h)) / (2 * h)
    return dA[:, :, None] * (np.asarray(L_obj, float) - np.asarray(L_bg, float))[None, None, :]
