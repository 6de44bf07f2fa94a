"""Stage 6, boundary: the boundary term of the gradient (Li et al. 2020, Sec. 4).

Points ``p`` are sampled on every edge of every fill and stroke outline (stratified, proportional
to length); the composited colour is evaluated on both sides, and

``sum_p  k(p - c) / Z_c * (f(p - eps n) - f(p + eps n)) * |e| / n_e * (n . dp/dtheta)``

is added to pixel ``c`` as a zero-valued term whose derivative is exactly that (forward *and*
reverse mode, :class:`BoundaryOp`). Interior stroke edges (quad ends, wedges) have equal colours
on both sides and contribute nothing, so unions, fill rules and occlusion are handled by the
two-sided difference itself. Samples exactly on a pixel border split half/half (box filter), the
convention that central finite differences see (diffvg counts such edges twice).

Everything per sample stays on the device: the samples are placed by a binary search in the
outline's cumulative length, sorted by tile on the host (one download of their tiles) for the
two-sided shading, and splatted through the pixel filter (:class:`FilterTaps`) inside the custom
operation's derivative passes."""
from __future__ import annotations

from dataclasses import dataclass, replace

import drjit as dr
import numpy as np

from penumbra.renderer import memory
from penumbra.renderer.arrays import upload

from .batch import SceneEdges
from .binning import argsort_small
from .composite import Shading
from .pixels import Canvas, filter_weight, integral1d

SEED_SALT = 7919   # boundary samples draw from seed + SEED_SALT (pixel samples use seed itself)


@dataclass(frozen=True)
class BoundarySamples:
    """Stratified samples along the concatenated visible outline (device arrays, one entry per
    sample)."""
    edge: object             # mi.UInt32 sampled edge (index into the batch's edges or segments)
    t: object                # mi.Float position along it, p = (1 - t) a + t b
    x: object                # mi.Float canvas point (items shifted)
    y: object
    nx: object               # mi.Float unit normal (right of the edge direction)
    ny: object
    item: object             # mi.UInt32 batch item
    layer: object            # mi.UInt32 layer owning the edge
    total: float             # outline length the samples stand for (each counts total / N)

    @property
    def n(self) -> int:
        return dr.width(self.t)

    def take(self, index):
        """The samples ``index`` (``mi.UInt32``), in that order."""
        return replace(self, **{k: dr.gather(type(getattr(self, k)), getattr(self, k), index)
                                for k in ("edge", "t", "x", "y", "nx", "ny", "item", "layer")})


def sample_segments(x0, y0, x1, y1, density, n_pixel_samples: int, seed: int, rows=None):
    """Stratified samples along the concatenated segments ``(x0, y0) -> (x1, y1)`` (``mi.Float``,
    canvas pixels; with ``rows`` (``mi.UInt32``) the segments are those entries), proportional to
    length: ``(segment, t, x, y, nx, ny, total)`` (device arrays; ``segment`` indexes the
    concatenation, or ``rows``; ``t`` the position along the segment, ``(nx, ny)`` the unit normal
    right of its direction, ``total`` the length the samples stand for, each counting total / N),
    or ``None`` when all have length 0. ``density``: samples per pixel of length; ``None``: as many
    samples as pixel samples, at most one per pixel of length (diffvg's budget). The cumulative
    length is a float64 prefix sum and each sample's segment a binary search in it (segments of
    length 0 are never chosen)."""
    import mitsuba as mi
    M = dr.width(x0 if rows is None else rows)
    if M == 0:
        return None

    def length(i=None):   # float64 length of segments i (all: None), the same expression each time
        r = rows if i is None else i if rows is None else dr.gather(mi.UInt32, rows, i)
        a = [v if r is None else dr.gather(mi.Float, v, r) for v in (x0, y0, x1, y1)]
        dx, dy = mi.Float64(a[2]) - mi.Float64(a[0]), mi.Float64(a[3]) - mi.Float64(a[1])
        return dr.sqrt(dx * dx + dy * dy), a, dx, dy

    cum = dr.cumsum(length()[0])
    dr.eval(cum)
    total = float(dr.gather(mi.Float64, cum, mi.UInt32(M - 1))[0])
    if not total > 0:
        return None
    if density is None:
        density = min(1.0, n_pixel_samples / max(total, 1e-9))
    N = max(1, int(np.ceil(total * density)))
    k = dr.arange(mi.UInt32, N)
    rng = mi.PCG32(size=N, initstate=mi.UInt64(seed + SEED_SALT) * 0x9E3779B97F4A7C15 + mi.UInt64(k))
    u = (mi.Float64(k) + mi.Float64(rng.next_float32())) * (total / N)
    j = dr.binary_search(0, M - 1, lambda i: dr.gather(mi.Float64, cum, i) <= u)
    lj, a, djx, djy = length(j)
    ok = lj > 0
    safe = dr.select(ok, lj, 1.0)
    t = dr.clip((u - (dr.gather(mi.Float64, cum, j) - lj)) / safe, 0.0, 1.0)
    out = (j, mi.Float(t), mi.Float(mi.Float64(a[0]) + t * djx), mi.Float(mi.Float64(a[1]) + t * djy),
           mi.Float(dr.select(ok, djy / safe, 0.0)), mi.Float(dr.select(ok, -djx / safe, 0.0)))
    dr.eval(out)
    return (*out, total)


def sample_outline(edges: SceneEdges, canvas: Canvas, density, n_pixel_samples: int, seed: int):
    """:class:`BoundarySamples` on the outline edges that the filter of a pixel can reach, or
    ``None`` when there are none. ``density``: samples per pixel of outline length; ``None``: as
    many boundary samples as pixel samples, at most one per pixel of outline (diffvg's budget)."""
    import mitsuba as mi
    W, H, Wp = canvas.width, canvas.height, canvas.item_width
    cand = np.flatnonzero(edges.edge_samp)
    if not len(cand):
        return None
    R = canvas.radius + 0.5
    c = upload(mi.UInt32, cand)
    e_layer = upload(mi.UInt32, edges.edge_layer)
    l_item = upload(mi.UInt32, edges.layer_item)
    ends = [dr.detach(v) for v in (edges.x0, edges.y0, edges.x1, edges.y1)]
    x0, y0, x1, y1 = (dr.gather(mi.Float, v, c) for v in ends)
    shift = mi.Float(dr.gather(mi.UInt32, l_item, dr.gather(mi.UInt32, e_layer, c)) * Wp)
    lx0, lx1 = x0 - shift, x1 - shift
    vis = (dr.maximum(lx0, lx1) > -R) & (dr.minimum(lx0, lx1) < W + R) & (dr.maximum(y0, y1) > -R) & \
        (dr.minimum(y0, y1) < H + R)
    eid = dr.gather(mi.UInt32, c, dr.compress(vis))
    dr.eval(eid)
    del c, x0, y0, x1, y1, shift, vis, lx0, lx1
    drawn = sample_segments(*ends, density, n_pixel_samples, seed, rows=eid)
    if drawn is None:
        return None
    j, t, x, y, nx, ny, total = drawn
    s_edge = dr.gather(mi.UInt32, eid, j)
    layer = dr.gather(mi.UInt32, e_layer, s_edge)
    return BoundarySamples(s_edge, t, x, y, nx, ny, dr.gather(mi.UInt32, l_item, layer), layer, total)


def by_tile(samples: BoundarySamples, shading: Shading, canvas: Canvas):
    """``samples`` reordered by the tile of their point (the order :meth:`Shading.jump` needs)
    and the tile of each, as NumPy (host)."""
    import mitsuba as mi
    bins, B, T, Wp = shading.bins, canvas.batch, canvas.tile, canvas.item_width
    cols = bins.tiles_x // B
    col = mi.UInt32(dr.clip(dr.floor((samples.x - mi.Float(samples.item * Wp)) / T), 0, cols - 1)) + \
        samples.item * cols
    tile = mi.UInt32(dr.clip(dr.floor(samples.y / T), 0, bins.tiles_y - 1)) * bins.tiles_x + col
    tile_np = tile.numpy()
    order = argsort_small(tile_np)
    return samples.take(upload(mi.UInt32, order)), tile_np[order]


def colour_jumps(samples: BoundarySamples, tile_np, shading: Shading, canvas: Canvas):
    """``f(p - eps n) - f(p + eps n)`` (premultiplied RGBA, 4 ``mi.Float``) at every boundary
    sample (sorted by tile ``tile_np``, :func:`by_tile`); both sides in one pass per run of tiles
    (the tile lists hold for points within the margin)."""
    import mitsuba as mi
    eps = canvas.side_eps
    owner = samples.layer.numpy()
    parts = []
    for lo, hi in shading.chunks(tile_np):   # runs of tiles: bounded per-pair state
        r = dr.arange(mi.UInt32, lo, hi)
        px, py, nx, ny = (dr.gather(mi.Float, v, r) for v in (samples.x, samples.y, samples.nx, samples.ny))
        jmp = shading.jump(px - eps * nx, py - eps * ny, px + eps * nx, py + eps * ny, tile_np[lo:hi], owner[lo:hi])
        dr.eval(jmp)
        parts.append(jmp)
        memory.release_freed()
    return [parts[0][c] if len(parts) == 1 else dr.concat([p[c] for p in parts]) for c in range(4)]


class FilterTaps:
    """The pixels that the normalised pixel filter of each point ``(x, y)`` (``mi.Float``, canvas
    pixels, items shifted; ``item`` its batch item) reaches, and their weights
    ``k(p - c) / Z_c`` (``Z_c`` the filter's integral over the canvas around pixel ``c``, 1 for the
    box filter). :meth:`splat` adds per-point values to pixels, :meth:`gather` is its transpose
    (Dr.Jit AD runs through both)."""

    def __init__(self, x, y, item, canvas: Canvas):
        import mitsuba as mi
        W, H, Wp, filt = canvas.width, canvas.height, canvas.item_width, canvas.filter
        self.canvas = canvas
        self.lx = x - mi.Float(item * Wp)
        self.y = y
        self.item = item
        r = (-2, -1, 0, 1, 2) if filt == "gaussian" else (-1, 0) if filt == "box" else (-1, 0, 1)
        self.offsets = [(oy, ox) for oy in r for ox in r]
        self.zx = self.zy = None
        if filt != "box":   # the filter's integral over the canvas around each pixel column / row
            cx, cy = np.arange(W) + 0.5, np.arange(H) + 0.5
            self.zx = upload(mi.Float, np.maximum(integral1d(-cx, W - cx, filt), 1e-12))
            self.zy = upload(mi.Float, np.maximum(integral1d(-cy, H - cy, filt), 1e-12))

    def state(self):
        """The per-point arrays (for ``dr.eval``)."""
        return self.lx, self.y, self.item

    def taps(self):
        """``(pixel, weight, active)`` per filter offset, for every point (flat pixel index into
        (B, H, W))."""
        import mitsuba as mi
        W, H, filt = self.canvas.width, self.canvas.height, self.canvas.filter
        fx, fy = mi.Int32(dr.floor(self.lx)), mi.Int32(dr.floor(self.y))
        for oy, ox in self.offsets:
            cx, cy = fx + ox, fy + oy
            ok = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
            ux, uy = mi.UInt32(dr.clip(cx, 0, W - 1)), mi.UInt32(dr.clip(cy, 0, H - 1))
            w = filter_weight(self.lx - (mi.Float(cx) + 0.5), filt) * filter_weight(self.y - (mi.Float(cy) + 0.5), filt)
            if self.zx is not None:
                w = w / (dr.gather(mi.Float, self.zx, ux) * dr.gather(mi.Float, self.zy, uy))
            active = ok & (w > 0)
            yield (self.item * H + uy) * W + ux, dr.select(active, w, 0.0), active

    def splat(self, values):
        """Images (one ``mi.Float`` of B * H * W pixels per entry of ``values``) of the per-point
        ``values`` spread through the filter."""
        import mitsuba as mi
        n = self.canvas.batch * self.canvas.height * self.canvas.width
        out = [dr.zeros(mi.Float, n) for _ in values]
        for pixel, w, active in self.taps():
            for acc, v in zip(out, values):
                dr.scatter_reduce(dr.ReduceOp.Add, acc, v * w, pixel, active)
        return out

    def gather(self, images):
        """Per point, the filter-weighted sum of each image of ``images`` (transpose of :meth:`splat`)."""
        import mitsuba as mi
        out = [mi.Float(0.0) for _ in images]
        for pixel, w, active in self.taps():
            out = [o + w * dr.gather(mi.Float, img, pixel, active) for o, img in zip(out, images)]
        return out


def boundary_term(img, shading: Shading, canvas: Canvas, density, seed: int, info: dict):
    """``img`` (premultiplied pixels, 4 ``mi.Float``) plus the boundary term (zero in value).
    Records ``n_boundary_samples`` and ``n_boundary_active`` (samples with a colour jump) in
    ``info``."""
    edges = shading.edges
    memory.release_freed()   # the temporaries of each step leave the resident set before the next
    samples = sample_outline(edges, canvas, density, info["n_pixel_samples"], seed)
    if samples is None:
        return img
    N = samples.n
    memory.release_freed()
    samples, tile_np = by_tile(samples, shading, canvas)
    memory.release_freed()
    df = colour_jumps(samples, tile_np, shading, canvas)
    del tile_np
    memory.release_freed()
    n_active = int(dr.count((df[0] != 0) | (df[1] != 0) | (df[2] != 0) | (df[3] != 0))[0])
    info["n_boundary_samples"] = int(N)
    info["n_boundary_active"] = n_active
    if not n_active:
        return img
    # every sample goes to the splat (those without a jump weigh 0): compacting the active ones
    # (typically 90 %) would copy every array while the originals are alive
    coef = [d * (samples.total / N) for d in df]
    dr.eval(coef)
    del df
    splat = (samples, coef)
    return [img[c] + v for c, v in enumerate(dr.custom(BoundaryOp, edges.x0, edges.y0, edges.x1, edges.y1, splat,
                                                      canvas))]


class BoundaryOp(dr.CustomOp):
    """Image increment that is zero in value and whose derivative with respect to the edge
    endpoints is the boundary integral: for sample ``s`` on edge ``e`` at ``p = (1-t) a + t b``,
    ``d img[c] = sum_s k(p_s - c) / Z_c * coef_s * n_s . ((1-t) da + t db)``. Written as a custom
    operation so that both AD modes evaluate it with plain gathers/scatters outside the AD graph."""

    def eval(self, X0, Y0, X1, Y1, splat, canvas):
        import mitsuba as mi
        samples, self.coef = splat
        self.n_edges = dr.width(X0)
        self.se, self.t, self.nx, self.ny = samples.edge, samples.t, samples.nx, samples.ny
        self.taps = FilterTaps(samples.x, samples.y, samples.item, canvas)
        # evaluated now: as lazy gathers they would keep every sample's arrays (and the colour
        # jumps) alive until the derivative pass, and be traced again into each kernel using them
        dr.eval(self.se, self.t, self.nx, self.ny, self.coef, self.taps.state())
        npix = canvas.batch * canvas.height * canvas.width
        return tuple(dr.zeros(mi.Float, npix) for _ in range(4))

    def forward(self):
        import mitsuba as mi
        g = [self.grad_in(k) for k in ("X0", "Y0", "X1", "Y1")]
        g = [v if dr.width(v) == self.n_edges else dr.zeros(mi.Float, self.n_edges) + v for v in g]
        t = self.t
        dpx = (1 - t) * dr.gather(mi.Float, g[0], self.se) + t * dr.gather(mi.Float, g[2], self.se)
        dpy = (1 - t) * dr.gather(mi.Float, g[1], self.se) + t * dr.gather(mi.Float, g[3], self.se)
        dn = self.nx * dpx + self.ny * dpy
        self.set_grad_out(tuple(self.taps.splat([dn * c for c in self.coef])))

    def backward(self):
        import mitsuba as mi
        per_sample = self.taps.gather(list(self.grad_out()))
        ws = per_sample[0] * self.coef[0] + per_sample[1] * self.coef[1] + per_sample[2] * self.coef[2] + \
            per_sample[3] * self.coef[3]
        t = self.t
        for key, wgt, nrm in (("X0", 1 - t, self.nx), ("Y0", 1 - t, self.ny), ("X1", t, self.nx), ("Y1", t, self.ny)):
            acc = dr.zeros(mi.Float, self.n_edges)
            dr.scatter_reduce(dr.ReduceOp.Add, acc, ws * wgt * nrm, self.se)
            self.set_grad_in(key, acc)

    def name(self):
        return "penumbra.vector.BoundaryTerm"
