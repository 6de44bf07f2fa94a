"""Prefiltered coverage (``filter="prefilter"``): one sample at the pixel centre with analytic
coverage ``clip(0.5 + signed distance)`` (diffvg's prefiltering, Li et al. 2020 Sec. 4.2),
continuous in the parameters so that its gradients come from AD alone. Fills measure the distance
to their outline; strokes the distance to their centre-line pieces, within the half width (scaled
by the transform's area factor), shaped beyond the pieces' ends by the SVG joins and caps."""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload

from .tessellate import END_BEVEL, END_BUTT, END_MITER, END_SQUARE, JOIN_FLAG


@dataclass(frozen=True)
class PrefilterStrokes:
    """Per layer of the batch: which layers are prefiltered strokes and their half widths."""
    sdf: np.ndarray          # (L,) bool: a stroke (coverage from the distance to its pieces)
    half: np.ndarray         # (L,) half width in canvas pixels (detached)
    reach: np.ndarray        # (L,) how far the stroke reaches beyond its pieces (miter tips, square caps)
    miter_limit: np.ndarray  # (L,)
    half_ad: object          # mi.Float (L,) half width, attached to theta


@dataclass(frozen=True)
class PieceEnds:
    """Per edge (prefiltered stroke piece): what each end is (END_* kind, + JOIN_FLAG when joined)
    and the neighbouring piece there."""
    end0: object             # mi.UInt32 (E,)
    end1: object
    nb0: object
    nb1: object


def prefilter_strokes(items, theta, n_layers: int, prefilter: bool) -> PrefilterStrokes:
    """:class:`PrefilterStrokes` of batch ``items`` (``comp``, ``theta``, ``geom`` each) over the
    batch parameter vector ``theta``; all-zero (no prefiltered strokes) unless ``prefilter``."""
    import mitsuba as mi
    L = n_layers
    sdf, half, reach, mlim = np.zeros(L, bool), np.zeros(L), np.zeros(L), np.ones(L)
    if not prefilter:
        return PrefilterStrokes(sdf, half, reach, mlim, mi.Float())
    off, shift = 0, 0
    wslot, wscale = np.zeros(L, np.int64), np.zeros(L)
    for it in items:
        comp, values_np = it.comp, it.theta.values_np
        for li, layer in enumerate(comp.layers):
            if layer.kind == "stroke":
                sh = comp.shapes[layer.shape]
                sdf[off + li] = True
                s = it.geom.matrices_np[layer.shape]
                wscale[off + li] = 0.5 * np.sqrt(abs(s[0] * s[3] - s[1] * s[2]))
                wslot[off + li] = shift + comp.width_slot[layer.shape]
                half[off + li] = wscale[off + li] * values_np[comp.width_slot[layer.shape]]
                mlim[off + li] = sh.miter_limit
                ext = max(1.0, sh.miter_limit if sh.join == "miter" else 1.0, np.sqrt(2) if sh.cap == "square" else 1.0)
                reach[off + li] = half[off + li] * ext
        off += len(comp.layers)
        shift += dr.width(it.theta.values)
    width = dr.gather(mi.Float, theta, upload(mi.UInt32, wslot)) * upload(mi.Float, wscale)
    return PrefilterStrokes(sdf, half, reach, mlim, width)


def piece_ends(edge_end: np.ndarray, edge_nb: np.ndarray) -> PieceEnds:
    import mitsuba as mi
    return PieceEnds(upload(mi.UInt32, edge_end[:, 0]), upload(mi.UInt32, edge_end[:, 1]),
                     upload(mi.UInt32, edge_nb[:, 0]), upload(mi.UInt32, edge_nb[:, 1]))


def prefiltered_alpha(a, x, y, layer, P, dev, edges, strokes: PrefilterStrokes, ends: PieceEnds, differentiable):
    """Alpha ``a`` of covered pairs of ``P`` at ``(x, y)`` times their analytic coverage
    ``clip(0.5 - signed distance)`` (``dev``: :class:`.binning.DeviceBins`, ``edges``: the
    batch's :class:`.batch.SceneEdges`)."""
    import mitsuba as mi
    ei = dr.gather(mi.UInt32, dev.edge_id, dr.gather(mi.UInt32, P.argmin, P.cov_pairs))
    ex0, ey0 = dr.gather(mi.Float, edges.x0, ei), dr.gather(mi.Float, edges.y0, ei)
    ex1, ey1 = dr.gather(mi.Float, edges.x1, ei), dr.gather(mi.Float, edges.y1, ei)
    if not differentiable:
        ex0, ey0, ex1, ey1 = map(dr.detach, (ex0, ey0, ex1, ey1))
    dx, dy = ex1 - ex0, ey1 - ey0
    t_raw = ((x - ex0) * dx + (y - ey0) * dy) / dr.maximum(dx * dx + dy * dy, 1e-20)
    tt = dr.clip(t_raw, 0.0, 1.0)
    d = dr.sqrt(dr.square(x - ex0 - tt * dx) + dr.square(y - ey0 - tt * dy))
    sdf = dr.gather(mi.Bool, dev.layer_sdf, layer)
    half = dr.gather(mi.Float, strokes.half_ad if differentiable else dr.detach(strokes.half_ad), layer)
    sd = stroke_signed_distance(x, y, ex0, ey0, dx, dy, t_raw, d, half, ei,
                                dr.gather(mi.Float, upload(mi.Float, strokes.miter_limit), layer), ends, edges,
                                differentiable)
    cov = dr.select(sdf, 0.5 - sd, dr.select(dr.gather(mi.Bool, P.inside, P.cov_pairs), d + 0.5, 0.5 - d))
    # candidates of edge-free tiles (constant winding) have no nearest edge: fully covered
    has_edge = dr.isfinite(dr.gather(mi.Float, P.dmin, P.cov_pairs))
    return a * dr.select(has_edge, dr.clip(cov, 0.0, 1.0), 1.0)


def stroke_signed_distance(x, y, ex0, ey0, dx, dy, t_raw, d, half, ei, mlim, ends: PieceEnds, edges, differentiable):
    """Signed distance to a prefiltered stroke whose nearest centre-line piece is ``ei``: ``d - half``
    along the piece; beyond an end of it, the SVG join with the neighbouring piece (miter within
    the miter limit: the two offset lines; bevel: the chord between them; round) or the cap (butt:
    the end line, square: half a width further, round)."""
    import mitsuba as mi
    at0 = t_raw <= 0.0
    beyond = at0 | (t_raw >= 1.0)
    k = dr.select(at0, dr.gather(mi.UInt32, ends.end0, ei), dr.gather(mi.UInt32, ends.end1, ei))
    k = dr.select(beyond, k, 0)
    kind, joined = k & (JOIN_FLAG - 1), (k & JOIN_FLAG) != 0
    vx, vy = dr.select(at0, ex0, ex0 + dx), dr.select(at0, ey0, ey0 + dy)
    l2 = dx * dx + dy * dy
    has_dir = l2 > 1e-20
    ln = dr.sqrt(dr.select(has_dir, l2, 1.0))
    ux, uy = dr.select(has_dir, dx / ln, 1.0), dr.select(has_dir, dy / ln, 0.0)   # zero length: user x axis
    px, py = x - vx, y - vy
    along, across = px * ux + py * uy, -px * uy + py * ux
    out = dr.select(at0, -along, along)
    side = dr.maximum(dr.abs(across) - half, out)
    sd_cap = dr.select(kind == END_BUTT, side, dr.maximum(dr.abs(across) - half, dr.select(
        has_dir, out, dr.abs(along)) - half))
    # the neighbour piece at this end (the same travel direction through the vertex)
    nb = dr.select(at0, dr.gather(mi.UInt32, ends.nb0, ei), dr.gather(mi.UInt32, ends.nb1, ei))
    nx0, ny0, nx1, ny1 = (dr.gather(mi.Float, v if differentiable else dr.detach(v), nb)
                          for v in (edges.x0, edges.y0, edges.x1, edges.y1))
    ndx, ndy = nx1 - nx0, ny1 - ny0
    nl = dr.sqrt(dr.maximum(ndx * ndx + ndy * ndy, 1e-20))
    wx, wy = ndx / nl, ndy / nl
    # outer side of the turn (incoming x outgoing direction; at a start the neighbour comes first)
    turn = ux * wy - uy * wx
    sgn = dr.select(dr.select(at0, -turn, turn) > 0, -1.0, 1.0)
    ax, ay, bx, by = -sgn * uy, sgn * ux, -sgn * wy, sgn * wx         # outer offset normals
    sd_miter = dr.maximum(px * ax + py * ay, px * bx + py * by) - half
    mx, my = ax + bx, ay + by
    mn = dr.sqrt(dr.maximum(mx * mx + my * my, 1e-20))
    mx, my = mx / mn, my / mn
    sd_bevel = px * mx + py * my - half * (ax * mx + ay * my)
    cos_turn = ux * wx + uy * wy
    miter_ok = dr.rsqrt(dr.maximum(0.5 * (1.0 + cos_turn), 1e-30)) <= mlim
    sd_join = dr.select((kind == END_MITER) & miter_ok, sd_miter,
                        dr.select((kind == END_MITER) | (kind == END_BEVEL), sd_bevel, d - half))
    return dr.select((kind == END_BUTT) | (kind == END_SQUARE), sd_cap, dr.select(joined, sd_join, d - half))
