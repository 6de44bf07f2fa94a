"""Stage 6, boundary: the boundary term of the gradient (Li et al. 2020, Sec. 4).

Points ``p`` are sampled on every edge of every fill and stroke outline (stratified, proportional
to length); the composited colour is evaluated on both sides, and

``sum_p  k(p - c) / Z_c * (f(p - eps n) - f(p + eps n)) * |e| / n_e * (n . dp/dtheta)``

is added to pixel ``c`` as a zero-valued term whose derivative is exactly that (forward *and*
reverse mode, :class:`BoundaryOp`). Interior stroke edges (quad ends, wedges) have equal colours
on both sides and contribute nothing, so unions, fill rules and occlusion are handled by the
two-sided difference itself. Samples exactly on a pixel border split half/half (box filter), the
convention that central finite differences see (diffvg counts such edges twice)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import drjit as dr
import numpy as np

from penumbra.renderer import memory
from penumbra.renderer.arrays import upload

from .batch import SceneEdges
from .binning import argsort_small, index_dtype
from .composite import Shading
from .pixels import Canvas, integral1d, kernel1d

SEED_SALT = 7919   # boundary samples draw from seed + SEED_SALT (pixel samples use seed itself)
SAMPLE_BLOCK = 1 << 18   # boundary samples placed per block (bounds the float64 temporaries)


@dataclass(frozen=True)
class BoundarySamples:
    """Stratified samples along the concatenated visible outline."""
    edge: np.ndarray         # (N,) sampled edge
    t: np.ndarray            # (N,) position along it, p = (1 - t) a + t b
    p: np.ndarray            # (N, 2) canvas point (items shifted)
    n: np.ndarray            # (N, 2) unit normal (right of the edge direction)
    item: np.ndarray         # (N,) batch item
    layer: np.ndarray        # (N,) layer owning the edge
    total: float             # outline length the samples stand for (each counts total / N)


class BoundaryRows(NamedTuple):
    """Splat rows of the boundary term: row ``k`` adds ``weight[k] * coef[sample[k], c] *
    n . dp/dtheta`` of sample ``sample[k]`` to channel ``c`` of pixel ``pixel[k]``."""
    edge: np.ndarray         # (N,) edge of each sample
    t: np.ndarray            # (N,)
    n: np.ndarray            # (N, 2)
    coef: np.ndarray         # (N, 4) float32 colour jump x outline length per sample
    sample: np.ndarray       # (R,) uint32
    pixel: np.ndarray        # (R,) uint32 flat index into (B, H, W)
    weight: np.ndarray       # (R,) float32 normalised filter weight
    n_pixels: int


def sample_outline(edges: SceneEdges, canvas: Canvas, density, n_pixel_samples: int, seed: int):
    """:class:`BoundarySamples` on the outline edges that the filter of a pixel can reach, or
    ``None`` when there are none. ``density``: samples per pixel of outline length; ``None``: as
    many boundary samples as pixel samples, at most one per pixel of outline (diffvg's budget)."""
    W, H, Wp = canvas.width, canvas.height, canvas.item_width
    cand = np.flatnonzero(edges.edge_samp).astype(index_dtype(len(edges.edge_samp)))
    R = canvas.radius + 0.5
    vis = np.empty(len(cand), bool)
    for lo in range(0, len(cand), SAMPLE_BLOCK):   # blocks of edges: bounded float64 temporaries
        c = cand[lo:lo + SAMPLE_BLOCK]
        e = np.take(edges.np_edges, c, axis=0)   # row gathers: np.take (fancy indexing is slower)
        lx = e[:, [0, 2]] - (edges.layer_item[edges.edge_layer[c]] * Wp)[:, None]
        vis[lo:lo + SAMPLE_BLOCK] = (lx.max(1) > -R) & (lx.min(1) < W + R) & (e[:, [1, 3]].max(1) > -R) & \
            (e[:, [1, 3]].min(1) < H + R)
    eid = cand[vis]
    del cand, vis
    drawn = sample_segments(np.take(edges.np_edges, eid, axis=0), density, n_pixel_samples, seed)
    if drawn is None:
        return None
    j, t, p, n, total = drawn
    s_edge = eid[j].astype(np.int32)
    layer = edges.edge_layer[s_edge]
    return BoundarySamples(s_edge, t, p, n, edges.layer_item[layer].astype(np.int32), layer.astype(np.int32), total)


def sample_segments(e: np.ndarray, density, n_pixel_samples: int, seed: int):
    """Stratified samples along the concatenated segments ``e`` ((M, 4) x0 y0 x1 y1, canvas
    pixels), proportional to length: ``(segment, t, p, n, total)`` with ``t`` the position along the
    segment (p = (1 - t) a + t b), ``n`` the unit normal right of its direction and ``total`` the
    length the samples stand for (each counts total / N), or ``None`` when all have length 0.
    ``density``: samples per pixel of length; ``None``: as many samples as pixel samples, at most
    one per pixel of length (diffvg's budget)."""
    def differences(rows):   # float64 (the rows may be float32)
        return np.asarray(rows[:, 2:], np.float64) - rows[:, :2]

    length = np.empty(len(e))
    for lo in range(0, len(e), SAMPLE_BLOCK):   # blocks of segments: bounded float64 temporaries
        d = differences(e[lo:lo + SAMPLE_BLOCK])
        length[lo:lo + SAMPLE_BLOCK] = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)
    keep = None                 # (tessellated edges all have a length: no copies)
    if not np.all(length > 0):
        keep = np.nonzero(length > 0)[0]
        if not len(keep):
            return None
        e, length = e[keep], length[keep]
    cum = np.cumsum(length)
    total = float(cum[-1])
    if density is None:
        density = min(1.0, n_pixel_samples / max(total, 1e-9))
    N = max(1, int(np.ceil(total * density)))
    rng = np.random.default_rng(seed + SEED_SALT)
    # compact records (int32, float32: the precision of the device arrays they are uploaded to),
    # built in blocks of samples so that the float64 temporaries stay small (the jitter drawn per
    # block: the same stream as one draw of N)
    s_seg, t, p, n = np.empty(N, np.int32), np.empty(N, np.float32), np.empty((N, 2), np.float32), \
        np.empty((N, 2), np.float32)
    for lo in range(0, N, SAMPLE_BLOCK):
        hi = min(N, lo + SAMPLE_BLOCK)
        u = (np.arange(lo, hi) + rng.random(hi - lo)) * (total / N)
        j = np.minimum(np.searchsorted(cum, u, side="right"), len(e) - 1)
        s_seg[lo:hi] = j if keep is None else keep[j]
        tb = np.clip((u - (cum[j] - length[j])) / length[j], 0.0, 1.0)
        t[lo:hi] = tb
        ej = np.take(e, j, axis=0)
        dj = differences(ej)
        p[lo:hi] = ej[:, :2] + tb[:, None] * dj
        n[lo:hi, 0], n[lo:hi, 1] = dj[:, 1] / length[j], -dj[:, 0] / length[j]
    return s_seg, t, p, n, total


def colour_jumps(samples: BoundarySamples, shading: Shading, canvas: Canvas) -> np.ndarray:
    """``f(p - eps n) - f(p + eps n)`` (premultiplied RGBA, (N, 4)) at every boundary sample; both
    sides in one pass, grouped by the tile of ``p`` (its lists hold for points within the margin)."""
    import mitsuba as mi
    bins, B, T, Wp, eps = shading.bins, canvas.batch, canvas.tile, canvas.item_width, canvas.side_eps
    p, n, s_item = samples.p, samples.n, samples.item
    col = np.clip(np.floor((p[:, 0] - s_item * Wp) / T), 0, bins.tiles_x // B - 1).astype(np.int64) + \
        s_item * (bins.tiles_x // B)
    tile = (np.clip(np.floor(p[:, 1] / T), 0, bins.tiles_y - 1).astype(np.int64) * bins.tiles_x + col).astype(
        index_dtype(bins.tiles_x * bins.tiles_y))
    del col
    order = argsort_small(tile)
    tile_sorted = tile[order]
    df = np.zeros((len(order), 4), np.float32)
    for lo, hi in shading.chunks(tile_sorted):   # runs of tiles: bounded per-pair state
        o = order[lo:hi]
        pox, poy, nox, noy = (upload(mi.Float, v[o]) for v in (p[:, 0], p[:, 1], n[:, 0], n[:, 1]))
        jmp = shading.jump(pox - eps * nox, poy - eps * noy, pox + eps * nox, poy + eps * noy, tile_sorted[lo:hi],
                           samples.layer[o])
        dr.eval(jmp)
        df[o] = np.stack([c.numpy() for c in jmp], 1)
        memory.release_freed()
    return df


def splat_rows(samples: BoundarySamples, coef: np.ndarray, sel: np.ndarray, canvas: Canvas) -> BoundaryRows:
    """:class:`BoundaryRows` of the samples ``sel`` with per-sample weights ``coef`` (N, 4), spread
    over the pixels with the normalised pixel filter (normalised over the canvas)."""
    W, H, Wp, filt = canvas.width, canvas.height, canvas.item_width, canvas.filter
    rng_o = (-2, -1, 0, 1, 2) if filt == "gaussian" else (-1, 0) if filt == "box" else (-1, 0, 1)
    offsets = [(oy, ox) for oy in rng_o for ox in rng_o]
    # rows ordered by pixel offset, then sample; built in blocks of samples (bounded temporaries)
    rows = [([], [], []) for _ in offsets]
    for lo in range(0, len(sel), SAMPLE_BLOCK):
        s_b = sel[lo:lo + SAMPLE_BLOCK]
        p_sel = samples.p[s_b]
        item = samples.item[s_b]
        lxp = p_sel[:, 0] - item * Wp
        fx, fy = np.floor(lxp).astype(np.int64), np.floor(p_sel[:, 1]).astype(np.int64)
        for (oy, ox), (rows_s, rows_p, rows_w) in zip(offsets, rows):
            cx, cy = fx + ox, fy + oy
            ok = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
            wx = kernel1d(lxp - (cx + 0.5), filt)
            wy = kernel1d(p_sel[:, 1] - (cy + 0.5), filt)
            w = wx * wy * ok
            if filt != "box":
                zx = integral1d(-(cx + 0.5), W - (cx + 0.5), filt)
                zy = integral1d(-(cy + 0.5), H - (cy + 0.5), filt)
                w = w / np.maximum(zx * zy, 1e-12)
            m = w > 0
            rows_s.append(s_b[m].astype(np.uint32))
            rows_p.append(((item[m] * H + cy[m]) * W + cx[m]).astype(np.uint32))
            rows_w.append(w[m].astype(np.float32))

    def cat(k, dtype):
        parts = [a for r in rows for a in r[k]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)
    return BoundaryRows(samples.edge, samples.t, samples.n, np.asarray(coef, np.float32), cat(0, np.uint32),
                        cat(1, np.uint32), cat(2, np.float32), canvas.batch * H * W)


def boundary_term(img, shading: Shading, canvas: Canvas, density, seed: int, info: dict):
    """``img`` (premultiplied pixels, 4 ``mi.Float``) plus the boundary term (zero in value).
    Records ``n_boundary_samples`` and ``n_boundary_active`` (samples with a colour jump) in
    ``info``."""
    edges = shading.edges
    memory.release_freed()   # the temporaries of each step leave the resident set before the next
    samples = sample_outline(edges, canvas, density, info["n_pixel_samples"], seed)
    if samples is None:
        return img
    memory.release_freed()
    df = colour_jumps(samples, shading, canvas)
    memory.release_freed()
    N = len(samples.p)
    coef = df * (samples.total / N)
    nz = np.any(df != 0, axis=1)
    info["n_boundary_samples"] = int(N)
    info["n_boundary_active"] = int(nz.sum())
    if not nz.any():
        return img
    rows = splat_rows(samples, coef, np.nonzero(nz)[0], canvas)
    return [img[c] + v for c, v in enumerate(dr.custom(BoundaryOp, edges.x0, edges.y0, edges.x1, edges.y1, rows))]


class BoundaryOp(dr.CustomOp):
    """Image increment that is zero in value and whose derivative with respect to the edge
    endpoints is the boundary integral: for sample ``s`` on edge ``e`` at ``p = (1-t) a + t b``,
    ``d img[pix] = sum_rows w[row] * n_s . ((1-t) da + t db)``. Written as a custom operation so
    that both AD modes evaluate it with plain gathers/scatters outside the AD graph."""

    def eval(self, X0, Y0, X1, Y1, rows: BoundaryRows):
        import mitsuba as mi
        self.n_edges = dr.width(X0)
        self.se = upload(mi.UInt32, rows.edge)
        self.t = upload(mi.Float, rows.t)
        self.nx, self.ny = upload(mi.Float, rows.n[:, 0]), upload(mi.Float, rows.n[:, 1])
        self.rs, self.rp = upload(mi.UInt32, rows.sample), upload(mi.UInt32, rows.pixel)
        self.rw = upload(mi.Float, rows.weight)
        self.coef = [upload(mi.Float, np.ascontiguousarray(rows.coef[:, c])) for c in range(4)]
        self.npix = rows.n_pixels
        return tuple(dr.zeros(mi.Float, rows.n_pixels) for _ in range(4))

    def forward(self):
        import mitsuba as mi
        g = [self.grad_in(k) for k in ("X0", "Y0", "X1", "Y1")]
        g = [v if dr.width(v) == self.n_edges else dr.zeros(mi.Float, self.n_edges) + v for v in g]
        t = self.t
        dpx = (1 - t) * dr.gather(mi.Float, g[0], self.se) + t * dr.gather(mi.Float, g[2], self.se)
        dpy = (1 - t) * dr.gather(mi.Float, g[1], self.se) + t * dr.gather(mi.Float, g[3], self.se)
        dn = self.nx * dpx + self.ny * dpy
        out = []
        for c in range(4):
            acc = dr.zeros(mi.Float, self.npix)
            dr.scatter_reduce(dr.ReduceOp.Add, acc, dr.gather(mi.Float, dn * self.coef[c], self.rs) * self.rw, self.rp)
            out.append(acc)
        self.set_grad_out(tuple(out))

    def backward(self):
        import mitsuba as mi
        go = self.grad_out()
        per_row = mi.Float(0.0)
        for c in range(4):
            per_row = per_row + dr.gather(mi.Float, self.coef[c], self.rs) * dr.gather(mi.Float, go[c], self.rp)
        ws = dr.zeros(mi.Float, dr.width(self.t))
        dr.scatter_reduce(dr.ReduceOp.Add, ws, self.rw * per_row, self.rs)
        t = self.t
        for key, wgt, nrm in (("X0", 1 - t, self.nx), ("Y0", 1 - t, self.ny), ("X1", t, self.nx), ("Y1", t, self.ny)):
            acc = dr.zeros(mi.Float, self.n_edges)
            dr.scatter_reduce(dr.ReduceOp.Add, acc, ws * wgt * nrm, self.se)
            self.set_grad_in(key, acc)

    def name(self):
        return "penumbra.vector.BoundaryTerm"
