"""Boundary term of pattern paints (:mod:`.pattern_paint`).

The tile's discontinuities are its shapes' edges (clipped to the tile) and the tile border, repeated
over every tile that meets the painted shape's bounding box and mapped to the canvas by the layer's
paint transform: ordinary edges of the pattern region. They are sampled like shape outlines
(:func:`.boundary.sample_segments`, Li et al. 2020 Sec. 4), the colour jump ``f(p - eps n) - f(p +
eps n)`` is the composited colour on both sides (so the painted shape's coverage, the layers above
and group opacity clip and weight it; edges that separate equal colours add nothing), and each
sample adds ``jump * |Γ| / N * n . dp/dθ`` to its pixel through the filter, with ``p`` (tile origin
+ point on the edge, mapped to the canvas) attached to the vertices and the paint transform."""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload

from .affine import invert
from .boundary import FilterTaps, sample_segments

#: at most this many tiles of one pattern layer get boundary samples (tiles much smaller than a
#: pixel would make the edge list huge while their edges average out in every pixel)
MAX_TILES = 1 << 16


def _clip_to_tile(e, w, h):
    """Segments ``e`` ((M, 4) tile coordinates) clipped to [0, w] x [0, h] (Liang-Barsky): the
    parameter range ``[t0, t1]`` of the part inside (t0 >= t1: none)."""
    t0, t1 = np.zeros(len(e)), np.ones(len(e))
    d = e[:, 2:] - e[:, :2]
    for k, hi in ((0, w), (1, h)):
        for p, q in ((-d[:, k], e[:, k]), (d[:, k], hi - e[:, k])):
            par = p == 0
            r = np.where(par, 0.0, q / np.where(par, 1.0, p))
            t0 = np.where(~par & (p < 0), np.maximum(t0, r), t0)
            t1 = np.where(~par & (p > 0), np.minimum(t1, r), t1)
            t1 = np.where(par & (q < 0), -1.0, t1)
    return t0, t1


def _layer_segments(te, layer, theta_np, inv, box):
    """The tile's discontinuities repeated over the tiles that meet canvas box ``box`` (x0 y0 x1
    y1) under the paint-space map ``inv`` (6 floats, canvas -> paint): ``(seg, A, B, t0, t1,
    origin, const)``: canvas segments (M, 4), the theta slots of each segment's tile-space end
    points ((M, 2) each, -1 for the tile border), the clipped parameter range of the unclipped
    tile edge, the tile origin (M, 2) in paint space and the tile border's constant end points
    (M, 4; 0 for content edges, whose ends are read from theta)."""
    w, h = te.tile
    lo = te.layer_base[layer]
    idx = te.host[lo:lo + sum(c for _, c in te.shapes)]
    e = theta_np[idx].astype(np.float64)
    t0, t1 = _clip_to_tile(e, w, h)
    keep = t1 > t0
    idx, e, t0, t1 = idx[keep], e[keep], t0[keep], t1[keep]
    # the tile border (left and top side of every tile; the neighbours' sides close it)
    border = np.array([[0.0, 0.0, w, 0.0], [0.0, 0.0, 0.0, h]])
    ia = np.array([[inv[0], inv[2]], [inv[1], inv[3]]], np.float64)
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    uv = corners @ ia.T + np.array([inv[4], inv[5]])
    i0, i1 = int(np.floor(uv[:, 0].min() / w)), int(np.floor(uv[:, 0].max() / w)) + 1
    j0, j1 = int(np.floor(uv[:, 1].min() / h)), int(np.floor(uv[:, 1].max() / h)) + 1
    n_tiles = (i1 - i0 + 1) * (j1 - j0 + 1)
    if n_tiles > MAX_TILES:
        raise ValueError(f"pattern {te.tile[0]:g} x {te.tile[1]:g}: {n_tiles} tiles meet the painted shape, more "
                         f"than {MAX_TILES} (the pattern's boundary term); use a larger tile or a smaller scale")
    ti, tj = np.meshgrid(np.arange(i0, i1 + 1) * w, np.arange(j0, j1 + 1) * h, indexing="ij")
    org = np.stack([ti.reshape(-1), tj.reshape(-1)], 1)                      # (T, 2) tile origins
    local = np.concatenate([e, border])                                         # (K, 4)
    A = np.concatenate([idx[:, :2], np.full((2, 2), -1)])
    B = np.concatenate([idx[:, 2:], np.full((2, 2), -1)])
    tt0 = np.concatenate([t0, [0.0, 0.0]])
    tt1 = np.concatenate([t1, [1.0, 1.0]])
    d = local[:, 2:] - local[:, :2]
    fwd = np.linalg.inv(ia)
    # canvas = fwd (tile point - translation): the clipped ends' linear part once, plus each tile's origin
    ends = np.concatenate([local[:, :2] + tt0[:, None] * d, local[:, :2] + tt1[:, None] * d], 1)   # (K, 4)
    lin = np.concatenate([ends[:, :2] @ fwd.T, ends[:, 2:] @ fwd.T], 1)
    oc = (org - np.array([inv[4], inv[5]])) @ fwd.T                                # (T, 2)
    lo_k = np.stack([np.minimum(lin[:, 0], lin[:, 2]), np.minimum(lin[:, 1], lin[:, 3])], 1)
    hi_k = np.stack([np.maximum(lin[:, 0], lin[:, 2]), np.maximum(lin[:, 1], lin[:, 3])], 1)
    # segments that can reach the box
    near = (oc[:, None, 0] + hi_k[None, :, 0] >= box[0]) & (oc[:, None, 0] + lo_k[None, :, 0] <= box[2]) & \
        (oc[:, None, 1] + hi_k[None, :, 1] >= box[1]) & (oc[:, None, 1] + lo_k[None, :, 1] <= box[3])
    ti_, k = np.nonzero(near)
    seg = lin[k] + oc[ti_][:, [0, 1, 0, 1]]
    const = np.where((A[k, 0] < 0)[:, None], local[k], 0.0)
    return seg, A[k], B[k], tt0[k], tt1[k], org[ti_], const


def pattern_edge_term(img, shading, canvas, density, seed: int, info: dict):
    """``img`` (premultiplied pixels, 4 ``mi.Float`` of ``B * H * W``) plus the boundary term of
    every pattern layer's tile edges (module docstring; zero in value). Records
    ``n_pattern_samples`` in ``info``."""
    import mitsuba as mi
    entries = [e for e in shading.layers.shaders if e.tile is not None]
    if not entries:
        return img
    if canvas.filter == "prefilter":
        raise ValueError("rasterize(filter='prefilter'): gradients of pattern paints need area sampling "
                         "(filter box, tent or gaussian)")
    theta = shading.theta
    theta_np = np.asarray(dr.detach(theta).numpy(), np.float64)
    inv_dev = [dr.detach(m) for m in shading.layers.inv]
    edges = shading.edges
    W, H, Wp, eps = canvas.width, canvas.height, canvas.item_width, canvas.side_eps
    R = canvas.radius + 0.5
    n_samples = 0
    for entry in entries:
        te = entry.tile
        for layer in entry.layer_slots:
            inv = [float(dr.gather(mi.Float, m, mi.UInt32(layer))[0]) for m in inv_dev]
            own = edges.np_edges[edges.edge_layer == layer].astype(np.float64)
            if not len(own):
                continue
            x_lo = int(edges.layer_item[layer]) * Wp
            box = (max(own[:, [0, 2]].min(), x_lo - R), max(own[:, [1, 3]].min(), -R),
                   min(own[:, [0, 2]].max(), x_lo + W + R), min(own[:, [1, 3]].max(), H + R))
            if box[0] >= box[2] or box[1] >= box[3]:
                continue
            seg, A, B, t0, t1, origin, const = _layer_segments(te, layer, theta_np, inv, box)
            drawn = sample_segments(*(upload(mi.Float, seg[:, k].astype(np.float32)) for k in range(4)), density,
                                    info["n_pixel_samples"], seed + layer)
            if drawn is None:
                continue
            j, t, px_s, py_s, nx_s, ny_s, total = drawn
            j, t = j.numpy(), t.numpy()
            p = np.stack([px_s.numpy(), py_s.numpy()], 1)
            n = np.stack([nx_s.numpy(), ny_s.numpy()], 1)
            N = len(t)
            side = np.concatenate([p - eps * n, p + eps * n]).astype(np.float64)
            f = shading.colour_at(side[:, 0], side[:, 1], canvas.tile)
            df = f[:N] - f[N:]
            nz = np.nonzero(np.any(df != 0, axis=1))[0]
            n_samples += N
            if not len(nz):
                continue
            # the sample point attached to the tile vertices and the paint transform
            js = j[nz]
            tu_np = t0[js] + t[nz] * (t1[js] - t0[js])
            tu = upload(mi.Float, tu_np.astype(np.float32))
            base = origin[js] + (1 - tu_np)[:, None] * const[js, :2] + tu_np[:, None] * const[js, 2:]

            def end(S, c):
                s = upload(mi.UInt32, np.maximum(S[js, c], 0))
                return dr.gather(mi.Float, theta, s, upload(mi.Bool, S[js, c] >= 0))
            lu = [upload(mi.Float, base[:, c].astype(np.float32)) + (1 - tu) * end(A, c) + tu * end(B, c)
                  for c in (0, 1)]
            m = invert([dr.gather(mi.Float, v, mi.UInt32(layer)) for v in shading.layers.inv])
            px = m[0] * lu[0] + m[2] * lu[1] + m[4]
            py = m[1] * lu[0] + m[3] * lu[1] + m[5]
            dn = upload(mi.Float, n[nz, 0]) * (px - dr.detach(px)) + upload(mi.Float, n[nz, 1]) * (py - dr.detach(py))
            taps = FilterTaps(upload(mi.Float, p[nz, 0]), upload(mi.Float, p[nz, 1]),
                              dr.full(mi.UInt32, int(edges.layer_item[layer]), len(nz)), canvas)
            coef = df[nz] * (total / N)
            add = taps.splat([dn * upload(mi.Float, np.ascontiguousarray(coef[:, c])) for c in range(4)])
            for c in range(4):
                img[c] = img[c] + add[c]
    info["n_pattern_samples"] = n_samples
    return img
