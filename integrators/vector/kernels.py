"""Dr.Jit kernels of the rasterizer: per-(point, candidate layer) coverage by winding numbers,
paint evaluation (solid, linear and radial gradients with stops and spread, shaders), and source-over
compositing as a custom differentiable operation.

Layout: points are grouped by tile; the pairs of a tile are ``S_t x n_t`` (points x candidate
layers), candidate-major, so that SIMD lanes share the candidate's edge list. Covered pairs are
compacted (``dr.compress``); only they get a paint evaluation on the AD graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload

from .binning import STUB
from .compile import PAINT_LINEAR, PAINT_RADIAL
from .shader_paint import shader_colours


@dataclass
class Pairs:
    """(point, candidate layer) pairs of points grouped by tile: tile ``t`` holds
    ``S_t x n_t`` pairs from ``pair_base[t]``, candidate-major. :func:`coverage` fills ``mask`` and
    the compaction of the covered pairs (``cov_pairs``, ``cov_index``, ``n_cov``), and in prefilter
    mode the nearest edge of each pair (``dmin``, ``argmin``, ``inside``)."""
    n_tiles: int
    point_start: object   # mi.UInt32 (n_tiles + 1)
    pair_base: object     # mi.UInt32 (n_tiles + 1)
    cand_start: object    # mi.UInt32 (n_tiles + 1)
    n_pairs: int
    mask: object = None   # mi.Bool (n_pairs)
    cov_pairs: object = None  # mi.UInt32 (n_cov) pair index of each covered pair
    cov_index: object = None  # mi.UInt32 (n_pairs) slot of each pair among covered ones
    n_cov: int = 0
    dmin: object = None
    argmin: object = None
    inside: object = None
    pair_tile: object = None  # mi.UInt32 (n_pairs) tile of each pair (avoids a binary search)


def segment_ids(start):
    """Segment index of every element for segments ``[start[t], start[t + 1])`` (NumPy ``start``):
    ``np.repeat(arange, sizes)`` on the device, as a prefix sum of the index steps at segment starts."""
    import mitsuba as mi
    n = int(start[-1])
    nz = np.nonzero(np.diff(start))[0]
    ids = dr.zeros(mi.UInt32, n)
    if len(nz):
        dr.scatter(ids, upload(mi.UInt32, np.diff(nz, prepend=0)), upload(mi.UInt32, start[nz]))
    return dr.cumsum(ids)


def decode_pairs(i, P: Pairs):
    """Tile, point and candidate index of pairs ``i`` of ``P``."""
    import mitsuba as mi
    if P.pair_tile is not None:
        t = dr.gather(mi.UInt32, P.pair_tile, i)
    else:
        t = dr.binary_search(0, P.n_tiles, lambda idx: dr.gather(mi.UInt32, P.pair_base, idx) <= i) - 1
    p0 = dr.gather(mi.UInt32, P.point_start, t)
    S = dr.gather(mi.UInt32, P.point_start, t + 1) - p0
    local = i - dr.gather(mi.UInt32, P.pair_base, t)
    k = local // dr.maximum(S, 1)
    s = local - k * S
    c = dr.gather(mi.UInt32, P.cand_start, t) + k
    return t, p0 + s, c


@dr.syntax
def winding(px, py, e0, cnt, E, w0):
    """Winding number at ``(px, py)`` of the ray towards +x: ``w0`` plus the signed crossings of
    the ``cnt`` edges of the flat edge list ``E`` (x0 y0 x1 y1 each) from entry ``e0``."""
    import mitsuba as mi
    w = mi.Int32(w0)
    j = mi.UInt32(0)
    while j < cnt:
        e = dr.gather(mi.Vector4f, E, e0 + j)
        cross = (e.y <= py) != (e.w <= py)
        dy = e.w - e.y
        # the crossing lies right of p  <=>  sign((x0 - px) dy + (py - y0)(x1 - x0)) == sign(dy)
        c = (e.x - px) * dy + (py - e.y) * (e.z - e.x)
        up = dy > 0
        w += dr.select(cross & dr.select(up, c > 0, c < 0), dr.select(up, 1, -1), 0)
        j += 1
    return w


@dr.syntax
def _winding_dist_loop(px, py, e0, cnt, E, w0):
    import mitsuba as mi
    w = mi.Int32(w0)
    j = mi.UInt32(0)
    d2 = mi.Float(dr.inf)
    arg = mi.UInt32(0)
    while j < cnt:
        e = dr.gather(mi.Vector4f, E, e0 + j)
        cross = (e.y <= py) != (e.w <= py)
        dy = e.w - e.y
        dx = e.z - e.x
        xint = e.x + (py - e.y) * dx / dr.select(cross, dy, 1.0)
        w += dr.select(cross & (xint > px), dr.select(dy > 0, 1, -1), 0)
        l2 = dx * dx + dy * dy
        tt = dr.clip(((px - e.x) * dx + (py - e.y) * dy) / dr.maximum(l2, 1e-20), 0.0, 1.0)
        qx = px - e.x - tt * dx
        qy = py - e.y - tt * dy
        dd = qx * qx + qy * qy
        better = (dd < d2) & (e.x < 0.5 * STUB)  # stubs carry windings, not distances
        d2 = dr.select(better, dd, d2)
        arg = dr.select(better, e0 + j, arg)
        j += 1
    return w, d2, arg


def coverage(px, py, P: Pairs, bins_dev, prefilter=False):
    """Fill ``P.mask`` (and for prefilter mode the nearest-edge distance / index) for all pairs
    (``bins_dev``: :class:`.binning.DeviceBins`)."""
    import mitsuba as mi
    if P.n_pairs == 0:
        P.mask = mi.Bool()
        P.cov_pairs = mi.UInt32()
        P.cov_index = mi.UInt32()
        P.n_cov = 0
        return P
    i = dr.arange(mi.UInt32, P.n_pairs)
    t, q, c = decode_pairs(i, P)
    layer = dr.gather(mi.UInt32, bins_dev.cand_layer, c)
    e0 = dr.gather(mi.UInt32, bins_dev.cand_edge0, c)
    cnt = dr.gather(mi.UInt32, bins_dev.cand_count, c)
    x, y = dr.gather(mi.Float, px, q), dr.gather(mi.Float, py, q)
    w0 = dr.gather(mi.Int32, bins_dev.cand_w0, c)
    if prefilter:
        w, d2, arg = _winding_dist_loop(x, y, e0, cnt, bins_dev.edges, w0)
    else:
        w = winding(x, y, e0, cnt, bins_dev.edges, w0)
    evenodd = dr.gather(mi.Bool, bins_dev.layer_evenodd, layer)
    inside = dr.select(evenodd, (w & 1) != 0, w != 0)
    if prefilter:
        d = dr.sqrt(d2)
        sdf = dr.gather(mi.Bool, bins_dev.layer_sdf, layer)
        reach = dr.gather(mi.Float, bins_dev.layer_reach, layer)   # conservative: joins and caps
        cov = dr.select(sdf, reach - d + 0.5, dr.select(inside, d + 0.5, 0.5 - d))
        P.mask = cov > 0
        P.dmin, P.argmin, P.inside = d, arg, inside
    else:
        P.mask = inside
    dr.eval(P.mask)
    return _compact(P, dr.compress(P.mask))


def restore_coverage(P: Pairs, mask):
    """Fill ``P.mask`` and the compaction from ``mask``, the coverage that :func:`coverage` found
    for the same points and pairs earlier (area sampling), without evaluating any winding number
    again."""
    P.mask = mask
    return _compact(P, dr.compress(mask))


def _compact(P: Pairs, cov_pairs):
    """``P`` with its covered pairs ``cov_pairs`` (ascending) and each pair's slot among them."""
    import mitsuba as mi
    P.cov_pairs = cov_pairs
    P.n_cov = dr.width(cov_pairs)
    P.cov_index = dr.prefix_sum(mi.UInt32(dr.select(P.mask, 1, 0)))
    dr.eval(P.cov_index)
    return P


def paint(layer, x, y, theta, lay):
    """Straight-alpha RGBA of each covered pair's layer paint at canvas point (x, y) (AD through
    theta; ``lay``: :class:`.layers.LayerTable`)."""
    import mitsuba as mi
    has_gradients = lay.has_gradients
    ptype = dr.gather(mi.UInt32, lay.ptype, layer)
    cslot = dr.gather(mi.UInt32, lay.color, layer)
    col = [dr.gather(mi.Float, theta, cslot + k) for k in range(4)]
    if lay.shaders:
        col = shader_colours(layer, x, y, theta, lay, col)
    if not has_gradients:
        return col
    is_grad = (ptype == PAINT_LINEAR) | (ptype == PAINT_RADIAL)
    # gradient space: inverse of (shape matrix o gradient transform), per layer
    G = lay.inv  # 6 mi.Float per layer (attached)
    g = [dr.gather(mi.Float, G[k], layer) for k in range(6)]
    qx = g[0] * x + g[2] * y + g[4]
    qy = g[1] * x + g[3] * y + g[5]
    a_s = dr.gather(mi.UInt32, lay.a, layer)
    b_s = dr.gather(mi.UInt32, lay.b, layer)
    r_s = dr.gather(mi.UInt32, lay.r, layer)
    ax, ay = dr.gather(mi.Float, theta, a_s), dr.gather(mi.Float, theta, a_s + 1)
    bx, by = dr.gather(mi.Float, theta, b_s), dr.gather(mi.Float, theta, b_s + 1)
    # linear: a = start, b = end
    dx, dy = bx - ax, by - ay
    t_lin = ((qx - ax) * dx + (qy - ay) * dy) / dr.maximum(dx * dx + dy * dy, 1e-20)
    # radial: a = center, b = focal, r = radius (SVG two-point conical gradient with fr = 0)
    r = dr.gather(mi.Float, theta, r_s)
    ex, ey = qx - bx, qy - by
    cx, cy = ax - bx, ay - by
    A = cx * cx + cy * cy - r * r
    B = ex * cx + ey * cy
    C = ex * ex + ey * ey
    disc = dr.maximum(B * B - A * C, 0.0)
    t_rad = dr.select(dr.abs(A) > 1e-12 * dr.maximum(r * r, 1e-20),
                      (B - dr.sqrt(disc)) / dr.select(A != 0, A, 1.0), C / dr.maximum(2 * B, 1e-20))
    t = dr.select(ptype == PAINT_LINEAR, t_lin, t_rad)
    spread = dr.gather(mi.UInt32, lay.spread, layer)
    t_pad = t   # pad: the stop weights below saturate; the first stop paints t < 0 even when later stops share offset 0
    t_rep = t - dr.floor(t)
    t2 = t - 2.0 * dr.floor(0.5 * t)
    t_ref = dr.select(t2 > 1.0, 2.0 - t2, t2)
    t = dr.select(spread == 0, t_pad, dr.select(spread == 1, t_ref, t_rep))
    n = dr.gather(mi.UInt32, lay.nstops, layer)
    o_s = dr.gather(mi.UInt32, lay.offsets, layer)
    c_s = dr.gather(mi.UInt32, lay.colors, layer)
    gcol = [dr.gather(mi.Float, theta, c_s + k, is_grad) for k in range(4)]
    o_prev = dr.gather(mi.Float, theta, o_s, is_grad)
    for j in range(1, lay.max_stops):
        active = is_grad & (j < n)
        o_j = dr.gather(mi.Float, theta, o_s + j, active)
        span = o_j - o_prev
        wgt = dr.select(span > 1e-12, dr.clip((t - o_prev) / dr.select(span > 1e-12, span, 1.0), 0.0, 1.0),
                        dr.select(t >= o_j, 1.0, 0.0))
        wgt = dr.select(active, wgt, 0.0)
        cj = [dr.gather(mi.Float, theta, c_s + 4 * j + k, active) for k in range(4)]
        gcol = [gc + wgt * (cc - gc) for gc, cc in zip(gcol, cj)]
        o_prev = dr.select(active, o_j, o_prev)
    return [dr.select(is_grad, gc, cc) for gc, cc in zip(gcol, col)]


# --- compositing ----------------------------------------------------------------------------------
@dataclass
class PointSet:
    n_points: int
    tile: object          # mi.UInt32 per point
    P: Pairs


def _tile_info(q, t, P):
    import mitsuba as mi
    p0 = dr.gather(mi.UInt32, P.point_start, t)
    S = dr.gather(mi.UInt32, P.point_start, t + 1) - p0
    base = dr.gather(mi.UInt32, P.pair_base, t)
    c0 = dr.gather(mi.UInt32, P.cand_start, t)
    n = dr.gather(mi.UInt32, P.cand_start, t + 1) - c0
    return q - p0, S, base, n


@dr.syntax
def _composite_over(s, S, base, n, mask, cov_index, PR, PG, PB, PA, prev=None):
    """Source-over of each point's covered layers, bottom to top. With ``prev`` (4 arrays, one slot
    per covered pair) it also records the composite below each layer, which the derivative sweeps
    of :class:`Composite` need."""
    import mitsuba as mi
    r, g, b, a = mi.Float(0), mi.Float(0), mi.Float(0), mi.Float(0)
    record = prev is not None
    k = mi.UInt32(0)
    while k < n:
        pi = base + k * S + s
        m = dr.gather(mi.Bool, mask, pi)
        ci = dr.gather(mi.UInt32, cov_index, pi, m)
        if record:
            for dst, v in zip(prev, (r, g, b, a)):
                dr.scatter(dst, v, ci, m)
        pa = dr.gather(mi.Float, PA, ci, m)
        one_m = 1.0 - pa
        r = dr.select(m, dr.gather(mi.Float, PR, ci, m) + one_m * r, r)
        g = dr.select(m, dr.gather(mi.Float, PG, ci, m) + one_m * g, g)
        b = dr.select(m, dr.gather(mi.Float, PB, ci, m) + one_m * b, b)
        a = dr.select(m, pa + one_m * a, a)
        k += 1
    return r, g, b, a


@dr.syntax
def _composite_bwd(s, S, base, n, mask, cov_index, PA, prev0, prev1, prev2, prev3, g0, g1, g2, g3,
                   d0, d1, d2, d3):
    import mitsuba as mi
    T = mi.Float(1.0)
    k = mi.UInt32(n)
    while k > 0:
        k -= 1
        pi = base + k * S + s
        m = dr.gather(mi.Bool, mask, pi)
        ci = dr.gather(mi.UInt32, cov_index, pi, m)
        pa = dr.gather(mi.Float, PA, ci, m)
        gb = (g0 * dr.gather(mi.Float, prev0, ci, m) + g1 * dr.gather(mi.Float, prev1, ci, m)
              + g2 * dr.gather(mi.Float, prev2, ci, m) + g3 * dr.gather(mi.Float, prev3, ci, m))
        dr.scatter(d0, T * g0, ci, m)
        dr.scatter(d1, T * g1, ci, m)
        dr.scatter(d2, T * g2, ci, m)
        dr.scatter(d3, T * (g3 - gb), ci, m)
        T = dr.select(m, T * (1.0 - pa), T)
    return T


@dr.syntax
def _composite_fwd_ad(s, S, base, n, mask, cov_index, PA, prev0, prev1, prev2, prev3, t0, t1, t2, t3):
    import mitsuba as mi
    T = mi.Float(1.0)
    o0, o1, o2, o3 = mi.Float(0), mi.Float(0), mi.Float(0), mi.Float(0)
    k = mi.UInt32(n)
    while k > 0:
        k -= 1
        pi = base + k * S + s
        m = dr.gather(mi.Bool, mask, pi)
        ci = dr.gather(mi.UInt32, cov_index, pi, m)
        pa = dr.gather(mi.Float, PA, ci, m)
        da = dr.gather(mi.Float, t3, ci, m)
        o0 = dr.select(m, o0 + T * (dr.gather(mi.Float, t0, ci, m) - dr.gather(mi.Float, prev0, ci, m) * da), o0)
        o1 = dr.select(m, o1 + T * (dr.gather(mi.Float, t1, ci, m) - dr.gather(mi.Float, prev1, ci, m) * da), o1)
        o2 = dr.select(m, o2 + T * (dr.gather(mi.Float, t2, ci, m) - dr.gather(mi.Float, prev2, ci, m) * da), o2)
        o3 = dr.select(m, o3 + T * (da - dr.gather(mi.Float, prev3, ci, m) * da), o3)
        T = dr.select(m, T * (1.0 - pa), T)
    return o0, o1, o2, o3


class Composite(dr.CustomOp):
    """Source-over compositing of each point's covered layers (premultiplied RGBA in, out).

    Derivatives: with B_k the composite of the layers below k and T_k the transmittance of the
    layers above, d out / d P_k = T_k and d out / d a_k = -T_k B_{k-1} (plus the alpha channel's
    own T_k), evaluated by a reverse sweep over each point's layers (no AD tape in the loop)."""

    def eval(self, PR, PG, PB, PA, ps):
        import mitsuba as mi
        self.ps = ps
        self.PA = PA
        P = ps.P
        q = dr.arange(mi.UInt32, ps.n_points)
        self.info = _tile_info(q, ps.tile, P)
        self.prev = [dr.zeros(mi.Float, P.n_cov) for _ in range(4)]
        out = _composite_over(*self.info, P.mask, P.cov_index, PR, PG, PB, PA, self.prev)
        dr.eval(out, self.prev)
        return mi.Vector4f(*out)

    def forward(self):
        import mitsuba as mi
        n = self.ps.P.n_cov
        dP = []
        for k in ("PR", "PG", "PB", "PA"):
            d = self.grad_in(k)
            dP.append(d if dr.width(d) == n else dr.zeros(mi.Float, n) + d)
        out = _composite_fwd_ad(*self.info, self.ps.P.mask, self.ps.P.cov_index, self.PA, *self.prev, *dP)
        self.set_grad_out(mi.Vector4f(*out))

    def backward(self):
        import mitsuba as mi
        g = self.grad_out()
        n = self.ps.P.n_cov
        grads = [dr.zeros(mi.Float, n) for _ in range(4)]
        _composite_bwd(*self.info, self.ps.P.mask, self.ps.P.cov_index, self.PA, *self.prev,
                       g.x, g.y, g.z, g.w, *grads)
        for k, v in zip(("PR", "PG", "PB", "PA"), grads):
            self.set_grad_in(k, v)

    def name(self):
        return "penumbra.vector.Composite"


def composite(PR, PG, PB, PA, ps: PointSet, differentiable=True):
    import mitsuba as mi
    if ps.P.n_cov == 0:
        return mi.Vector4f(dr.zeros(mi.Float, ps.n_points))
    if differentiable and dr.grad_enabled(PR, PG, PB, PA):
        return dr.custom(Composite, PR, PG, PB, PA, ps)
    q = dr.arange(mi.UInt32, ps.n_points)
    info = _tile_info(q, ps.tile, ps.P)
    out = _composite_over(*info, ps.P.mask, ps.P.cov_index, dr.detach(PR), dr.detach(PG), dr.detach(PB),
                           dr.detach(PA))
    return mi.Vector4f(*out)


@dr.syntax
def _jump_over(s, S, base, n, mask, union, cov_index, own_k, PR, PG, PB, PA):
    """One sweep over a point's candidates: composite ``B`` of the covered layers below the owner
    (candidate ``own_k``), transmittance ``T`` of those above it, and the owner's colour."""
    import mitsuba as mi
    r, g, b, a = mi.Float(0), mi.Float(0), mi.Float(0), mi.Float(0)
    o0, o1, o2, o3 = mi.Float(0), mi.Float(0), mi.Float(0), mi.Float(0)
    T = mi.Float(1)
    k = mi.UInt32(0)
    while k < n:
        pi = base + k * S + s
        u = dr.gather(mi.Bool, union, pi)
        m = dr.gather(mi.Bool, mask, pi, u)
        ci = dr.gather(mi.UInt32, cov_index, pi, u)
        pr, pg, pb = dr.gather(mi.Float, PR, ci, u), dr.gather(mi.Float, PG, ci, u), dr.gather(mi.Float, PB, ci, u)
        pa = dr.gather(mi.Float, PA, ci, u)
        below = m & (k < own_k)
        r = dr.select(below, pr + (1.0 - pa) * r, r)
        g = dr.select(below, pg + (1.0 - pa) * g, g)
        b = dr.select(below, pb + (1.0 - pa) * b, b)
        a = dr.select(below, pa + (1.0 - pa) * a, a)
        T = dr.select(m & (k > own_k), T * (1.0 - pa), T)
        own = u & (k == own_k)
        o0, o1, o2, o3 = dr.select(own, pr, o0), dr.select(own, pg, o1), dr.select(own, pb, o2), dr.select(own, pa, o3)
        k += 1
    return r, g, b, a, T, o0, o1, o2, o3


def jump(PR, PG, PB, PA, ps: PointSet, mask_minus, own_k, cov_minus, cov_plus):
    """Premultiplied colour jump ``f(p-) - f(p+)`` where only the owner layer's coverage differs
    between the two sides: covering the owner changes the composite by ``T (c - a B)``."""
    import mitsuba as mi
    q = dr.arange(mi.UInt32, ps.n_points)
    info = _tile_info(q, ps.tile, ps.P)
    r, g, b, a, T, o0, o1, o2, o3 = _jump_over(*info, mask_minus, ps.P.mask, ps.P.cov_index, own_k,
                                               PR, PG, PB, PA)
    sgn = dr.select(cov_minus, 1.0, 0.0) - dr.select(cov_plus, 1.0, 0.0)
    w = sgn * T
    return [w * (o0 - o3 * r), w * (o1 - o3 * g), w * (o2 - o3 * b), w * (o3 - o3 * a)]


@dr.syntax
def _last_covered(s, S, base, n, mask, cov_index):
    """Slot (among covered pairs) of each point's last covered candidate, or 0xFFFFFFFF."""
    import mitsuba as mi
    last = mi.UInt32(0xFFFFFFFF)
    k = mi.UInt32(0)
    while k < n:
        pi = base + k * S + s
        m = dr.gather(mi.Bool, mask, pi)
        last = dr.select(m, dr.gather(mi.UInt32, cov_index, pi, m), last)
        k += 1
    return last


def isolate(vals, P: Pairs, tile, cand_layer, theta, iso, differentiable=True):
    """SVG group opacity: each :class:`.compile.OpacityNode` of ``iso`` (innermost first; slots and
    layers of the batch) is composited on its own (source-over of its layers from transparent),
    and the result, times the node's opacity ``o``, replaces the node's layers in the parent
    composite: it is put on the node's last covered pair of each point, the node's other pairs
    become transparent no-ops. ``vals``: premultiplied RGBA per covered pair of ``P``."""
    if not iso or P.n_cov == 0:
        return vals
    import mitsuba as mi
    n_points = dr.width(tile)
    _, _, c_all = decode_pairs(dr.arange(mi.UInt32, P.n_pairs), P)
    layer_all = dr.gather(mi.UInt32, cand_layer, c_all)
    _, q_cov, c_cov = decode_pairs(P.cov_pairs, P)
    layer_cov = dr.gather(mi.UInt32, cand_layer, c_cov)
    info = _tile_info(dr.arange(mi.UInt32, n_points), tile, P)
    vals = list(vals)
    mask_values = {}   # layer range of a mask's content -> its mask value per point
    for node in iso:
        o_idx, lo, hi = node.slot, node.lo, node.hi
        mask = P.mask & (layer_all >= lo) & (layer_all < hi)
        dr.eval(mask)
        G = Pairs(P.n_tiles, P.point_start, P.pair_base, P.cand_start, P.n_pairs, mask, P.cov_pairs, P.cov_index,
                  P.n_cov, pair_tile=P.pair_tile)
        group = composite(*vals, PointSet(n_points, tile, G), differentiable)
        inside = (layer_cov >= lo) & (layer_cov < hi)
        o = dr.gather(mi.Float, theta if differentiable else dr.detach(theta), upload(mi.UInt32, o_idx))
        f = clip_mask_factor(node, P, layer_all, info, mask_values, n_points)
        if node.kind == "mask":   # mask content: its value per point, its layers not drawn
            v = group.w if node.mask_alpha else 0.2125 * group.x + 0.7154 * group.y + 0.0721 * group.z
            mask_values[(lo, hi)] = o * v if f is None else o * f * v
            vals = [dr.select(inside, 0.0, v) for v in vals]
            dr.eval(vals, mask_values[(lo, hi)])
            continue
        scale = o if f is None else o * dr.gather(mi.Float, f, q_cov)
        rep_slot = _last_covered(*info, mask, P.cov_index)
        rep = dr.zeros(mi.Bool, P.n_cov)
        dr.scatter(rep, True, rep_slot, rep_slot != 0xFFFFFFFF)
        vals = [dr.select(rep, scale * dr.gather(mi.Float, g, q_cov), dr.select(inside, 0.0, v))
                for g, v in zip((group.x, group.y, group.z, group.w), vals)]
        dr.eval(vals)
    return vals


def clip_mask_factor(node, P: Pairs, layer_all, info, mask_values, n_points):
    """Per point, the product of a node's clip coverages (1 where any layer of a clip range is
    covered, else 0: the clip shapes' union, each with its fill rule) and its mask value (from
    ``mask_values``, filled when the mask's content node was composited; 0 for an empty mask), or
    ``None`` for a node without clip or mask. Clip coverage is piecewise constant: the derivatives
    of clip edges come from the boundary term, which sees the factor change across them."""
    if not node.clips and node.mask is None:
        return None
    import mitsuba as mi
    f = dr.full(mi.Float, 1.0, n_points)
    for clo, chi in node.clips:
        m = P.mask & (layer_all >= clo) & (layer_all < chi)
        last = _last_covered(*info, m, P.cov_index)
        f = dr.select(last != 0xFFFFFFFF, f, 0.0)
    if node.mask is not None:
        f = f * mask_values.get(tuple(node.mask), dr.zeros(mi.Float, n_points))
    return f


def winding_at(x, y, e0, cnt, edges_flat):
    """Winding numbers at a few points (NumPy in and out), e.g. tile centres."""
    import mitsuba as mi
    w = winding(upload(mi.Float, x), upload(mi.Float, y), upload(mi.UInt32, e0), upload(mi.UInt32, cnt), edges_flat,
                upload(mi.Int32, np.zeros(len(x))))
    return np.array(w, dtype=np.int64)
