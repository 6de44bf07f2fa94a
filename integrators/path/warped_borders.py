"""Pixel-border flux of the warped-area primary term for box-filtered films.

With a box filter, pixel j's value is I_j = ∫_{P_j} L(x) dx over its unit square P_j (pixels as
units). The film samples of :mod:`.warped_area` estimate ∫_{P_j} ∇·((L - C_j) V) dx at points away
from the discontinuities Γ of L; by the divergence theorem on P_j cut along Γ,

    ∫_{P_j \\ Γ} ∇·((L - C_j) V) dx = ∮_{∂P_j} (L - C_j) V·n dℓ + B_j,

where B_j is the boundary term wanted (the jumps of L on Γ times the normal velocity V there, the
same quantity the smooth-filter derivation of Bangaru, Li, Durand 2020 gives) and n is the outward
normal of the pixel. The pixel's own border does not move with θ, yet the warp field V (which
follows the geometry) crosses it: a smooth filter hides this because k_j vanishes on the border of
its support, a box filter does not. This module estimates the flux

    F_j = ∮_{∂P_j} (L - C_j) V·n dℓ

by stratified samples along every pixel edge, and the warped-area integrator subtracts it. Each
edge between pixels j and j' is sampled once and contributes to both (with opposite normals), so the
flux of the whole image telescopes: interior edges carry only C_j - C_j' and the image sum keeps
the film border's flux alone. C_j is the radiance at pixel j's centre traced with the sample's path
random numbers (the same control variate as the film samples): where the pixel sees one smooth
region, L - C_j is small on its whole border.

As everywhere in :mod:`.warped_area`, V is the derivative of a zero-valued displacement
(:class:`.warp_field.FilmWarp`), so the result is a zero-valued image whose derivative is -F_j, for
forward and reverse mode.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from .film import term_sampler


def border_edges(W: int, row0: int, row1: int, H: int):
    """Edges sampled by the pass of film rows [row0, row1) of a W x H film, as counts.

    Vertical edges x = 0 .. W of rows row0 .. row1 - 1 (``(W + 1) (row1 - row0)``), and horizontal
    edges y = row0 .. row1 - 1 of columns 0 .. W - 1, plus y = H when the pass ends the film, so that
    the passes together sample every edge once."""
    n_vertical = (W + 1) * (row1 - row0)
    n_horizontal = W * (row1 - row0 + (1 if row1 == H else 0))
    return n_vertical, n_horizontal


def pixel_border_image(integrator, scene, sensor, camera, warp, seed: int, spp: int, row0: int, row1: int,
                       pass_index: int = 0):
    """Zero-valued image of film rows [max(row0 - 1, 0), row1) whose derivative is -F_j (module
    docstring) for the edges of the pass [row0, row1); ``spp`` stratified samples per edge.

    ``integrator.radiance(scene, sensor, x, sampler)`` traces the radiance through film points x;
    ``warp.estimate(x, sampler)`` gives the zero-valued displacement whose derivative is V(x)."""
    W, H = camera.W, camera.H
    n_v, n_h = border_edges(W, row0, row1, H)
    N = (n_v + n_h) * spp
    top = max(row0 - 1, 0)
    rows = row1 - top
    sampler = term_sampler(seed, "warped_pixel_border", N, pass_index)
    with dr.suspend_grad():
        idx = dr.arange(mi.UInt32, N)
        n = dr.opaque(mi.UInt32, spp)  # counts as kernel inputs: no kernel per count
        e, k = idx // n, idx % n
        vertical = e < dr.opaque(mi.UInt32, n_v)
        eh = dr.select(vertical, 0, e - dr.opaque(mi.UInt32, n_v))
        # Vertical edge e: x = e mod (W + 1), row row0 + e div (W + 1); horizontal: column eh mod W,
        # y = row0 + eh div W.
        ex = dr.select(vertical, e % dr.opaque(mi.UInt32, W + 1), eh % dr.opaque(mi.UInt32, W))
        ey = dr.select(vertical, e // dr.opaque(mi.UInt32, W + 1), eh // dr.opaque(mi.UInt32, W)) + \
            dr.opaque(mi.UInt32, row0)
        t = (mi.Float(k) + sampler.next_1d()) * dr.opaque(mi.Float, 1.0 / spp)
        fx, fy = mi.Float(ex), mi.Float(ey)
        z = mi.Point2f(dr.select(vertical, fx, fx + t), dr.select(vertical, fy + t, fy))
        # The two pixels sharing the edge: "before" (left / above, outward normal +n) and "after"
        # (right / below, outward normal -n), where they exist on the film.
        has_before = dr.select(vertical, ex > 0, ey > 0)
        has_after = dr.select(vertical, ex < W, ey < H)
        bx = dr.select(vertical, mi.Float(ex) - 1, fx)
        by = dr.select(vertical, fy, mi.Float(ey) - 1)
        c_before = mi.Point2f(bx + 0.5, by + 0.5)
        c_after = mi.Point2f(fx + 0.5, fy + 0.5)
    dV = warp.estimate(z, sampler)[0]
    with dr.suspend_grad():
        C_before = integrator.radiance(scene, sensor, c_before, sampler.clone())
        C_after = integrator.radiance(scene, sensor, c_after, sampler.clone())
        L = integrator.radiance(scene, sensor, z, sampler)
    v_n = dr.select(vertical, dV.x, dV.y) * dr.opaque(mi.Float, 1.0 / spp)  # derivative: V·n, n = +x / +y
    # -F_j: the "before" pixel's outward normal is +n, the "after" pixel's -n.
    out_before = (C_before - L) * v_n
    out_after = (L - C_after) * v_n
    image = [dr.zeros(mi.Float, rows * W + 1) for _ in range(3)]
    dump = dr.opaque(mi.UInt32, rows * W)  # lanes without that pixel go to a dump slot
    j_before = dr.select(has_before, mi.UInt32(by - top) * W + mi.UInt32(bx), dump)
    j_after = dr.select(has_after, (ey - dr.opaque(mi.UInt32, top)) * W + ex, dump)
    for ch in range(3):
        dr.scatter_reduce(dr.ReduceOp.Add, image[ch], out_before[ch], j_before)
        dr.scatter_reduce(dr.ReduceOp.Add, image[ch], out_after[ch], j_after)
    pixels = [dr.gather(mi.Float, image[ch], dr.arange(mi.UInt32, rows * W)) for ch in range(3)]
    flat = dr.ravel(mi.Color3f(pixels[0], pixels[1], pixels[2]))
    return top, mi.TensorXf(flat, shape=(rows, W, 3))
